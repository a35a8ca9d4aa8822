"""Where the lab keeps its files: everything large lives under data/, ignored by git."""

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """The data folder; LAB_DATA_DIR moves it (tests use a temporary one for databases)."""
    return Path(os.environ.get("LAB_DATA_DIR", REPO_ROOT / "data"))


def default_db_path() -> Path:
    return data_dir() / "lab.duckdb"


def models_dir() -> Path:
    """Converted model weights; shared by every data dir so tests don't convert twice."""
    return Path(os.environ.get("LAB_MODELS_DIR", REPO_ROOT / "data" / "models"))


def write_atomic(path: Path, text: str) -> None:
    """Readers never see half a file: write a temporary file, then rename it over the old one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)

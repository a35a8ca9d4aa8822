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


def model_roots() -> list[Path]:
    """Folders the app may load models from: the converted default model's folder and the
    data folder, or the folders LAB_MODEL_ROOTS lists (separated by ':')."""
    listed = os.environ.get("LAB_MODEL_ROOTS")
    if listed:
        return [Path(p).expanduser() for p in listed.split(os.pathsep) if p]
    return [models_dir(), data_dir()]


def confined(path: str | Path, what: str, roots: list[Path] | None = None) -> Path:
    """`path` resolved inside one of `roots` (default: the data folder), where a relative path
    starts; anything that leaves them (.., an absolute path elsewhere, a link out) is a
    LabError. The app passes every path a browser user types through this; the command line,
    run by the machine's own user, does not."""
    from core.errors import LabError
    roots = [r.resolve() for r in (roots or [data_dir()])]
    given = Path(str(path).strip()).expanduser()
    resolved = (given if given.is_absolute() else roots[0] / given).resolve()
    if not any(resolved == root or root in resolved.parents for root in roots):
        places = " or ".join(str(r) for r in roots)
        raise LabError(f"{what} must be inside {places}; '{path}' is not")
    return resolved

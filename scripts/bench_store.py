"""How much holding one DuckDB connection saves (`Store.connection()`): a study's bookkeeping
(`study_records` over 18 runs) and a page's tables (`load_tables`), timed with one connection
per call, as before, and with one held, alternating in one process.

    .venv/bin/python scripts/bench_store.py
"""

import contextlib
import dataclasses
import pathlib
import sys
import tempfile
import time

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from core.lm import models  # noqa: E402
from core.methods.finetune import FTConfig  # noqa: E402
from core.results import analysis  # noqa: E402
from core.running import study  # noqa: E402
from core.running.runner import run_all  # noqa: E402
from core.storage.store import Store  # noqa: E402


@contextlib.contextmanager
def one_per_call(self):
    """Holds nothing: every call inside opens its own connection, as before."""
    yield None


def seconds(call, repeats: int = 5) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        call()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    torch.set_num_threads(1)
    db = pathlib.Path(tempfile.mkdtemp()) / "bench.duckdb"
    specs = [dataclasses.replace(s, ft=FTConfig(max_steps=1))
             for s in study.study_specs(["reversals"], [0, 1, 2], "tiny", ["oracle"])]
    store = Store(db)
    run_all(specs, store, lm_cache={"tiny": models.load("tiny")})
    held = Store.connection
    for _ in range(3):
        figures = {}
        for mode, connection in (("per call", one_per_call), ("held", held)):
            Store.connection = connection
            figures[mode] = (seconds(lambda: study.study_records(store, specs)),
                             seconds(lambda: analysis.load_tables(Store(db, read_only=True))))
        Store.connection = held
        (records, tables), (records_held, tables_held) = figures["per call"], figures["held"]
        print(f"study_records ({len(specs)} runs) {records:.3f} -> {records_held:.3f} s, "
              f"load_tables {tables:.3f} -> {tables_held:.3f} s")


if __name__ == "__main__":
    main()

"""Shared fixtures: every test runs with its own data folder (LAB_DATA_DIR), so no test
touches data/ and no job it launched outlives it; models load once per session.

The suite runs on one worker per core (pytest-xdist, `-n auto` in pyproject.toml; `-n 0` for
one process), each file on one worker, the slowest files first so none is left running alone
at the end; each worker's torch gets its share of the cores, so two workers never fight over
one."""

import fcntl
import os
from contextlib import contextmanager

import pytest

from core.lm import models
from core.queue import jobs
from core.running import hardware

# The GPU's own tests run where there is one (scripts/gpu_check.sh); elsewhere they are not
# collected at all, so a suite on a CPU skips nothing.
collect_ignore = [] if models.torch.cuda.is_available() else ["test_cuda_graphs.py"]

# The longest files (`pytest --durations`), started first; the rest follow in file order. A
# worker is handed two files at the start: the longest one and the third (shorter) go together.
SLOWEST_FIRST = ["test_science_local.py", "test_science.py", "test_ray.py",
                 "test_science_family.py", "test_science_kinds.py", "test_processes.py",
                 "test_e2e_browser.py", "test_jobs.py", "test_app.py", "test_bench.py",
                 "test_study.py", "test_pipeline.py"]
# The first seven: the science on the default model (fine-tuning it), a real browser, Ray and
# worker processes, three fifths of the suite's time. Marked `slow`, so that `-m "not slow"`
# gives a developer the rest in a few minutes; the whole suite is still the one CI runs.
SLOW = set(SLOWEST_FIRST[:7])

CORES = len(os.sched_getaffinity(0))
if workers := int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0")):
    models.torch.set_num_threads(max(1, CORES // workers))


# This machine's speed when the suite starts and when it ends: shared machines of one kind run
# the same suite in 4.8 or 9 minutes from one hour to the next, and a time means little
# without the rate beside it (docs/performance.md). Measured in the process that prints the
# summary (not in xdist's workers), while the workers are not yet started or already done.
MACHINE_RATES: dict[str, float] = {}  # GFLOP/s of float32 on all the cores


def _measure_rate(when: str) -> None:
    MACHINE_RATES[when] = hardware.matmul_rate(seconds=0.5, threads=CORES) / 1e9


def pytest_configure(config):
    if not os.environ.get("PYTEST_XDIST_WORKER") and not config.option.collectonly:
        _measure_rate("start")


def pytest_terminal_summary(terminalreporter):
    if "start" not in MACHINE_RATES:
        return
    _measure_rate("end")
    machine = hardware.describe()
    terminalreporter.write_line(
        f"machine: {machine['cpu']}, {machine['isa']}, {CORES} cores; "
        f"float32 matrix multiply on them {MACHINE_RATES['start']:.0f} GFLOP/s at the start, "
        f"{MACHINE_RATES['end']:.0f} at the end (the suite's time follows it: "
        "docs/performance.md)")


def pytest_collection_modifyitems(items):
    for item in items:
        if item.path.name in SLOW:
            item.add_marker(pytest.mark.slow)
    rank = {name: position for position, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: file order kept


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_DATA_DIR", str(tmp_path))
    yield tmp_path
    for job in jobs.list_jobs():  # never leave a process behind
        if job["state"] in jobs.ACTIVE:
            jobs.cancel(job["job_id"])


@contextmanager
def queue_held():
    """Hold the queue lock, as a running job does: jobs launched meanwhile stay queued."""
    with open(jobs.jobs_dir() / "queue.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@pytest.fixture
def store(tmp_path):
    """A database filled with plausible runs (tests/test_app.py's `fill`)."""
    from test_app import fill

    from core.storage.store import Store
    return Store(fill(tmp_path / "lab.duckdb"))


@pytest.fixture
def tables(store):
    from core.results import analysis
    return analysis.load_tables(store)


@pytest.fixture(scope="session")
def default_lm():
    return models.load("default")


@pytest.fixture(scope="session")
def tiny_lm():
    return models.load("tiny")

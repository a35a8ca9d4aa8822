"""Sweeps on worker processes of this machine (core/running/process_executor.py): the same runs
store the same rows as the local executor, a killed worker fails only the run it was on (the
rest of its world goes to a fresh worker), and a bad worker count is refused up front."""

import dataclasses
import multiprocessing
import os
import signal

import pytest
import torch

from core.errors import LabError
from core.methods.config import FTConfig
from core.running.executors import run_specs
from core.running.process_executor import run_on_processes
from core.running.runner import run_all
from core.running.study import study_specs
from core.storage.store import Store

QUICK = FTConfig(max_steps=2)


def _rows(store: Store) -> list[tuple]:
    table = store.query(
        "SELECT r.method, r.seed, r.aug_source, r.status, m.split, m.correct, m.n "
        "FROM runs r JOIN metrics m USING (run_id) ORDER BY ALL")
    return [tuple(row) for row in table.itertuples(index=False)]


def test_a_three_seed_sweep_on_two_workers_stores_what_the_local_executor_stores(tmp_path,
                                                                                 tiny_lm):
    specs = [dataclasses.replace(spec, ft=QUICK)
             for spec in study_specs(["reversals"], [0, 1, 2], "tiny", ["oracle"])
             if spec.method in ("pretrained", "icl", "ft", "ft_local")]
    here, there = Store(tmp_path / "local.duckdb"), Store(tmp_path / "workers.duckdb")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in each of two workers on two cores: the same sums
    try:
        run_all(specs, here, lm_cache={"tiny": tiny_lm})
    finally:
        torch.set_num_threads(threads)
    phases = set()
    done = run_on_processes(specs, there, progress=lambda p, f, m: phases.add(p), workers=2)
    assert len(done) == len(specs) == 12
    assert _rows(there) == _rows(here) and len(_rows(here)) == 24  # two splits a run
    assert {"train", "evaluate"} <= phases  # the workers' progress reached this process
    assert set(there.query("SELECT status FROM runs")["status"]) == {"complete"}
    assert multiprocessing.active_children() == []  # every worker stopped


def test_a_killed_worker_fails_only_its_run_and_a_fresh_worker_does_the_rest(tmp_path):
    store = Store(tmp_path / "lab.duckdb")
    seed_one = study_specs(["reversals"], [1], "tiny", ["oracle"])
    victim = dataclasses.replace(seed_one[2], ft=FTConfig(max_steps=100_000))  # still training
    after = seed_one[0]  # the same world, queued behind the victim on the same worker
    other = study_specs(["reversals"], [0], "tiny", ["oracle"])[0]
    assert (victim.method, after.method, other.method) == ("ft", "pretrained", "pretrained")
    killed = []

    def progress(phase, fraction, message):
        if phase == "train" and not killed:
            (worker,) = multiprocessing.active_children()  # one worker: the one training
            os.kill(worker.pid, signal.SIGKILL)
            killed.append(worker.pid)

    errors = {}
    done = run_on_processes([victim, after, other], store, progress,
                            on_result=lambda r, s, e: errors.setdefault((s.method, s.seed), e),
                            workers=1)
    assert len(killed) == 1 and sorted(r.spec.seed for r in done) == [0, 1]
    runs = store.query("SELECT method, seed, status, error FROM runs ORDER BY method, seed")
    assert runs["status"].tolist() == ["failed", "complete", "complete"]
    assert "worker process running this run died" in runs["error"][0]
    assert errors == {("ft", 1): runs["error"][0], ("pretrained", 1): None,
                      ("pretrained", 0): None}
    assert multiprocessing.active_children() == []


def test_the_command_line_offers_worker_processes():
    from core.__main__ import parser
    for command in (["run", "--methods", "ft"], ["study"]):
        parsed = parser().parse_args([*command, "--executor", "processes", "--workers", "3"])
        assert (parsed.executor, parsed.workers) == ("processes", 3)


def test_no_workers_is_refused_before_any_run_begins(tmp_path):
    store = Store(tmp_path / "lab.duckdb")
    with pytest.raises(LabError, match="--workers must be at least 1"):
        run_specs(study_specs(["reversals"], [0], "tiny", ["oracle"])[:1], store,
                  executor="processes", workers=0)
    assert store.query("SELECT count(*) AS n FROM runs")["n"][0] == 0


@pytest.mark.parametrize("setting", ["0", "0.5", "many"])
def test_a_bad_worker_count_in_the_environment_is_refused_before_any_run_begins(
        tmp_path, monkeypatch, setting):
    monkeypatch.setenv("LAB_WORKERS", setting)
    store = Store(tmp_path / "lab.duckdb")
    with pytest.raises(LabError, match="LAB_WORKERS must be a whole number"):
        run_specs(study_specs(["reversals"], [0], "tiny", ["oracle"])[:1], store,
                  executor="processes")
    assert store.query("SELECT count(*) AS n FROM runs")["n"][0] == 0

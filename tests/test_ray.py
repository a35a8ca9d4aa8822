"""Sweeps on Ray (core/running/ray_executor.py), on a local Ray started on loopback for this
module and stopped after it: the same runs store the same rows as the local executor, and a
worker killed mid-run fails only its own run."""

import dataclasses
import os
import signal

import pytest
import torch

from core.methods.config import FTConfig
from core.running import ray_executor
from core.running.runner import run_all
from core.running.study import study_specs
from core.storage.store import Store

ray = pytest.importorskip("ray")  # an optional install; requirements.lock pins it for the tests
QUICK = FTConfig(max_steps=2)


@pytest.fixture(scope="module")
def local_ray():
    assert ray_executor.connect()  # started here, so stopped here
    yield
    ray.shutdown()


def _rows(store: Store) -> list[tuple]:
    table = store.query(
        "SELECT r.method, r.seed, r.aug_source, r.status, m.split, m.correct, m.n "
        "FROM runs r JOIN metrics m USING (run_id) ORDER BY ALL")
    return [tuple(row) for row in table.itertuples(index=False)]


def test_a_three_seed_sweep_on_ray_stores_what_the_local_executor_stores(local_ray, tmp_path,
                                                                         tiny_lm):
    specs = [dataclasses.replace(spec, ft=QUICK)
             for spec in study_specs(["reversals"], [0, 1, 2], "tiny", ["oracle"])
             if spec.method in ("pretrained", "icl", "ft", "ft_local")]
    here, there = Store(tmp_path / "local.duckdb"), Store(tmp_path / "ray.duckdb")
    # One torch thread here as in each task: sums split across threads differently could flip
    # a near tie between two choices of the random tiny model.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run_all(specs, here, lm_cache={"tiny": tiny_lm})
    finally:
        torch.set_num_threads(threads)
    phases, workers = set(), []
    done = ray_executor.run_on_ray(specs, there, progress=lambda p, f, m: phases.add(p),
                                   on_start=lambda spec, run_id, pid: workers.append(pid))
    assert len(done) == len(specs) == 12
    # Workers are reused: when Ray killed each idle one, every run paid a fresh process
    # (9 processes for 12 runs, 2.1 times the sweep's time on 2 cores).
    assert len(set(workers)) <= len(specs) // 2, workers
    assert _rows(there) == _rows(here) and len(_rows(here)) == 24  # two splits a run
    assert {"train", "evaluate"} <= phases  # the tasks' progress reached the driver
    assert set(there.query("SELECT status FROM runs")["status"]) == {"complete"}


def test_a_killed_worker_fails_only_its_own_run(local_ray, tmp_path):
    store = Store(tmp_path / "lab.duckdb")
    victim = dataclasses.replace(study_specs(["reversals"], [1], "tiny", ["oracle"])[2],
                                 ft=FTConfig(max_steps=100_000))  # still training when killed
    others = [s for s in study_specs(["reversals"], [0], "tiny", ["oracle"])
              if s.method == "pretrained"]
    assert victim.method == "ft"
    killed = []

    def on_start(spec, run_id, pid):
        if spec is victim:
            os.kill(pid, signal.SIGKILL)
            killed.append(run_id)

    errors = {}
    done = ray_executor.run_on_ray([victim, *others], store, on_start=on_start,
                                   on_result=lambda r, s, e: errors.setdefault(s.method, e))
    assert [r.spec for r in done] == others and len(killed) == 1
    runs = store.query("SELECT run_id, method, status, error FROM runs ORDER BY method")
    assert runs["status"].tolist() == ["failed", "complete"]
    assert runs["run_id"][0] == killed[0] and "worker running this run died" in runs["error"][0]
    assert errors == {"ft": runs["error"][0], "pretrained": None}


def test_the_app_and_the_command_line_choose_ray_the_same_way():
    from core.__main__ import parser
    from core.queue.experiment import Experiment
    from core.running.spec import RunSpec
    args = Experiment([RunSpec(method="ft", model="tiny")], [0], executor="ray").run_args(0)
    assert args[args.index("--executor") + 1] == "ray"
    assert parser().parse_args(["run", *args]).executor == "ray"


def test_a_task_no_node_could_take_is_refused_before_any_run_begins(local_ray, tmp_path,
                                                                     monkeypatch):
    from core.errors import LabError
    monkeypatch.setenv("LAB_RAY_CPUS_PER_RUN", "64")
    store = Store(tmp_path / "lab.duckdb")
    with pytest.raises(LabError, match="LAB_RAY_CPUS_PER_RUN is 64"):
        ray_executor.run_on_ray(study_specs(["reversals"], [0], "tiny", ["oracle"])[:2], store)
    assert store.query("SELECT count(*) AS n FROM runs")["n"][0] == 0  # nothing left 'running'

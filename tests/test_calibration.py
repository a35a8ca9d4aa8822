"""The machine's throughput per model: measured once by the first run of a model on a machine,
stored, and used by the what-if to turn every run's FLOPs into seconds at one rate."""

import subprocess

import pytest

from core.results import whatif
from core.running import calibration, hardware
from core.running.runner import RunSpec, run_all
from core.storage.store import Store

SMALL = {"n_facts": 6, "n_dimensions": 2}


def test_a_machine_is_calibrated_once_per_model_and_the_what_if_uses_it(tiny_lm, tmp_path):
    store = Store(tmp_path / "lab.duckdb")
    spec = RunSpec(method="pretrained", model="tiny", overrides=SMALL)
    run_all([spec], store)  # loads the model: its throughput is measured and stored
    run_all([spec], store)  # loads it again: the stored one is found, nothing is added
    assert len(store.query("SELECT * FROM calibrations")) == 1
    other = Store(tmp_path / "other.duckdb")  # a model the caller loaded (as the demo does)
    run_all([spec], other, lm_cache={"tiny": tiny_lm})
    assert len(other.query("SELECT * FROM calibrations")) == 1
    stored = store.calibration("tiny", calibration.machine_name(), str(tiny_lm.device))
    assert stored["flops_per_second"] > 0
    assert stored["tokens"] == calibration.ROWS * calibration.QUERY_TOKENS
    world_id = store.runs()["world_id"].iloc[0]
    cal = whatif.load_calibration(store, world_id, "tiny")
    assert (cal["per_query_seconds"] == cal["per_query_flops"] / stored["flops_per_second"]).all()


def test_the_demo_promise_scales_with_the_machine_calibration():
    from core.queue import progress
    reference = progress.expected_demo_seconds(None)
    assert reference == progress.DEMO_SECONDS
    assert progress.expected_demo_seconds(progress.DEMO_FLOPS_PER_SECOND / 2) == 2 * reference


def test_a_run_is_marked_changed_only_by_edits_to_the_code_that_makes_it(tmp_path):
    """Runs record the commit they came from; "+changes" means their code was edited, so an
    edited doc or results file (a study writes one while it runs) must not set it."""
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(tmp_path)]
    (tmp_path / "core").mkdir()
    (tmp_path / "docs").mkdir()
    (tmp_path / "core" / "method.py").write_text("steps = 1\n")
    (tmp_path / "docs" / "results.jsonl").write_text("")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "first"], check=True)
    commit = hardware.code_version(tmp_path)
    assert len(commit) == 10 and "+" not in commit
    (tmp_path / "docs" / "results.jsonl").write_text("{}\n")
    assert hardware.code_version(tmp_path) == commit
    (tmp_path / "core" / "method.py").write_text("steps = 2\n")
    assert hardware.code_version(tmp_path) == commit + "+changes"
    assert hardware.code_version(tmp_path / "core" / "nowhere") == "unknown"


def test_the_matmul_rate_counts_the_multiplies_done_in_the_time_taken(monkeypatch):
    """The rate the suite prints beside its time (tests/conftest.py) and the bench divides by:
    2 x size^3 FLOPs for each multiply done before `seconds` ran out, over the time taken; on
    the threads asked for, and the caller's threads and random numbers as they were after."""
    import itertools

    import torch
    clock = itertools.count(0.0, 0.1)  # 0.0 start; 0.1 and 0.2 each run one; 0.3 ends; 0.4 taken
    monkeypatch.setattr(hardware.time, "perf_counter", lambda: next(clock))
    threads = torch.get_num_threads()
    seen = []
    monkeypatch.setattr(torch.Tensor, "__matmul__",
                        lambda a, b: seen.append(torch.get_num_threads()) or torch.mm(a, b))
    random_state = torch.get_rng_state()
    rate = hardware.matmul_rate(size=8, seconds=0.25, threads=threads + 1)
    assert rate == pytest.approx(2 * 8**3 * 2 / 0.4)
    assert seen == [threads + 1] * 5  # three to warm up, two timed
    assert torch.get_num_threads() == threads
    assert torch.equal(torch.get_rng_state(), random_state)  # the tests after it draw the same

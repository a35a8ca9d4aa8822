"""The job queue as the app uses it: real `python -m core` jobs with the tiny model in a
temporary data dir; they run one at a time in launch order, can be cancelled and rerun, and
their progress gives a fraction done and an ETA."""

import json
import os
import signal
import time

import pytest
from conftest import queue_held

from core.errors import LabError
from core.methods.config import FTConfig
from core.queue import experiment as experiments
from core.queue import jobs
from core.queue import progress as progress_mod
from core.running.spec import FT_FLAGS, RunSpec
from core.storage.store import Store

TINY = ["--set", "n_facts=4", "--model", "tiny", "--quiet"]
PROGRESS_KEYS = {"run_index", "runs_total", "method", "methods", "phase", "fraction", "message",
                 "started", "updated"}


def wait_until(job_id, done, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = jobs.status(job_id)
        if done(job):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} still {job['state']}: {job['log_tail']}")


def ended(job):
    return job["state"] not in jobs.ACTIVE


def test_a_tiny_job_runs_to_finished_and_leaves_its_progress(data_dir):
    db = data_dir / "lab.duckdb"
    job = jobs.launch([*TINY, "--methods", "pretrained,icl"], db, "two runs")
    assert job["state"] in jobs.ACTIVE and job["label"] == "two runs"
    assert job["command"].startswith("python -m core run ")
    job = wait_until(job["job_id"], ended)
    assert job["state"] == "finished" and job["rc"] == 0, job["log_tail"]
    assert job["fraction"] == 1.0 and job["finished"] >= job["started"]
    progress = job["progress"]
    assert set(progress) == PROGRESS_KEYS
    assert (progress["phase"], progress["run_index"], progress["runs_total"]) == ("done", 2, 2)
    assert list(Store(db).runs().status) == ["complete", "complete"]
    assert any(line.startswith('{"run_id"') for line in job["log_tail"])
    assert [j["job_id"] for j in jobs.list_jobs()] == [job["job_id"]]


def test_jobs_run_one_at_a_time_in_launch_order(data_dir):
    db = data_dir / "lab.duckdb"
    with queue_held():
        first = jobs.launch([*TINY, "--methods", "pretrained"], db, "first")
        second = jobs.launch([*TINY, "--methods", "pretrained"], db, "second")
        time.sleep(1.0)  # both workers are up and waiting
        queue = jobs.list_jobs()
        assert [(j["label"], j["state"]) for j in queue] == [("second", "queued"), ("first", "queued")]
        assert [j["ahead"] for j in queue] == [1, 0]
    wait_until(first["job_id"], lambda j: j["state"] == "running")
    assert jobs.status(second["job_id"])["state"] == "queued"
    first = wait_until(first["job_id"], ended)
    second = wait_until(second["job_id"], ended)
    assert first["state"] == second["state"] == "finished"
    assert second["started"] >= first["finished"]


def test_cancelling_a_running_job_leaves_its_run_interrupted_and_rerunnable(data_dir):
    db = data_dir / "lab.duckdb"
    job = jobs.launch([*TINY, "--methods", "ft", "--epochs", "1000"], db)
    wait_until(job["job_id"], lambda j: (j["progress"] or {}).get("phase") == "train")
    job = jobs.cancel(job["job_id"])
    assert job["state"] == "cancelled" and not job["running"]
    with pytest.raises(LabError, match="only queued or running"):
        jobs.cancel(job["job_id"])
    store = Store(db)  # opening the store marks runs whose process died
    runs = store.runs()
    assert list(runs.status) == ["failed"] and runs.error[0].startswith("interrupted")
    interrupted = store.interrupted_runs()
    assert list(interrupted.run_id) == list(runs.run_id)
    args = experiments.experiment_from_run(interrupted.iloc[0].to_dict()).run_args(0)
    assert args[:6] == ["--world", "reversals", "--seed", "0", "--preset", "quick"]
    for flag, value in [("--set", "n_facts=4"), ("--methods", "ft"), ("--model", "tiny"),
                        ("--epochs", "1000"), ("--train-seed", "0")]:
        assert args[args.index(flag) + 1] == value
    assert "--ft-mode" not in args  # settings at their default are left out


def test_cancelling_a_queued_job_and_rerunning_it(data_dir):
    with queue_held():
        job = jobs.launch([*TINY, "--methods", "pretrained"], data_dir / "lab.duckdb")
        assert jobs.cancel(job["job_id"])["state"] == "cancelled"
        again = jobs.rerun(job["job_id"])
        assert again["job_id"] != job["job_id"] and again["args"] == job["args"]
        assert again["state"] == "queued"
        assert jobs.cancel(again["job_id"])["state"] == "cancelled"
    assert not (jobs.jobs_dir() / f"{job['job_id']}.started").exists()
    assert not (data_dir / "lab.duckdb").exists()


def test_a_failing_command_is_failed_with_its_error_line(data_dir):
    job = jobs.launch(["--set", "n_facts=100000", "--model", "tiny"], data_dir / "lab.duckdb")
    job = wait_until(job["job_id"], ended)
    assert job["state"] == "failed" and job["rc"] == 2
    assert job["error"].startswith("error:") and "between 2 and 400" in job["error"]


def test_a_worker_killed_outside_the_app_is_failed(data_dir):
    with queue_held():
        job = jobs.launch([*TINY, "--methods", "pretrained"], data_dir / "lab.duckdb")
        os.kill(job["pid"], signal.SIGKILL)
        job = wait_until(job["job_id"], ended, timeout=10)
    assert job["state"] == "failed" and "without an exit code" in job["error"]


def test_the_demo_job_runs_the_demo_command(data_dir):
    with queue_held():
        job = jobs.launch_demo("default", data_dir / "lab.duckdb")
        assert job["args"][:3] == ["demo", "--model", "default"] and job["state"] == "queued"
        jobs.cancel(job["job_id"])


# ---------------------------------------------------------------- progress and ETA


def progress(run_index=1, runs_total=2, method="ft", phase="train", fraction=0.5, started=100.0,
             updated=110.0, methods=None):
    state = {"run_index": run_index, "runs_total": runs_total, "method": method, "phase": phase,
             "fraction": fraction, "message": "", "started": started, "updated": updated}
    return state | ({"methods": methods} if methods else {})


def test_method_phases_follow_the_runner():
    assert progress_mod.method_phases("pretrained") == progress_mod.method_phases("icl") == ("evaluate",)
    assert progress_mod.method_phases("ft") == ("train", "evaluate")
    assert progress_mod.method_phases("ft_local_global") == ("augment", "train", "evaluate")


W = progress_mod.PHASE_WEIGHTS
FT = W["train"] + W["evaluate"]


@pytest.mark.parametrize("state, expected", [
    (None, 0.0),
    (progress(phase="starting", fraction=0.0), 0.0),
    # Without the list of methods, both runs are taken to be like the current one.
    (progress(phase="train", fraction=0.5), 0.5 * W["train"] / (2 * FT)),
    (progress(phase="evaluate", fraction=1.0), 0.5),
    # A cheap run before a fine-tuning run is a small share of the job.
    (progress(run_index=2, methods=["pretrained", "ft"], phase="train", fraction=0.5),
     (W["evaluate"] + 0.5 * W["train"]) / (W["evaluate"] + FT)),
    (progress(run_index=2, method="pretrained", methods=["ft", "pretrained"], phase="evaluate",
              fraction=0.5), (FT + 0.5 * W["evaluate"]) / (W["evaluate"] + FT)),
    (progress(run_index=2, phase="done", fraction=1.0), 1.0),
])
def test_overall_fraction(state, expected):
    assert progress_mod.overall_fraction(state) == pytest.approx(expected)


def test_eta_assumes_the_pace_so_far():
    # A quarter done in 10 s: 40 s in all, so 30 s left at the last update, 25 s five seconds on.
    state = progress(run_index=2, runs_total=4, method="icl", methods=["pretrained", "icl"] * 2,
                     phase="evaluate", fraction=0.0, started=100.0, updated=110.0)
    assert progress_mod.overall_fraction(state) == 0.25
    assert progress_mod.eta_seconds(state, now=110.0) == pytest.approx(30.0)
    assert progress_mod.eta_seconds(state, now=115.0) == pytest.approx(25.0)
    assert progress_mod.eta_seconds(state, now=1000.0) == 0.0
    assert progress_mod.eta_seconds(progress(phase="starting", fraction=0.0)) is None
    assert progress_mod.eta_seconds(progress(phase="done")) == 0.0
    assert progress_mod.eta_seconds(None) is None


def test_an_expected_length_keeps_the_eta_from_swinging_and_still_follows_the_pace():
    """The demo's ETA: an early phase 14 times slower than foreseen (2% done in 60 s) would say
    49 minutes by its pace alone; blended with the expected 219 s it stays near 4 minutes. A
    job that keeps running 3 times slower than foreseen moves towards its pace."""
    def at(fraction, elapsed):
        return progress(run_index=1, runs_total=1, method="ft", methods=["ft"], phase="train",
                        fraction=fraction * FT / W["train"], started=0.0, updated=elapsed)
    paced = progress_mod.eta_seconds(at(0.02, 60.0), now=60.0)
    steady = progress_mod.eta_seconds(at(0.02, 60.0), now=60.0, expected_total=219.0)
    assert paced == pytest.approx(60.0 * 0.98 / 0.02)
    assert paced > 40 * 60 and 3 * 60 < steady < 5 * 60
    # Half done in 300 s where 200 s in all were foreseen: 300 s left at this pace, 100 s as
    # foreseen; the ETA says 200 s, not the 100 s the expectation alone would.
    slow = progress_mod.eta_seconds(at(0.5, 300.0), now=300.0, expected_total=200.0)
    assert slow == pytest.approx(0.5 * 100.0 + 0.5 * 300.0)
    # Before any pace, the expectation alone, counting down.
    assert progress_mod.eta_seconds(progress(phase="starting", fraction=0.0, started=0.0,
                                             updated=0.0), now=30.0, expected_total=219.0) == 189.0


def test_format_duration():
    assert [progress_mod.format_duration(s) for s in (None, 4.4, 65, 3725)] == ["?", "4 s", "1 min 05 s",
                                                                          "1 h 02 min"]


def test_progress_file_follows_runs_through_their_phases(tmp_path):
    path = tmp_path / "sub" / "progress.json"
    tracker = progress_mod.ProgressFile(path, ["pretrained", "ft"])
    read = lambda: json.loads(path.read_text())  # noqa: E731
    assert set(read()) == PROGRESS_KEYS and read()["phase"] == "starting"
    tracker.update("evaluate", 0.5, "2/4 choices")
    assert (read()["run_index"], read()["method"], read()["fraction"]) == (1, "pretrained", 0.5)
    tracker.update("evaluate", 1.0, "4/4 choices")
    tracker.run_done()  # evaluation's end and the result both say the run ended: one step on
    tracker.update("train", 0.1, "step 1/10")
    assert (read()["run_index"], read()["method"], read()["phase"]) == (2, "ft", "train")
    tracker.finish()
    assert (read()["run_index"], read()["phase"], read()["fraction"]) == (2, "done", 1.0)
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


# ---------------------------------------------------------------- experiments


def test_parse_seeds():
    assert experiments.parse_seeds("0, 1,2") == [0, 1, 2]
    assert experiments.parse_seeds("3-5 1 3") == [3, 4, 5, 1]
    for bad in ("", "a", "5-2", "-1"):
        with pytest.raises(LabError):
            experiments.parse_seeds(bad)


def test_check_model(tmp_path):
    assert experiments.check_model(" tiny ") == "tiny"
    assert experiments.check_model(str(tmp_path)) == str(tmp_path.resolve())
    assert experiments.check_model("someone/some-model") == "someone/some-model"
    with pytest.raises(LabError, match="does not exist"):
        experiments.check_model(str(tmp_path / "missing"))


def experiment(methods=("pretrained",), seeds=(0,), **settings) -> experiments.Experiment:
    """An experiment of the tiny model; `ft` settings by name (epochs=2), the rest RunSpec's."""
    ft = FTConfig(**{k: settings.pop(k) for k in list(settings) if k in FT_FLAGS})
    specs = [RunSpec(method=m, **{"model": "tiny", **settings}, ft=ft) for m in methods]
    return experiments.Experiment(specs, list(seeds))


def test_an_experiment_validates_and_builds_one_command_per_seed():
    chosen = experiment(["pretrained", "ft"], [0, 1], overrides={"n_facts": 6}, epochs=2, lr=1e-3)
    args = chosen.validate().run_args(1)
    assert args == ["--world", "reversals", "--seed", "0", "--preset", "quick", "--set", "n_facts=6",
                    "--methods", "pretrained,ft", "--model", "tiny", "--aug-source", "oracle",
                    "--train-seed", "1", "--epochs", "2", "--lr", "0.001", "--quiet"]
    from core.__main__ import parser
    parsed = parser().parse_args(["run", *args])
    assert (parsed.train_seed, parsed.ft_epochs, parsed.ft_lr, parsed.set) == \
        (1, 2, 0.001, ["n_facts=6"])
    assert "training seed 1" in chosen.label(1)


@pytest.mark.parametrize("change, message", [
    ({"methods": []}, "at least one method"),
    ({"seeds": []}, "at least one seed"),
    ({"overrides": {"n_facts": 100000}}, "between 2 and 400"),
    ({"world_kind": "planets"}, "unknown world kind"),
    ({"lr": 5.0}, "lr must be between"),
    ({"mode": "half"}, "'full' or 'lora'"),
    ({"aug_source": "guess"}, "augmentation source"),
    ({"model": "/no/such/model"}, "does not exist"),
])
def test_an_experiment_refuses_bad_settings_with_a_clear_message(change, message):
    with pytest.raises(LabError, match=message):
        experiment(**change).validate()


def test_world_overrides_are_what_differs_from_the_preset():
    from core.worlds import build_world
    world = build_world("reversals", 3, "quick", {"n_facts": 7})
    assert experiments.world_overrides("reversals", "quick", world.params) == {"n_facts": 7}


def test_the_icl_fill_travels_from_the_form_to_the_command_and_back():
    assert experiment(["icl"], icl_fill="needed_first").run_args(0)[-3:] == \
        ["--icl-fill", "needed_first", "--quiet"]
    assert "--icl-fill" not in experiment(["icl"]).run_args(0)
    row = {"kind": "reversals", "world_seed": 0, "preset": "quick", "params": {}, "method": "icl",
           "model": "tiny", "aug_source": None, "seed": 0}
    # Stored before the option existed: those ICL runs took the needed facts first.
    assert experiments.experiment_from_run(row).specs[0].icl_fill == "needed_first"
    stored = row | {"settings": {"icl_max_tokens": 0, "icl_fill": "sample"}}
    assert experiments.experiment_from_run(stored).specs[0].icl_fill == "sample"
    with pytest.raises(LabError, match="ICL fill"):
        experiment(["icl"], icl_fill="peek").validate()

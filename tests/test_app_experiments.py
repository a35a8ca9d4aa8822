"""The home page's demo button and the Experiments page as a user meets them, in a temporary
data dir: they render on a fresh machine, launching queues real jobs (held in the queue by a
lock this test holds, so that no model runs), and the queue shows state, progress and ETA."""

import json
import subprocess
import sys
import time
from datetime import datetime

import duckdb
import pytest
from conftest import queue_held
from streamlit.testing.v1 import AppTest

from core.methods import METHODS
from core.paths import REPO_ROOT
from core.queue import jobs
from core.storage.store import Store

TIMEOUT = 60
HOME = str(REPO_ROOT / "app.py")
EXPERIMENTS = "views/2_Experiments.py"
WORLD_PARAMS = {"n_facts": 6, "n_dimensions": 4, "articles_per_fact": 2, "chain_length": 2,
                "direction": "by_dimension"}


def home():
    return AppTest.from_file(HOME, default_timeout=TIMEOUT)


def experiments():
    # Opened through the app's entry point, as in the browser, so that page links resolve.
    return AppTest.from_file(HOME, default_timeout=TIMEOUT).switch_page(EXPERIMENTS)


def button(at, label):
    return next(b for b in at.button if b.label == label)


def widget(elements, label):
    return next(w for w in elements if w.label == label)


def fill(path):
    """One stored world (6 facts), one complete run and one interrupted `ft` run on it."""
    Store(path)
    world, start = "reversals:0:n6:000000000006", datetime(2026, 11, 1, 12, 0)
    con = duckdb.connect(str(path))
    con.execute("INSERT INTO worlds VALUES (?, 'reversals', 'quick', 3, ?, ?, 12, 6, ?)",
                [world, json.dumps(WORLD_PARAMS), json.dumps({"forward": 6, "reversal": 6}), start])
    con.executemany("INSERT INTO items VALUES (?, ?, ?, 'x are', '[\" a\", \" b\"]', 0, '[]', ?)",
                    [[world, f"{split}{k}", split, split == "reversal"]
                     for split in ("forward", "reversal") for k in range(6)])
    con.execute("INSERT INTO runs VALUES ('done', ?, 'pretrained', 'tiny', NULL, 0, '{}', "
                "'complete', NULL, 1, ?, ?, '{}')", [world, start, start])
    con.executemany("INSERT INTO predictions VALUES ('done', ?, ?, '[-1.0, -2.0]', 0, 0, true)",
                    [[f"{split}{k}", split] for split in ("forward", "reversal") for k in range(6)])
    con.execute("INSERT INTO costs VALUES ('done', 'evaluate', 100, 1e9, 0.5, 500.0, 'cpu')")
    settings = {"ft": {"mode": "lora", "splitting": "none", "epochs": 3, "lr": 0.001,
                       "batch_size": 4}}
    con.execute("INSERT INTO runs VALUES ('cut', ?, 'ft', 'tiny', NULL, 2, ?, 'failed', "
                "'interrupted: the process running it stopped', 1, ?, ?, NULL)",
                [world, json.dumps(settings), start, start])
    con.close()
    return path


# ---------------------------------------------------------------- home


def test_home_renders_on_a_fresh_data_dir_with_the_demo_button(data_dir):
    at = home().run()
    assert not at.exception
    assert not button(at, "Run the quick demo").disabled
    assert at.get("page_link") and not at.get("plotly_chart")
    assert not (data_dir / "lab.duckdb").exists()  # looking must not create a database
    # The demo's promise: the measured reference until this machine is calibrated.
    assert any("about 3 min 39 s on a 2-core CPU with AVX2" in c.value for c in at.caption)


def test_the_demo_button_queues_the_demo_and_shows_it(data_dir):
    with queue_held():
        at = home().run()
        button(at, "Run the quick demo").click().run()
        assert not at.exception
        [job] = jobs.list_jobs()
        assert job["args"][:3] == ["demo", "--model", "default"]
        assert job["state"] == "queued", (job, sorted(p.name for p in jobs.jobs_dir().iterdir()))
        assert job["args"][job["args"].index("--db") + 1] == str(data_dir / "lab.duckdb")
        assert "queued" in at.info[0].value
        assert button(at, "Run the quick demo").disabled  # one demo at a time
        jobs.cancel(job["job_id"])
    at.run()
    assert not button(at, "Run the quick demo").disabled


def test_home_shows_the_headline_chart(data_dir):
    fill(data_dir / "lab.duckdb")
    at = home().run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 1


# ---------------------------------------------------------------- experiments


def test_experiments_page_on_a_fresh_data_dir(data_dir):
    at = experiments().run()
    assert not at.exception
    assert at.title[0].value == "Experiments"
    assert "No jobs yet" in at.info[0].value
    assert widget(at.multiselect, "methods").value == list(METHODS)
    assert any("python -m core run" in code.value for code in at.code)  # the command preview
    assert not (data_dir / "lab.duckdb").exists()


def test_launching_queues_one_job_per_seed_and_the_queue_shows_them(data_dir):
    with queue_held():
        at = experiments().run()
        widget(at.multiselect, "methods").set_value(["pretrained", "ft"])
        widget(at.radio, "model").set_value("tiny")
        widget(at.text_input, "training seeds").set_value("0,1")
        widget(at.number_input, "epochs").set_value(2)
        at.run()
        button(at, "Launch").click().run()
        assert not at.exception and "Queued 2 jobs" in at.success[0].value
        queue = jobs.list_jobs()
        assert [j["state"] for j in queue] == ["queued", "queued"]
        for job, seed in zip(queue, ["1", "0"]):  # newest first
            args = job["args"]
            assert args[0] == "run" and args[args.index("--train-seed") + 1] == seed
            assert args[args.index("--methods") + 1] == "pretrained,ft"
            assert args[args.index("--model") + 1] == "tiny"
            assert args[args.index("--epochs") + 1] == "2"
            assert args[args.index("--db") + 1] == str(data_dir / "lab.duckdb")
        cards = [m.value for m in at.markdown if "**" in m.value and "—" in m.value]
        assert len(cards) == 2 and all(card.endswith("queued") for card in cards)
        button(at, "Cancel").click().run()  # the newest job's button comes first
        assert not at.exception
        assert [j["state"] for j in jobs.list_jobs()] == ["cancelled", "queued"]
        assert "Rerun" in [b.label for b in at.button]
        jobs.cancel(queue[1]["job_id"])


def test_the_teacher_is_chosen_from_the_listed_ones_and_goes_with_the_job(data_dir, monkeypatch):
    monkeypatch.setenv("LAB_TEACHERS", "http://127.0.0.1:8000/v1, http://10.0.0.5:8000/v1")
    with queue_held():
        at = experiments().run()
        widget(at.multiselect, "methods").set_value(["ft_local"])
        widget(at.selectbox, "augmentation source").set_value("teacher")
        at.run()
        choice = widget(at.selectbox, "teacher")
        assert choice.options == ["default", "http://127.0.0.1:8000/v1", "http://10.0.0.5:8000/v1"]
        choice.set_value("http://10.0.0.5:8000/v1").run()
        button(at, "Launch").click().run()
        assert not at.exception
        [job] = jobs.list_jobs()
        args = job["args"]
        assert args[args.index("--teacher") + 1] == "http://10.0.0.5:8000/v1"
        jobs.cancel(job["job_id"])


def test_a_job_launched_from_the_page_runs_to_the_end(data_dir):
    at = experiments().run()
    widget(at.multiselect, "methods").set_value(["pretrained"])
    widget(at.radio, "model").set_value("tiny")
    at.number_input(key="exp-reversals-quick-n_facts").set_value(4)
    at.run()
    button(at, "Launch").click().run()
    [job] = jobs.list_jobs()
    deadline = time.monotonic() + 120
    while jobs.status(job["job_id"])["state"] in jobs.ACTIVE and time.monotonic() < deadline:
        time.sleep(0.2)
    at.run()
    assert not at.exception
    assert any(m.value.endswith("— finished") for m in at.markdown)
    assert "Rerun" in [b.label for b in at.button]
    assert list(Store(data_dir / "lab.duckdb").runs().status) == ["complete"]


@pytest.mark.parametrize("label, value, message", [
    ("training seeds", "zero", "seeds are whole numbers"),
    # A browser user names model folders under the model roots only: anything else is refused
    # before anything is looked for there.
    ("model folder or hub id", "/no/such/model", "the model folder must be inside"),
    ("model folder or hub id", "such/model/folder", "does not exist"),  # inside, but missing
])
def test_bad_input_shows_a_message_and_launches_nothing(data_dir, label, value, message):
    at = experiments().run()
    if label.startswith("model"):
        widget(at.radio, "model").set_value("folder").run()
    widget(at.text_input, label).set_value(value).run()
    if any(b.label == "Launch" for b in at.button):  # a path outside stops the page at once
        button(at, "Launch").click().run()
    assert not at.exception
    assert message in at.error[0].value
    assert jobs.list_jobs() == []


def test_no_method_is_refused(data_dir):
    at = experiments().run()
    widget(at.multiselect, "methods").set_value([]).run()
    button(at, "Launch").click().run()
    assert "at least one method" in at.error[0].value and jobs.list_jobs() == []


def test_a_running_job_shows_its_progress_and_eta(data_dir):
    job_id = "20261101-120000-000000"
    directory = jobs.jobs_dir()
    # A stand-in worker: alive, with the job id on its command line, as the real one has.
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", job_id])
    try:
        now = time.time()
        (directory / f"{job_id}.json").write_text(json.dumps(
            {"job_id": job_id, "args": ["run"], "label": "a long sweep", "command": "python -m core run",
             "pid": worker.pid, "created": now - 2000}))
        (directory / f"{job_id}.started").write_text(str(now - 2000))
        (directory / f"{job_id}.progress.json").write_text(json.dumps(
            {"run_index": 2, "runs_total": 4, "method": "icl", "methods": ["icl"] * 4,
             "phase": "evaluate", "fraction": 0.5, "message": "", "started": now - 2000,
             "updated": now}))
        (directory / f"{job_id}.log").write_text("$ python -m core run\n")
        at = experiments().run()
        assert not at.exception
        [bar] = at.get("progress")
        assert bar.proto.value == 37  # 1.5 of 4 like runs
        # 37.5% in 2000 s: 5333 s in all, 3333 s (55 min 33 s) left
        assert "run 2/4 · icl · evaluate 50%" in bar.proto.text and "ETA 55 min" in bar.proto.text
        assert "Cancel" in [b.label for b in at.button]
    finally:
        worker.kill()
        worker.wait()


def test_a_stored_world_can_be_chosen_and_interrupted_runs_rerun(data_dir):
    fill(data_dir / "lab.duckdb")
    with queue_held():
        at = experiments().run()
        assert any("**ft** on reversals (world seed 3, quick)" in m.value for m in at.markdown)
        button(at, "Rerun").click().run()
        assert not at.exception
        [job] = jobs.list_jobs()
        args = job["args"]
        for flag, value in [("--seed", "3"), ("--set", "n_facts=6"), ("--methods", "ft"),
                            ("--model", "tiny"), ("--train-seed", "2"), ("--ft-mode", "lora"),
                            ("--epochs", "3"), ("--lr", "0.001"), ("--batch-size", "4")]:
            assert args[args.index(flag) + 1] == value
        jobs.cancel(job["job_id"])

        widget(at.radio, "world").set_value("stored").run()
        assert not at.exception
        assert widget(at.selectbox, "stored world").value == "reversals:0:n6:000000000006"
        widget(at.multiselect, "methods").set_value(["pretrained"])
        widget(at.radio, "model").set_value("tiny")
        at.run()
        button(at, "Launch").click().run()
        assert not at.exception and at.success
        newest = jobs.list_jobs()[0]
        assert newest["state"] == "queued"
        assert newest["args"][1:7] == ["--world", "reversals", "--seed", "3", "--preset", "quick"]
        assert newest["args"][newest["args"].index("--set") + 1] == "n_facts=6"
        jobs.cancel(newest["job_id"])

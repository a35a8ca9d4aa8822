"""The app as a user meets it: pages render without a traceback on a fresh machine, say what
to do when there are no results, and draw the charts when there are."""

import json
from datetime import datetime, timedelta

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from core.paths import REPO_ROOT
from core.store import Store

TIMEOUT = 60
HOME = str(REPO_ROOT / "app.py")
RESULTS = str(REPO_ROOT / "pages" / "4_Results.py")
METHODS = [("pretrained", None, 0.40, 0.0), ("icl", None, 0.15, 0.0), ("ft", None, 0.0, 2e12),
           ("ft_local", "oracle", 1.0, 3e12), ("ft_global", "oracle", 0.9, 3e12),
           ("ft_local_global", "oracle", 1.0, 4e12)]


def fill(path):
    """A database with one world, six complete runs and one failed one, shaped like real ones."""
    Store(path)  # creates the schema
    world = "reversals:0:{}"
    start = datetime(2026, 11, 1, 12, 0)
    con = duckdb.connect(str(path))
    con.execute("INSERT INTO worlds VALUES (?, 'reversals', 'quick', 0, '{}', ?, 20, 20, ?)",
                [world, json.dumps({"forward": 20, "reversal": 20}), start])
    con.executemany("INSERT INTO items VALUES (?, ?, ?, 'x are', '[\" a\", \" b\"]', 0, '[]', ?)",
                    [[world, f"{split}{k}", split, split == "reversal"]
                     for split in ("forward", "reversal") for k in range(20)])
    for i, (method, source, reversal, train_flops) in enumerate(METHODS):
        run = f"run{i}"
        created = start + timedelta(minutes=i)
        con.execute("INSERT INTO runs VALUES (?, ?, ?, 'default', ?, 0, '{}', 'complete', NULL, "
                    "1, ?, ?, '{}')", [run, world, method, source, created, created])
        forward = 1.0 if method.startswith("ft") else 0.5
        for split, accuracy in [("forward", forward), ("reversal", reversal)]:
            correct = round(accuracy * 20)
            con.execute("INSERT INTO metrics VALUES (?, ?, 20, ?, ?, ?, ?, 0.5)",
                        [run, split, correct, accuracy, max(0, accuracy - 0.2),
                         min(1, accuracy + 0.2)])
            con.executemany("INSERT INTO predictions VALUES (?, ?, ?, '[-1.0, -2.0]', ?, 0, ?)",
                            [[run, f"{split}{k}", split, 0 if k < correct else 1, k < correct]
                             for k in range(20)])
        phases = [("evaluate", 4e10 * (20 if method == "icl" else 1), 3.0)]
        if train_flops:
            phases.append(("train", train_flops, 60.0))
        if source:
            phases.append(("augment", 1e11, 10.0))
        con.executemany("INSERT INTO costs VALUES (?, ?, 1000, ?, ?, 900.0, 'cpu')",
                        [[run, phase, flops, seconds] for phase, flops, seconds in phases])
    con.execute("INSERT INTO runs VALUES ('bad', ?, 'ft', 'default', NULL, 0, '{}', 'failed', "
                "'out of memory', 1, ?, ?, NULL)", [world, start, start])
    con.close()
    return path


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_DATA_DIR", str(tmp_path))
    return tmp_path


def test_home_renders_on_a_fresh_data_dir(data_dir):
    at = AppTest.from_file(HOME, default_timeout=TIMEOUT).run()
    assert not at.exception
    assert at.title[0].value == "ICL vs fine-tuning lab"
    assert any("python -m core run" in code.value for code in at.code)
    assert not at.get("plotly_chart")
    assert not (data_dir / "lab.duckdb").exists()  # looking must not create a database


def test_home_shows_the_headline_chart_when_there_are_runs(data_dir):
    fill(data_dir / "lab.duckdb")
    at = AppTest.from_file(HOME, default_timeout=TIMEOUT).run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 1


def test_results_without_a_database_says_what_to_run(data_dir):
    at = AppTest.from_file(RESULTS, default_timeout=TIMEOUT)
    at.query_params["db"] = str(data_dir / "missing.duckdb")
    at.run()
    assert not at.exception
    assert "python -m core run" in at.info[0].value
    assert not at.get("plotly_chart")
    assert not (data_dir / "missing.duckdb").exists()


def test_results_on_an_empty_database_says_what_to_run(data_dir):
    Store(data_dir / "lab.duckdb")
    at = AppTest.from_file(RESULTS, default_timeout=TIMEOUT).run()
    assert not at.exception
    assert "python -m core run" in at.info[0].value


def test_results_on_a_file_that_is_not_a_database_shows_an_error(data_dir):
    (data_dir / "notes.duckdb").write_text("not a database")
    at = AppTest.from_file(RESULTS, default_timeout=TIMEOUT)
    at.query_params["db"] = str(data_dir / "notes.duckdb")
    at.run()
    assert not at.exception
    assert "cannot open database" in at.error[0].value


@pytest.mark.parametrize("x", ["flops", "seconds"])
def test_results_draw_the_charts_and_the_runs_table(data_dir, x):
    path = fill(data_dir / "results.duckdb")
    at = AppTest.from_file(RESULTS, default_timeout=TIMEOUT)
    at.query_params["db"] = str(path)
    at.query_params["x"] = x
    at.run()
    assert not at.exception
    assert len(at.get("plotly_chart")) >= 2
    assert at.radio[0].value == x
    table = at.dataframe[0].value
    assert len(table) == 7 and "out of memory" in set(table["error"])
    assert "ft_local (oracle)" in set(table["label"])


WORLDS = str(REPO_ROOT / "pages" / "1_Worlds.py")


def test_worlds_page_shows_counts_items_and_structure_and_stores_the_world(tmp_path):
    at = AppTest.from_file(WORLDS, default_timeout=TIMEOUT)
    at.query_params["kind"] = "reversals"
    at.query_params["seed"] = "2"
    at.run()
    assert not at.exception
    assert [m.value for m in at.metric] == ["20", "40", "40"]
    assert len(at.get("plotly_chart")) == 1
    db = tmp_path / "worlds.duckdb"
    at.text_input[0].set_value(str(db)).run()
    next(b for b in at.button if b.label == "Store this world").click().run()
    assert not at.exception and at.success
    assert Store(db).query("SELECT kind, seed FROM worlds").values.tolist() == [["reversals", 2]]


def test_worlds_page_changes_parameters_and_keeps_them_in_the_link():
    at = AppTest.from_file(WORLDS, default_timeout=TIMEOUT)
    at.run()
    at.number_input(key="reversals-quick-n_facts").set_value(6).run()
    assert not at.exception
    assert [m.value for m in at.metric][:2] == ["6", "12"]
    assert at.query_params["kind"] == ["reversals"] or at.query_params["kind"] == "reversals"

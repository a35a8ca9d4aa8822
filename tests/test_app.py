"""The app as a user meets it: pages render without a traceback on a fresh machine, say what
to do when there are no results, and draw the charts when there are."""

import json
from datetime import datetime, timedelta

import duckdb
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from core.paths import REPO_ROOT
from core.storage.store import Store

TIMEOUT = 60
HOME = str(REPO_ROOT / "app.py")
RESULTS = "views/4_Results.py"
RUNS = "views/3_Runs.py"
COMPARE = "views/7_Compare.py"
SHARE = "views/8_Share.py"
METHODS = [("pretrained", None, 0.40, 0.0), ("icl", None, 0.15, 0.0), ("ft", None, 0.0, 2e12),
           ("ft_local", "oracle", 1.0, 3e12), ("ft_global", "oracle", 0.9, 3e12),
           ("ft_local_global", "oracle", 1.0, 4e12)]
# Extra training seeds of the same settings, so grouping over seeds has n > 1.
SEEDS = {"ft": (0, 1, 2), "ft_local": (0, 1, 2)}
FT_SETTINGS = {"ft": {"mode": "full", "splitting": "none", "epochs": 8, "lr": 2e-4, "batch_size": 8,
                      "warmup_steps": 4, "weight_decay": 0.0, "lora_rank": 16, "lora_alpha": 32,
                      "max_steps": 0, "seed": 0}}
N_RUNS = 6 + 4 + 1  # six methods, four extra seeds, one failed run


def fill(path):
    """A database with one world, ten complete runs (two settings with three seeds each) and
    one failed one, shaped like real ones: metrics, predictions, costs, loss curves."""
    Store(path)  # creates the schema
    world = "reversals:0:{}:000000000000"  # ends like a content hash: no upgrade on open
    start = datetime(2026, 11, 1, 12, 0)
    con = duckdb.connect(str(path))
    con.execute("INSERT INTO worlds VALUES (?, 'reversals', 'quick', 0, ?, ?, 20, 20, ?)",
                [world, json.dumps({"n_facts": 20, "chain_length": 3}),
                 json.dumps({"forward": 20, "reversal": 20}), start])
    con.executemany("INSERT INTO items VALUES (?, ?, ?, 'x are', '[\" a\", \" b\"]', 0, ?, ?)",
                    [[world, f"{split}{k}", split, json.dumps([f"f{k}"]), split == "reversal"]
                     for split in ("forward", "reversal") for k in range(20)])
    runs = [(m, s, r, f, seed) for m, s, r, f in METHODS for seed in SEEDS.get(m, (0,))]
    for i, (method, source, reversal, train_flops, seed) in enumerate(runs):
        run = f"run{i}"
        created = start + timedelta(minutes=i)
        settings = {"icl_max_tokens": 0} if method == "icl" else {}
        settings = FT_SETTINGS if method.startswith("ft") else settings
        extra = {"per_query_flops": 4e10, "train_steps": 40} if train_flops else {"per_query_flops": 4e10}
        con.execute("INSERT INTO runs VALUES (?, ?, ?, 'default', ?, ?, ?, 'complete', NULL, "
                    "1, ?, ?, ?)", [run, world, method, source, seed, json.dumps(settings), created,
                                    created, json.dumps(extra)])
        reversal = max(0.0, reversal - 0.05 * seed)  # seeds differ a little
        forward = 1.0 if method.startswith("ft") else 0.5
        for split, accuracy in [("forward", forward), ("reversal", reversal)]:
            correct = round(accuracy * 20)
            con.execute("INSERT INTO metrics VALUES (?, ?, 20, ?, ?, ?, ?, 0.5)",
                        [run, split, correct, correct / 20, max(0, accuracy - 0.2),
                         min(1, accuracy + 0.2)])
            con.executemany("INSERT INTO predictions VALUES (?, ?, ?, '[-1.0, -2.0]', ?, 0, ?)",
                            [[run, f"{split}{k}", split, 0 if k < correct else 1, k < correct]
                             for k in range(20)])
        phases = [("evaluate", 4e10 * (20 if method == "icl" else 1), 3.0)]
        if train_flops:
            phases.append(("train", train_flops, 60.0))
            con.executemany("INSERT INTO loss_curves VALUES (?, ?, ?, ?)",
                            [[run, step, 3.0 / step, 100 * step] for step in range(1, 11)])
        if source:
            phases.append(("augment", 1e11, 10.0))
        con.executemany("INSERT INTO costs VALUES (?, ?, 1000, ?, ?, 900.0, 'cpu')",
                        [[run, phase, flops, seconds] for phase, flops, seconds in phases])
    con.execute("INSERT INTO runs VALUES ('bad', ?, 'ft', 'default', NULL, 0, '{}', 'failed', "
                "'out of memory', 1, ?, ?, NULL)", [world, start, start])
    con.close()
    return path


def open_page(page: str, **params: str) -> AppTest:
    """A page as the app serves it (entered through app.py, so page links resolve), with the
    given link parameters, run once."""
    at = AppTest.from_file(HOME, default_timeout=TIMEOUT).switch_page(page)
    for key, value in params.items():
        at.query_params[key] = value
    return at.run()


def chart_specs(at: AppTest) -> list[str]:
    return [chart.proto.spec for chart in at.get("plotly_chart")]


def frame(at: AppTest, column: str) -> pd.DataFrame:
    """The first data frame shown with this column."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


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
    at = open_page(RESULTS, db=str(data_dir / "missing.duckdb"))
    assert not at.exception
    assert "python -m core run" in at.info[0].value
    assert not at.get("plotly_chart")
    assert not (data_dir / "missing.duckdb").exists()


def test_results_on_an_empty_database_says_what_to_run(data_dir):
    Store(data_dir / "lab.duckdb")
    at = open_page(RESULTS)
    assert not at.exception
    assert "python -m core run" in at.info[0].value


def test_results_on_a_file_that_is_not_a_database_shows_an_error(data_dir):
    (data_dir / "notes.duckdb").write_text("not a database")
    at = open_page(RESULTS, db=str(data_dir / "notes.duckdb"))
    assert not at.exception
    assert "cannot open database" in at.error[0].value


@pytest.mark.parametrize("x", ["flops", "seconds"])
def test_results_draw_the_charts_and_the_runs_table(data_dir, x):
    path = fill(data_dir / "results.duckdb")
    at = open_page(RESULTS, db=str(path), x=x)
    assert not at.exception
    assert len(at.get("plotly_chart")) >= 2
    assert at.radio[0].value == x
    table = frame(at, "error")
    assert len(table) == N_RUNS and "out of memory" in set(table["error"])
    assert "ft_local (oracle)" in set(table["label"])


def test_results_draw_the_frontier_loss_curves_and_items_from_the_link(data_dir):
    path = fill(data_dir / "lab.duckdb")
    at = open_page(RESULTS, db=str(path), runs="run2,run5", run="run1", split="reversal", wrong="1")
    assert not at.exception
    specs = chart_specs(at)
    assert len(specs) == 3 and "Pareto frontier" in specs[0] and "Training loss" in specs[2]
    assert at.multiselect(key="runs").value == ["run2", "run5"]
    items = frame(at, "chosen")
    assert len(items) == 17 and not items["right"].any()  # icl got 3 of 20 reversals right
    at.toggle(key="wrong").set_value(False).run()
    assert len(frame(at, "chosen")) == 20 and "wrong" not in at.query_params
    at.selectbox(key="split").set_value("all").run()
    assert len(frame(at, "chosen")) == 40


def test_results_default_to_the_newest_fine_tuned_runs_and_keep_the_choice_in_the_link(data_dir):
    fill(data_dir / "lab.duckdb")
    at = open_page(RESULTS)
    assert at.multiselect(key="runs").value == ["run9", "run8", "run7"]
    at.multiselect(key="runs").set_value(["run3"]).run()
    assert not at.exception and at.query_params["runs"] in ("run3", ["run3"])


@pytest.mark.parametrize("page", [RUNS, COMPARE, SHARE])
def test_pages_on_an_empty_database_say_what_to_run(data_dir, page):
    Store(data_dir / "lab.duckdb")
    at = open_page(page)
    assert not at.exception and not at.get("plotly_chart")
    assert "python -m core run" in at.info[0].value


@pytest.mark.parametrize("page", [RUNS, COMPARE, SHARE])
def test_pages_without_a_database_say_what_to_run(data_dir, page):
    at = open_page(page, db=str(data_dir / "missing.duckdb"))
    assert not at.exception and "python -m core run" in at.info[0].value
    assert not (data_dir / "missing.duckdb").exists()


@pytest.mark.parametrize("page", [RUNS, COMPARE, SHARE])
def test_pages_on_a_file_that_is_not_a_database_show_an_error(data_dir, page):
    (data_dir / "notes.duckdb").write_text("not a database")
    at = open_page(page, db=str(data_dir / "notes.duckdb"))
    assert not at.exception and "cannot open database" in at.error[0].value


def test_runs_lists_every_run_and_filters_them(data_dir):
    fill(data_dir / "lab.duckdb")
    at = open_page(RUNS)
    assert not at.exception
    table = frame(at, "error")
    assert len(table) == N_RUNS and "out of memory" in set(table["error"])
    assert {"accuracy: forward", "accuracy: reversal", "heldout_accuracy"} <= set(table.columns)
    at.multiselect(key="method").set_value(["ft"]).run()
    assert len(frame(at, "error")) == 4 and at.query_params["method"] in ("ft", ["ft"])
    at.multiselect(key="status").set_value(["failed"]).run()
    assert frame(at, "error")["run_id"].tolist() == ["bad"]


def test_runs_filters_come_from_the_link(data_dir):
    fill(data_dir / "lab.duckdb")
    at = open_page(RUNS, source="oracle", status="complete")
    table = frame(at, "error")
    assert len(table) == 5 and all(label.endswith("(oracle)") for label in table["label"])


def test_runs_grouped_over_seeds(data_dir):
    fill(data_dir / "lab.duckdb")
    at = open_page(RUNS, view="grouped over seeds")
    assert not at.exception
    groups = frame(at, "heldout_mean").set_index("label")
    assert len(groups) == 6 and groups.loc["ft_local (oracle)", "runs"] == 3
    assert groups.loc["ft_local (oracle)", "heldout_mean"] == pytest.approx(0.95)
    assert groups.loc["icl", "runs"] == 1


def test_compare_shows_settings_side_by_side_and_only_the_differences(data_dir):
    fill(data_dir / "lab.duckdb")
    at = open_page(COMPARE, runs="run2,run3")
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table.columns) == ["ft · seed 0 · run2", "ft · seed 1 · run3"]
    assert "ft lr" in table.index and "train: compute" in table.index
    assert len(at.get("plotly_chart")) == 1 and "Accuracy per split" in chart_specs(at)[0]
    at.toggle(key="diff").set_value(True).run()
    assert at.dataframe[0].value.index.tolist() == ["training seed"]
    assert at.query_params["diff"] in ("1", ["1"])


def test_compare_defaults_to_the_two_newest_runs_and_keeps_the_choice_in_the_link(data_dir):
    fill(data_dir / "lab.duckdb")
    at = open_page(COMPARE)
    assert at.multiselect(key="runs").value == ["run9", "run8"]
    at.multiselect(key="runs").set_value(["run1", "run5", "bad"]).run()
    assert not at.exception and at.query_params["runs"] in ("run1,run5,bad", ["run1,run5,bad"])
    assert at.dataframe[0].value.shape[1] == 3


def test_share_offers_the_report_the_exports_and_a_link(data_dir):
    fill(data_dir / "lab.duckdb")
    at = open_page(SHARE)
    assert not at.exception
    labels = [b.label for b in at.get("download_button")]
    assert labels == ["HTML report", "metrics (CSV)", "metrics (Parquet)"]
    assert len(frame(at, "split")) == 2 * (N_RUNS - 1)  # every complete run by default
    link = next(t.value for t in at.text_input if t.label == "link to this view")
    assert link.endswith("/Share?runs=run9,run8,run7,run6,run5,run4,run3,run2,run1,run0")
    assert any("camera icon" in c.value for c in at.caption)
    assert any("/Compare?runs=run9" in c.value for c in at.caption)  # the same runs, elsewhere
    assert [n.value for n in at.number_input] == [1_000_000, 2.0]  # the report's Q and price


def test_share_starts_from_the_link_selection(data_dir):
    fill(data_dir / "lab.duckdb")
    at = open_page(SHARE, runs="run1,run5", q="abc", price="-1")  # a hand-edited link
    assert not at.exception and len(frame(at, "split")) == 4
    assert [n.value for n in at.number_input] == [1_000_000, 2.0]  # the defaults instead
    assert "?runs=run1,run5" in [c.value for c in at.code]


WORLDS = str(REPO_ROOT / "views" / "1_Worlds.py")


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
    at.number_input(key="world-reversals-quick-n_facts").set_value(6).run()
    assert not at.exception
    assert [m.value for m in at.metric][:2] == ["6", "12"]
    assert at.query_params["kind"] == ["reversals"] or at.query_params["kind"] == "reversals"
    assert at.query_params["set.n_facts"] in ("6", ["6"])


def test_worlds_page_reopens_changed_parameters_from_the_link():
    at = AppTest.from_file(WORLDS, default_timeout=TIMEOUT)
    at.query_params["kind"] = "reversals"
    at.query_params["set.n_facts"] = "5"
    at.query_params["set.direction"] = "nonsense-value"  # a bad hand-edited value: the preset's
    at.run()
    assert not at.exception
    assert [m.value for m in at.metric][:2] == ["5", "10"]


def test_worlds_page_reads_an_uploaded_custom_world_and_names_the_bad_line(data_dir):
    from core.worlds.custom import save_upload
    good = (REPO_ROOT / "data" / "examples" / "custom_example.jsonl").read_bytes()
    path = save_upload(good, "my world.jsonl")
    assert path.parent == data_dir / "uploads" and path.read_bytes() == good
    assert save_upload(good, "my world.jsonl") == path  # same content, same file
    at = AppTest.from_file(WORLDS, default_timeout=TIMEOUT)
    at.query_params["kind"] = "custom"
    at.run()
    at.text_input(key="world-custom-quick-path").set_value(str(path)).run()
    assert not at.exception and not at.error
    assert [m.value for m in at.metric][1] == "10"  # documents
    bad = save_upload(good + b'{"type": "item", "item_id": "x"}\n', "bad.jsonl")
    at.text_input(key="world-custom-quick-path").set_value(str(bad)).run()
    assert not at.exception
    assert at.error and "line" in at.error[0].value and "field" in at.error[0].value


def test_the_app_is_served_to_this_machine_only_unless_told_otherwise():
    import tomllib
    config = tomllib.loads((REPO_ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "localhost"


def test_a_method_has_one_colour_on_every_page(data_dir):
    """Home, Results and What-if draw each method in the colour of charts.METHOD_COLOURS."""
    from core.results.charts import METHOD_COLOURS
    path = str(fill(data_dir / "lab.duckdb"))
    seen = {}
    for page in (None, RESULTS, "views/6_What_if.py"):
        at = AppTest.from_file(HOME, default_timeout=TIMEOUT)
        if page:
            at.switch_page(page)
        at.query_params["db"] = path
        at.run()
        assert not at.exception
        for spec in chart_specs(at):
            for trace in json.loads(spec)["data"]:
                colour = (trace.get("marker") or {}).get("color") or (trace.get("line") or {}).get("color")
                if trace.get("name") in METHOD_COLOURS and isinstance(colour, str):
                    seen.setdefault(trace["name"], set()).add(colour)
    assert {"icl", "ft", "ft_local (oracle)"} <= set(seen)
    assert all(colours == {METHOD_COLOURS[name]} for name, colours in seen.items()), seen


def test_runs_show_their_start_and_duration(data_dir):
    fill(data_dir / "lab.duckdb")
    table = frame(open_page(RUNS), "error")
    assert {"run_label", "created_at", "duration"} <= set(table.columns)
    done = table[table["status"] == "complete"]
    assert (done["duration"] >= 0).all() and table["created_at"].is_monotonic_decreasing

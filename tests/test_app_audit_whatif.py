"""The Augmentations and What-if pages as a user meets them: a helpful message without runs,
the audit and the cost model on a database shaped like real ones, and the queries behind them."""

import json
import math
from datetime import datetime, timedelta

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from core.methods.augment import training_sentences
from core.paths import REPO_ROOT
from core.results import audit, whatif
from core.storage.store import Store
from core.worlds import build_world

TIMEOUT = 60
HOME = str(REPO_ROOT / "app.py")
AUGMENTATIONS = "views/5_Augmentations.py"
WHAT_IF = "views/6_What_if.py"
CONTEXT = 900  # tokens of ICL context in the fake runs
ITEM_TOKENS = 20
# run_id, method, source, seed, held-out accuracy, train FLOPs, train seconds. ICL, ft and
# ft_local (oracle) are above chance; pretrained and ft_local (model) are not, and the what-if
# leaves them out of the break-even.
RUNS = [("pre", "pretrained", None, 0, 0.5, 0, 0), ("icl0", "icl", None, 0, 1.0, 0, 0),
        ("icl1", "icl", None, 1, 1.0, 0, 0), ("ft0", "ft", None, 0, 1.0, 2e12, 60.0),
        ("ft1", "ft", None, 1, 1.0, 3e12, 90.0), ("loc_or", "ft_local", "oracle", 0, 1.0, 4e12, 120.0),
        ("loc_mod", "ft_local", "model", 0, 0.4, 3e12, 90.0)]


def model_statements(world) -> list[str]:
    """What a small model writes: two true reversals, a contradiction, a repeated training
    sentence and some noise."""
    true = world.oracle_inferences("local")
    first, second = true[0], true[3]  # reversals of the first two facts
    subject, rest = first.split(" are ", 1)
    flipped = rest.replace("less", "MORE").replace("more", "less").replace("MORE", "more")
    known = [s for s in training_sentences(world) if world.judge(s) == "true"][0]
    return [first, second, f"{subject} are {flipped}", known, "Rewrites: see above"]


def fill(path):
    """One world (a real quick reversals world with 6 facts), seven complete runs with costs,
    predictions and runs.extra, augmentations from the oracle and from the model, and a failed
    run. Returns the world."""
    store = Store(path)
    world = build_world("reversals", 0, "quick", {"n_facts": 6})
    world_id = store.save_world(world, "quick")
    known = {s.lower() for s in training_sentences(world)}
    start = datetime(2026, 11, 1, 12, 0)
    con = duckdb.connect(str(path))
    n = len(world.items)
    for k, (run, method, source, seed, accuracy, train_flops, train_seconds) in enumerate(RUNS):
        icl = method == "icl"
        per_query = 2e9 * (CONTEXT + ITEM_TOKENS) / ITEM_TOKENS if icl else 2e9
        extra = {"per_query_flops": per_query, **({"icl_context_tokens": CONTEXT} if icl else {})}
        created = start + timedelta(minutes=k)
        con.execute("INSERT INTO runs VALUES (?, ?, ?, 'default', ?, ?, '{}', 'complete', NULL, 1, "
                    "?, ?, ?)", [run, world_id, method, source, seed, created, created, json.dumps(extra)])
        eval_flops = per_query * n if not icl else 2e9 * (CONTEXT + n * ITEM_TOKENS) / ITEM_TOKENS
        eval_tokens = n * ITEM_TOKENS + (CONTEXT if icl else 0)
        phases = [("evaluate", eval_tokens, eval_flops, eval_flops / 4e10)]
        if train_flops:
            phases.append(("train", 5000, train_flops, train_seconds))
        if source:
            phases.append(("augment", 3000, 0.0 if source == "oracle" else 6e11, 0.01 if source ==
                           "oracle" else 20.0))
        con.executemany("INSERT INTO costs VALUES (?, ?, ?, ?, ?, 900.0, 'cpu')",
                        [[run, phase, tokens, flops, seconds] for phase, tokens, flops, seconds in phases])
        held = [i for i in world.items if i.split in world.held_out_splits]
        right = {i.item_id for i in held[:round(accuracy * len(held))]}
        con.executemany("INSERT INTO predictions VALUES (?, ?, ?, '[-1.0, -2.0]', ?, ?, ?)",
                        [[run, i.item_id, i.split, i.answer if i.item_id in right else 1 - i.answer,
                          i.answer, i.item_id in right] for i in world.items])
        con.execute("INSERT INTO metrics SELECT run_id, split, count(*), sum(correct::INTEGER), "
                    "avg(correct::INTEGER), 0, 1, 0.5 FROM predictions WHERE run_id = ? "
                    "GROUP BY run_id, split", [run])
        if source:
            written = world.oracle_inferences("local") if source == "oracle" else model_statements(world)
            con.executemany("INSERT INTO augmentations VALUES (?, ?, 'local', ?, ?, ?)",
                            [[run, s, source, world.judge(s), s.lower() in known] for s in written])
    con.execute("INSERT INTO runs VALUES ('bad', ?, 'ft_global', 'default', 'model', 0, '{}', 'failed', "
                "'out of memory', 1, ?, ?, NULL)", [world_id, start, start])
    con.close()
    return world


@pytest.fixture
def filled(data_dir):
    path = data_dir / "lab.duckdb"
    fill(path)
    return path


def open_page(page: str, **params) -> AppTest:
    """The page as the app serves it (from the home script, so links between pages resolve)."""
    at = AppTest.from_file(HOME, default_timeout=TIMEOUT).switch_page(page)
    for key, value in params.items():
        at.query_params[key] = value
    return at.run()


# ------------------------------------------------------------------ the queries


def test_audit_of_the_stored_runs(filled):
    store = Store(filled)
    runs = audit.augmented_runs(store)
    assert list(runs["run_id"]) == ["loc_mod", "loc_or"]  # newest first; no failed run
    assert runs["label"][0].startswith("ft_local (model) · default · reversals seed 0")
    result = audit.load_audit(store, runs)
    summary = result.summary.set_index("run_id")
    assert summary.loc["loc_or", "precision"] == 1.0 and summary.loc["loc_or", "coverage"] == 1.0
    model = summary.loc["loc_mod"]
    assert (model["generated"], model["parsed"], model["true"], model["false"]) == (5, 4, 3, 1)
    assert (model["in_training"], model["new_true"]) == (1, 2)
    assert model["coverage"] == pytest.approx(2 / 6)  # two of six reversals written correctly
    assert model["flops_per_new_fact"] == 3e11 and model["seconds_per_new_fact"] == 10.0


def add_silent_run(path):
    """A model-source run that wrote nothing, as small models do."""
    con = duckdb.connect(str(path))
    con.execute("INSERT INTO runs SELECT 'silent', world_id, 'ft_global', model, 'model', 0, '{}', "
                "'complete', NULL, 1, now(), now(), '{}' FROM runs WHERE run_id = 'ft0'")
    con.execute("INSERT INTO costs VALUES ('silent', 'augment', 100, 5e11, 30.0, 900.0, 'cpu')")
    con.execute("INSERT INTO predictions SELECT 'silent', * EXCLUDE (run_id) FROM predictions "
                "WHERE run_id = 'ft0'")
    con.close()


def test_a_run_whose_source_wrote_nothing_is_audited_as_such(filled):
    add_silent_run(filled)
    store = Store(filled)
    runs = audit.augmented_runs(store)
    assert runs["run_id"][0] == "silent" and runs["statements"][0] == 0
    silent = audit.load_audit(store, runs).summary.set_index("run_id").loc["silent"]
    assert silent["generated"] == 0 and silent["new_true"] == 0 and silent["coverage"] == 0.0
    assert math.isnan(silent["flops_per_new_fact"])


def test_calibration_of_the_stored_runs(filled):
    store = Store(filled)
    options = whatif.options(store)
    assert len(options) == 1 and options["has_icl"][0] and options["has_ft"][0]
    cal = whatif.load_calibration(store, options["world_id"][0], "default").set_index("run_id")
    assert "bad" not in cal.index and len(cal) == len(RUNS)
    assert cal.loc["loc_mod", "fixed_flops"] == 3e12 + 6e11
    assert cal.loc["icl0", "context_tokens"] == CONTEXT
    assert cal.loc["icl0", "item_tokens"] == ITEM_TOKENS
    assert cal.loc["loc_or", "heldout_accuracy"] == 1.0
    assert cal.loc["loc_mod", "heldout_accuracy"] == pytest.approx(2 / 6)  # 0.4 of 6 items
    assert cal.loc["ft0", "per_query_seconds"] == pytest.approx(2e9 / 4e10)


# ------------------------------------------------------------------ Augmentations page


def test_augmentations_without_a_database_says_what_to_run(data_dir):
    at = open_page(AUGMENTATIONS, db=str(data_dir / "missing.duckdb"))
    assert not at.exception
    assert "No complete run with augmentations" in at.info[0].value
    assert "--aug-source model" in at.code[0].value
    assert not (data_dir / "missing.duckdb").exists()


def test_augmentations_on_an_empty_database_says_what_to_run(data_dir):
    Store(data_dir / "lab.duckdb")
    at = open_page(AUGMENTATIONS)
    assert not at.exception
    assert "No complete run with augmentations" in at.info[0].value
    assert not at.get("plotly_chart")
    assert at.get("page_link")  # to the Experiments page


def test_augmentations_on_a_file_that_is_not_a_database_shows_an_error(data_dir):
    (data_dir / "notes.duckdb").write_text("not a database")
    at = open_page(AUGMENTATIONS, db=str(data_dir / "notes.duckdb"))
    assert not at.exception
    assert "cannot open database" in at.error[0].value


def test_augmentations_compare_oracle_and_model_side_by_side(filled):
    at = open_page(AUGMENTATIONS)
    assert not at.exception
    assert at.multiselect[0].value == ["loc_mod", "loc_or"]  # latest run of each source
    summary = at.dataframe[0].value.set_index("aug_source")
    assert summary.loc["oracle", "precision"] == 1.0
    assert summary.loc["model", "hallucination_rate"] == 0.25
    assert summary.loc["model", "coverage"] == pytest.approx(2 / 6)
    assert len(at.get("plotly_chart")) == 1
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert "oracle vs model" in chart["layout"]["title"]["text"]
    statements = at.dataframe[1].value
    assert len(statements) == 5 + len(build_world("reversals", 0, "quick", {"n_facts": 6})
                                      .oracle_inferences("local"))
    assert set(statements["audit"]) == set(audit.AUDIT_ORDER)
    assert at.query_params["runs"] in (["loc_mod,loc_or"], "loc_mod,loc_or")


def test_augmentations_filter_by_label_and_keep_the_filter_in_the_link(filled):
    at = open_page(AUGMENTATIONS, runs="loc_mod")
    assert at.multiselect[0].value == ["loc_mod"]
    assert len(at.dataframe[0].value) == 1
    at.multiselect(key="audit").set_value([audit.AUDIT_NAMES["false"]]).run()
    assert not at.exception
    statements = at.dataframe[1].value
    assert len(statements) == 1 and statements["audit"].iloc[0] == "false (hallucination)"
    assert at.query_params["audit"] in (["false"], "false")
    at.multiselect(key="scope").set_value(["global"]).run()
    assert at.dataframe[1].value.empty


def test_augmentations_say_when_a_run_wrote_nothing(filled):
    add_silent_run(filled)
    at = open_page(AUGMENTATIONS, runs="silent,loc_or")
    assert not at.exception
    assert "Wrote no statement: ft_global (model)" in at.warning[0].value
    assert list(at.dataframe[0].value["generated"]) == [0, len(build_world(
        "reversals", 0, "quick", {"n_facts": 6}).oracle_inferences("local"))]
    assert len(at.get("plotly_chart")) == 1
    at = open_page(AUGMENTATIONS, runs="silent")
    assert not at.exception and at.warning and not at.get("plotly_chart")


# ------------------------------------------------------------------ What-if page


def test_what_if_without_runs_says_what_to_run(data_dir):
    at = open_page(WHAT_IF, db=str(data_dir / "missing.duckdb"))
    assert not at.exception
    assert "No complete runs" in at.info[0].value and "python -m core run" in at.code[0].value
    Store(data_dir / "lab.duckdb")
    at = open_page(WHAT_IF)
    assert not at.exception
    assert "No complete runs" in at.info[0].value
    assert not at.get("plotly_chart")


def test_what_if_draws_costs_accuracy_and_break_even(filled):
    at = open_page(WHAT_IF, q="1000")
    assert not at.exception
    assert at.select_slider[0].value == 1000
    assert at.number_input[0].value == CONTEXT  # the measured ICL context
    assert at.number_input[1].value == 2.0
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert {trace["name"] for trace in chart["data"]} >= {"icl", "ft", "ft_local (oracle)"}
    assert chart["layout"]["xaxis"]["type"] == "log"
    at_q = at.dataframe[0].value.set_index("label")
    assert at_q.loc["ft_local (oracle)", "accuracy"] == 1.0
    assert at_q.loc["ft", "flops"] == pytest.approx(2.5e12 + 1000 * 2e9)
    table = at.dataframe[1].value.set_index("method")
    assert set(table.index) == {"ft", "ft_local (oracle)"}  # ft_local (model) is at chance
    # ICL: 2e9 x 46 per query; ft: 2e9 per query and 2.5e12 up front.
    assert table.loc["ft", "break-even Q (FLOPs)"] == pytest.approx(2.5e12 / (2e9 * 45))
    assert table.loc["ft", "range over runs (FLOPs)"] == "22 – 33"
    assert at.get("page_link")  # to the Augmentations page


def test_what_if_a_longer_context_brings_the_break_even_closer(filled):
    at = open_page(WHAT_IF)
    before = at.dataframe[1].value.set_index("method").loc["ft", "break-even Q (FLOPs)"]
    at.number_input[0].set_value(CONTEXT * 10).run()
    assert not at.exception
    after = at.dataframe[1].value.set_index("method").loc["ft", "break-even Q (FLOPs)"]
    assert after < before / 5
    assert at.query_params["ctx"] in ([str(CONTEXT * 10)], str(CONTEXT * 10))


def test_what_if_in_dollars(filled):
    at = open_page(WHAT_IF, unit="dollars", price="3.6")
    assert not at.exception
    assert at.radio[0].value == "dollars"
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert "dollars" in chart["layout"]["yaxis"]["title"]["text"]
    at_q = at.dataframe[0].value.set_index("label")
    assert at_q.loc["ft", "dollars"] == pytest.approx(at_q.loc["ft", "seconds"] * 3.6 / 3600)


def test_what_if_without_icl_warns_and_still_draws(data_dir):
    path = data_dir / "lab.duckdb"
    fill(path)
    con = duckdb.connect(str(path))
    con.execute("DELETE FROM runs WHERE method = 'icl'")
    con.close()
    at = open_page(WHAT_IF)
    assert not at.exception
    assert "need both an `icl` run" in at.warning[0].value
    assert "No ICL run" in at.info[0].value
    assert len(at.get("plotly_chart")) == 1


def test_what_if_reopens_the_linked_context_price_and_q(filled):
    at = open_page(WHAT_IF, ctx="5000", price="4.5", q="200")
    assert not at.exception
    assert at.number_input[0].value == 5000 and at.number_input[1].value == 4.5
    assert at.select_slider[0].value == 200

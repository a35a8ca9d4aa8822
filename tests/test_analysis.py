"""core.results.analysis: the Pareto frontier, pooling over seeds, runs side by side, the item table."""

import json
import math

import duckdb
import numpy as np
import pandas as pd
import pytest

from core.results import analysis
from core.running.evaluate import wilson_interval


def test_pareto_keeps_only_runs_no_other_run_beats_on_both_axes():
    compute = [1, 2, 2, 3, 4, 1, 5]
    accuracy = [0.5, 0.5, 0.8, 0.7, 0.9, 0.5, 0.9]
    # (2, .5) loses to (1, .5); (3, .7) to (2, .8); (5, .9) to (4, .9); identical runs both stay.
    assert analysis.pareto_mask(compute, accuracy).tolist() == [True, False, True, False, True, True, False]
    assert analysis.pareto_mask([], []).tolist() == []


def test_frontier_is_sorted_by_compute_and_skips_missing_values():
    frame = pd.DataFrame({"flops": [4.0, 1.0, 2.0, np.nan], "heldout_accuracy": [0.9, 0.2, 0.1, 1.0]})
    best = analysis.frontier(frame, "flops")
    assert best["flops"].tolist() == [1.0, 4.0]


def test_seed_interval_uses_student_t_over_seeds_or_wilson_for_one_run():
    mean, low, high = analysis.seed_interval([0.6, 0.8, 1.0])
    half = 4.303 * 0.2 / math.sqrt(3)  # t with 2 degrees of freedom, not 1.96
    assert mean == pytest.approx(0.8)
    assert (low, high) == pytest.approx((0.8 - half, 1.0))  # clipped at 1
    assert analysis.seed_interval([0.5], correct=10, n=20) == (0.5, *wilson_interval(10, 20))
    assert all(math.isnan(v) for v in analysis.seed_interval([float("nan")]))


def test_student_t_quantiles():
    assert analysis.t975(2) == pytest.approx(4.303)
    assert analysis.t975(40) == pytest.approx(2.021, abs=0.002)  # past the table
    assert analysis.t975(10_000) == pytest.approx(1.960, abs=0.001)


def test_seeds_that_agree_keep_the_uncertainty_of_their_items():
    mean, low, high = analysis.seed_interval([1.0, 1.0, 1.0], correct=60, n=60)
    assert (mean, high) == (1.0, 1.0)
    assert low == pytest.approx(wilson_interval(60, 60)[0]) and low < 0.95


def _covers(interval, n_seeds=3, n_items=30, trials=3000):
    """How often a 95% interval of simulated runs covers the true mean accuracy 0.7, when each
    seed's world has its own true accuracy (sd 0.08) and its own 30 items."""
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(trials):
        truth = np.clip(rng.normal(0.7, 0.08, n_seeds), 0, 1)
        correct = rng.binomial(n_items, truth)
        _, low, high = interval(list(correct / n_items), int(correct.sum()), n_seeds * n_items)
        hits += low <= 0.7 <= high
    return hits / trials


def test_intervals_over_three_seeds_cover_the_truth_95_percent_of_the_time():
    assert _covers(analysis.seed_interval) >= 0.93

    def normal_over_seeds(values, correct, n):  # the former 1.96·sd/√k
        half = 1.96 * np.std(values, ddof=1) / math.sqrt(len(values))
        return np.mean(values), np.mean(values) - half, np.mean(values) + half
    assert _covers(normal_over_seeds) < 0.88  # what this test exists to catch


def test_runs_that_differ_only_in_seeds_form_one_group(store, tables):
    # The FT config carries the seed too; it must not split a group.
    con = duckdb.connect(str(store.path))
    settings = json.loads(con.execute("SELECT settings FROM runs WHERE run_id = 'run3'").fetchone()[0])
    settings["ft"]["seed"] = 1
    con.execute("UPDATE runs SET settings = ? WHERE run_id = 'run3'", [json.dumps(settings)])
    con.close()
    tables = analysis.load_tables(store)
    groups = analysis.group_over_seeds(tables.runs, tables.metrics).set_index("label")
    assert len(groups) == 6  # six methods; the failed run is left out
    local = groups.loc["ft_local (oracle)"]
    assert local["runs"] == 3 and local["run_ids"] == "run5, run6, run7"
    assert local["heldout_mean"] == pytest.approx(0.95)
    half = analysis.t975(2) * np.std([1.0, 0.95, 0.9], ddof=1) / math.sqrt(3)
    assert (local["reversal low"], local["reversal high"]) == pytest.approx((0.95 - half, 1.0))
    assert groups.loc["ft", "runs"] == 3
    single = groups.loc["icl"]
    assert single["runs"] == 1
    assert (single["heldout_low"], single["heldout_high"]) == pytest.approx(wilson_interval(3, 20))


def test_a_different_setting_makes_another_group(store, tables):
    runs = tables.runs.copy()
    runs.loc[runs["run_id"] == "run7", "model"] = "tiny"
    groups = analysis.group_over_seeds(runs, tables.metrics)
    assert sorted(groups[groups["method"] == "ft_local"]["runs"]) == [1, 2]


def test_grouping_nothing_gives_an_empty_table(tables):
    assert analysis.group_over_seeds(tables.runs.iloc[:0], tables.metrics).empty


def test_side_by_side_shows_settings_costs_and_accuracy_and_the_differences(tables):
    table = analysis.side_by_side(tables, ["run2", "run3"])
    assert list(table.columns) == ["ft · seed 0 · run2", "ft · seed 1 · run3"]
    assert table.loc["ft lr"].tolist() == ["0.0002", "0.0002"]
    assert table.loc["train: compute"].tolist() == ["2 TFLOP", "2 TFLOP"]  # numbers for people
    assert table.loc["accuracy: forward", "ft · seed 0 · run2"] == "1.000 [0.80, 1.00]"
    assert analysis.differing_rows(table).index.tolist() == ["training seed"]

    mixed = analysis.side_by_side(tables, ["run1", "run5", "missing"])
    assert mixed.shape[1] == 2
    assert mixed.loc["ft lr"].tolist() == ["", "0.0002"] and mixed.loc["icl max tokens"].tolist() == ["0", ""]
    rows = mixed.index.tolist()
    assert rows.index("augment: compute") < rows.index("train: compute") < rows.index("evaluate: compute")
    differing = set(analysis.differing_rows(mixed).index)
    assert {"method", "augmentation source", "ft lr", "augment: compute"} <= differing


def test_item_table_reads_choices_logprobs_and_facts(store):
    items = analysis.item_table(store.predictions("run1"))  # icl: 10 of 20 forward, 3 of 20 reversal
    assert len(items) == 40 and (~items["right"]).sum() == 27
    first = items.iloc[0]
    assert first["choices"] == "a (-1.00) | b (-2.00)" and first["answer"] == "a"
    assert first["facts"] == "f0" and first["margin"] == pytest.approx(1.0)
    wrong = items[~items["right"]].iloc[0]
    assert wrong["chosen"] == "b"


def test_loss_table_labels_each_run(store):
    curves = analysis.loss_table(store, ["run2", "run5"])
    assert set(curves["label"]) == {"ft · seed 0 · run2", "ft_local (oracle) · seed 0 · run5"}
    assert len(curves) == 20
    assert analysis.loss_table(store, ["run0"]).empty


def test_pool_by_label_keeps_the_widest_interval(tables):
    pooled = analysis.pool_by_label(tables.metrics).set_index(["label", "split"])
    row = pooled.loc[("ft_local (oracle)", "reversal")]
    assert row["runs"] == 3 and row["accuracy"] == pytest.approx(0.95)
    assert row["low"] == pytest.approx(0.7) and row["high"] == 1.0

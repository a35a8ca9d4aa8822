"""The what-if cost model: break-even arithmetic, ICL context scaling, calibration from
measured runs, and the cases where the lines never cross."""

import json
import math

import pandas as pd
import pytest

from core.results import whatif


def test_break_even_is_where_fixed_plus_per_query_lines_cross():
    # Fine-tuning: 100 up front, 1 per query; ICL: 0 up front, 3 per query.
    q = whatif.break_even(fixed_ft=100, per_query_ft=1, fixed_icl=0, per_query_icl=3)
    assert q == 50
    assert whatif.cost_at(100, 1, q) == whatif.cost_at(0, 3, q)
    assert whatif.verdict(q, 100, 1, 0, 3) == "ICL is cheaper below 50 queries, fine-tuning above"


@pytest.mark.parametrize("args, cheaper", [
    ((100, 3, 0, 3), "ICL is cheaper at every Q"),  # parallel: fine-tuning never pays back
    ((100, 5, 0, 3), "ICL is cheaper at every Q"),  # fine-tuned queries cost more
    ((0, 1, 10, 3), "fine-tuning is cheaper at every Q"),  # cheaper up front and per query
    ((0, 3, 0, 3), "they cost the same"),
])
def test_break_even_is_none_when_the_lines_do_not_cross(args, cheaper):
    q = whatif.break_even(*args)
    assert q is None
    assert whatif.verdict(q, *args) == cheaper
    assert whatif.format_q(q) == "never"


def test_a_crossing_the_other_way_says_so():
    # Fine-tuning cheaper up front but dearer per query: it wins only below the crossing.
    q = whatif.break_even(fixed_ft=0, per_query_ft=3, fixed_icl=100, per_query_icl=1)
    assert q == 50
    assert whatif.verdict(q, 0, 3, 100, 1) == "fine-tuning is cheaper below 50 queries, ICL above"


def test_icl_per_query_cost_scales_with_the_tokens_a_query_reads():
    assert whatif.scale_per_query(100.0, 900, 900, 100) == 100.0
    assert whatif.scale_per_query(100.0, 900, 1900, 100) == 200.0  # 2000 tokens instead of 1000
    assert whatif.scale_per_query(100.0, 900, 0, 100) == 10.0  # the item alone
    assert whatif.scale_per_query(100.0, 0, 0, 0) == 100.0  # nothing to scale from


def test_money_is_seconds_at_the_hourly_price():
    assert whatif.dollars(3600, 2.0) == 2.0
    assert whatif.dollars(90, 4.0) == 0.1


def raw_runs() -> pd.DataFrame:
    """Two ICL runs (seeds), two ft runs and one ft_local run, as load_calibration reads them."""
    columns = ["run_id", "method", "aug_source", "seed", "extra", "augment_flops", "augment_seconds",
               "train_flops", "train_seconds", "eval_flops", "eval_seconds", "eval_tokens", "items",
               "heldout_accuracy"]
    icl_extra = json.dumps({"icl_context_tokens": 900, "per_query_flops": 1000.0})
    rows = [
        ("i0", "icl", None, 0, icl_extra, None, None, None, None, 20000.0, 10.0, 2900, 20, 0.2),
        ("i1", "icl", None, 1, icl_extra, None, None, None, None, 20000.0, 10.0, 2900, 20, 0.3),
        ("f0", "ft", None, 0, json.dumps({"per_query_flops": 100.0}), None, None, 60000.0, 30.0,
         2000.0, 1.0, 2000, 20, 0.0),
        ("f1", "ft", None, 1, json.dumps({"per_query_flops": 100.0}), None, None, 120000.0, 60.0,
         2000.0, 1.0, 2000, 20, 0.1),
        # An older run without per_query_flops: evaluate FLOPs / items instead.
        ("l0", "ft_local", "oracle", 0, "{}", 0.0, 0.5, 90000.0, 45.0, 4000.0, 2.0, 2000, 20, 1.0),
    ]
    return pd.DataFrame(rows, columns=columns)


def test_calibration_from_measured_runs():
    cal = whatif.calibrate(raw_runs()).set_index("run_id")
    assert cal.loc["f0", "fixed_flops"] == 60000 and cal.loc["f0", "fixed_seconds"] == 30
    assert cal.loc["i0", "fixed_flops"] == 0 and cal.loc["i0", "fixed_seconds"] == 0
    assert cal.loc["l0", "fixed_flops"] == 90000 and cal.loc["l0", "fixed_seconds"] == 45.5
    assert cal.loc["l0", "per_query_flops"] == 200  # 4000 FLOPs / 20 items
    # Seconds per query: per-query FLOPs at the evaluate phase's throughput. Without a shared
    # context that is evaluate seconds / items; ICL is charged for its context on every query.
    assert cal.loc["f0", "per_query_seconds"] == pytest.approx(1.0 / 20)
    assert cal.loc["i0", "per_query_seconds"] == pytest.approx(1000 * 10 / 20000)
    assert cal.loc["i0", "context_tokens"] == 900 and math.isnan(cal.loc["f0", "context_tokens"])
    assert cal.loc["i0", "item_tokens"] == 100  # (2900 evaluated - 900 context) / 20 items
    assert cal.loc["l0", "label"] == "ft_local (oracle)" and cal.loc["f0", "label"] == "ft"


def test_the_same_flops_per_query_cost_the_same_seconds_whatever_a_run_measured():
    """A run evaluated on a busy machine (ten times slower) is not charged ten times more per
    query: seconds come from one rate, the machine's calibration or else the pooled one."""
    raw = raw_runs()
    raw.loc[raw["run_id"] == "f1", "eval_seconds"] = 10.0  # f0 took 1.0 s for the same work
    pooled = whatif.calibrate(raw).set_index("run_id")
    assert pooled.loc["f0", "per_query_seconds"] == pooled.loc["f1", "per_query_seconds"]
    measured = whatif.calibrate(raw, flops_per_second=1e3).set_index("run_id")
    assert measured.loc["f0", "per_query_seconds"] == measured.loc["f1", "per_query_seconds"] == 0.1
    assert measured.loc["i0", "per_query_seconds"] == 1.0  # 1000 FLOPs at 1000 FLOP/s


def test_a_longer_context_raises_only_icl_per_query_cost():
    cal = whatif.calibrate(raw_runs())
    scaled = whatif.at_context(cal, 1900).set_index("run_id")
    assert scaled.loc["i0", "per_query_flops"] == 2000  # (1900 + 100) / (900 + 100) = 2x
    assert scaled.loc["i0", "per_query_seconds"] == pytest.approx(1.0)
    assert scaled.loc["f0", "per_query_flops"] == 100
    assert whatif.at_context(cal, None).equals(cal)


def test_break_even_table_from_means_with_a_range_over_run_pairs():
    table = whatif.break_even_table(whatif.calibrate(raw_runs()), price=2.0).set_index("method")
    assert list(table.index) == ["ft", "ft_local (oracle)"]
    ft = table.loc["ft"]
    # Mean ft: 90000 FLOPs up front, 100 per query; ICL: 1000 per query -> 100 queries.
    assert ft["break-even Q (FLOPs)"] == pytest.approx(100)
    assert ft["range over runs (FLOPs)"] == "67 – 133"  # 60000/900 .. 120000/900
    assert ft["verdict (FLOPs)"] == "ICL is cheaper below 100 queries, fine-tuning above"
    # In time: 45 s up front, ICL 0.5 s and ft 0.05 s per query -> 100 queries as well.
    assert ft["break-even Q (time)"] == pytest.approx(100)
    assert ft["runs"] == "2 ICL × 2"
    assert table.loc["ft_local (oracle)", "break-even Q (FLOPs)"] == pytest.approx(90000 / 800)


def test_break_even_range_says_never_when_a_pair_does_not_cross():
    raw = raw_runs()
    raw.loc[raw["run_id"] == "f1", "extra"] = json.dumps({"per_query_flops": 5000.0})
    ft = whatif.break_even_table(whatif.calibrate(raw), 2.0).set_index("method").loc["ft"]
    assert ft["range over runs (FLOPs)"].endswith("– never")


def test_no_icl_run_means_no_break_even_table():
    raw = raw_runs()
    assert whatif.break_even_table(whatif.calibrate(raw[raw["method"] != "icl"]), 2.0).empty


def test_methods_average_their_runs_and_cost_at_q_in_every_unit():
    methods = whatif.by_method(whatif.calibrate(raw_runs())).set_index("label")
    assert methods.loc["ft", "runs"] == 2 and methods.loc["ft", "fixed_flops"] == 90000
    assert methods.loc["icl", "accuracy"] == pytest.approx(0.25)
    assert (methods.loc["icl", "accuracy_low"], methods.loc["icl", "accuracy_high"]) == (0.2, 0.3)
    at = whatif.totals_at(methods.reset_index(), 1000, price=3.6).set_index("label")
    assert at.loc["ft", "flops"] == 90000 + 1000 * 100
    assert at.loc["ft", "seconds"] == pytest.approx(45 + 1000 * 0.05)
    assert at.loc["ft", "dollars"] == pytest.approx(at.loc["ft", "seconds"] * 3.6 / 3600)


def test_curves_and_their_grid_span_the_users_q_and_the_crossings():
    grid = whatif.query_grid(3000, [100.0, None, math.nan, 20000.0])
    assert grid[0] == 1 and 3000 in grid and grid[-1] == pytest.approx(200000)
    methods = whatif.by_method(whatif.calibrate(raw_runs()))
    lines = whatif.curves(methods, [1, 10], "flops", 2.0)
    assert len(lines) == 2 * len(methods)
    ft = lines[lines["label"] == "ft"].set_index("queries")["cost"]
    assert ft[1] == 90100 and ft[10] == 91000

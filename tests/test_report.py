"""core.results.report: the self-contained HTML report, CSV and Parquet exports, the link to a view."""

import io
import re
from datetime import datetime

import pandas as pd

from core.results import analysis, report


def test_report_is_one_small_file_with_verdict_accuracy_cost_and_charts(store, tables):
    runs = tables.complete["run_id"].tolist()
    costs = report.cost_views(store, tables, runs, queries=1e6, price=2.0)
    page = report.html_report(tables, runs, analysis.loss_table(store, ["run2", "run5"]),
                              title="Reversals <quick>", when=datetime(2026, 11, 2, 9, 30),
                              costs=costs)
    for chart in ("chart-compute", "chart-accuracy", "chart-loss", "chart-cost-"):
        assert f'id="{chart}' in page
    assert "<script" not in page  # SVG charts: nothing runs, nothing is fetched
    assert len(page.encode()) < 200_000  # small enough to mail (it was 4.8 MB with plotly.js)
    assert "<h1>Reversals &lt;quick&gt;</h1>" in page and "2026-11-02 09:30" in page
    assert "Pareto frontier" in page
    assert all(run in page for run in runs)
    assert "ft_local (oracle) · seed 1 · run6" in page  # tables name runs by label
    # The order a reader needs: the verdict, accuracy, then what it costs at their volume.
    order = [page.index(h) for h in ("<h2>Verdict</h2>", "<h2>Accuracy per split</h2>",
                                     "<h2>Cost</h2>", "<h2>Accuracy against compute</h2>",
                                     "<h2>Runs and their settings</h2>")]
    assert order == sorted(order)
    assert "The best method on held-out items is ft_local_global (oracle)" in page
    assert "total at Q = 1,000,000" in page  # no break-even here: ICL is at chance (0.15)
    assert "FLOP" in page and "$" in page  # numbers for people: 4.6 GFLOP, 12.3 s, $0.41
    # Settings by their names, not JSON, and only those that differ from the defaults.
    assert '{"ft"' not in page and "ft mode full" not in page and "<td>defaults</td>" in page
    assert report._readable('{"ft": {"epochs": 3, "lr": 0.0002}}', report.DEFAULT_SETTINGS) \
        == "ft epochs 3"


def test_the_cost_section_offers_only_methods_that_work_and_their_break_even(data_dir):
    from test_app_audit_whatif import fill as fill_with_working_icl

    from core.storage.store import Store
    fill_with_working_icl(data_dir / "lab.duckdb")
    store = Store(data_dir / "lab.duckdb")
    tables = analysis.load_tables(store)
    [view] = report.cost_views(store, tables, tables.complete["run_id"].tolist(), queries=5000)
    assert "icl" in set(view.at_q["label"]) and "pretrained" not in set(view.at_q["label"])
    assert "ft_local (model)" not in set(view.break_even["method"])  # at chance: excluded
    assert len(view.break_even) and view.queries == 5000 and "FLOP" in view.calibrated
    page = report.html_report(tables, tables.complete["run_id"].tolist(), costs=[view])
    assert "Break-even against ICL" in page and "total at Q = 5,000" in page


def test_report_without_loss_curves_leaves_that_chart_out(tables):
    page = report.html_report(tables, ["run0", "run1"], None, x="seconds")
    assert 'id="chart-compute"' in page and 'id="chart-loss"' not in page
    assert "total time (seconds)" in page and "No cost section" in page


def test_export_has_one_row_per_run_and_split_and_round_trips(tables):
    table = report.export_table(tables, ["run1", "run5", "bad"])
    assert len(table) == 4 and list(table.columns) == report.EXPORT_COLUMNS
    assert set(table["split"]) == {"forward", "reversal"}
    back = pd.read_csv(io.BytesIO(report.to_csv(table)))
    pd.testing.assert_frame_equal(back, table, check_dtype=False)
    back = pd.read_parquet(io.BytesIO(report.to_parquet(table)))
    pd.testing.assert_frame_equal(back, table)


def test_view_link_reopens_the_selection():
    assert report.view_query(["a1", "b2"]) == "?runs=a1,b2"
    assert report.view_query(["a1"], db="/data/x.duckdb") == "?runs=a1&db=/data/x.duckdb"
    assert report.view_query([]) == ""
    assert report.page_url("http://host:8501/Share", "Compare", "?runs=a") == "http://host:8501/Compare?runs=a"
    assert report.page_url("http://host:8501/lab/Share?runs=b", "Results", "") == "http://host:8501/lab/Results"


def test_report_charts_have_real_colours_even_after_streamlit_is_imported():

    import streamlit  # noqa: F401  (it changes plotly's default template)

    from core.results import charts
    totals = pd.DataFrame({"heldout_accuracy": [0.5, 0.9], "flops": [1e12, 2e12], "label": ["a", "b"],
                           "run_id": ["r1", "r2"], "model": ["m", "m"], "seed": [0, 0]})
    colours = [t.marker.color for t in charts.compute_chart(totals).data if t.marker.color]
    assert colours and not any(re.fullmatch(r"#0000\d\d", str(c)) for c in colours)


def test_the_report_command_writes_the_same_report(store, tmp_path, capsys):
    from core.__main__ import main
    out = tmp_path / "report.html"
    assert main(["report", "--db", str(store.path), "--out", str(out), "--queries", "5000"]) == 0
    page = out.read_text()
    assert "<h2>Verdict</h2>" in page and "total at Q = 5,000" in page
    assert '"runs": 10' in capsys.readouterr().out
    assert main(["report", "--db", str(store.path), "--runs", "nope", "--out", str(out)]) == 2
    assert capsys.readouterr().err.startswith("error: no run nope in ")
    assert main(["report", "--db", str(store.path), "--queries", "nan", "--out", str(out)]) == 2
    assert capsys.readouterr().err.startswith("error: --queries must be a number")
    assert out.read_text() == page  # a refused request leaves the earlier report as it was


def test_app_charts_read_like_numbers_for_people():
    from core.results import charts
    totals = pd.DataFrame({"heldout_accuracy": [0.5, 0.9], "flops": [1e12, 2e14], "label": ["a", "b"],
                           "run_id": ["r1", "r2"], "model": ["m", "m"], "seed": [0, 0]})
    axis = charts.compute_chart(totals).layout.xaxis
    assert axis.dtick == 1 and axis.exponentformat == "SI"  # 1T, 10T, 100T: one label a decade
    acc = pd.DataFrame({"label": ["ft", "icl"], "split": ["reversal"] * 2, "accuracy": [0.0, 0.6],
                        "low": [0.0, 0.4], "high": [0.1, 0.8], "chance": [0.5, 0.5]})
    bars = charts.accuracy_chart(acc).data
    assert all(b.texttemplate == "%{y:.2f}" for b in bars)  # a bar at 0 still says 0.00


def test_svg_charts_label_a_narrow_log_axis_and_keep_the_legend_inside():
    from core.results import svg
    narrow = svg.chart("c", "t", [svg.Series("a", "#000", [2e9, 4e9], [0.5, 0.6])],
                       svg.Axis("compute", log=True, ticks=lambda v: f"{v:g}"), svg.Axis("acc"))
    assert narrow.count('text-anchor="middle">') >= 3  # ticks inside one decade (2e9, 5e9...)
    many = [svg.Series(f"run {k}", "#000", [1, 2], [k, k + 1], mode="lines") for k in range(40)]
    crowded = svg.chart("d", "t", many, svg.Axis("step"), svg.Axis("loss"))
    assert "more (hover the chart)" in crowded and "run 39</text>" not in crowded

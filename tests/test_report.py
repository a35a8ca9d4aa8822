"""core.results.report: the self-contained HTML report, CSV and Parquet exports, the link to a view."""

import io
import re
from datetime import datetime

import pandas as pd

from core.results import analysis, report


def test_report_embeds_every_chart_and_plotly_js_once_inline(store, tables):
    runs = tables.complete["run_id"].tolist()
    page = report.html_report(tables, runs, analysis.loss_table(store, ["run2", "run5"]),
                              title="Reversals <quick>", when=datetime(2026, 11, 2, 9, 30))
    for div in ("chart-compute", "chart-accuracy", "chart-loss"):
        assert f'id="{div}"' in page
    assert len(re.findall(r"<script[^>]*\bsrc\s*=", page)) == 0  # nothing fetched: opens offline
    assert page.count("plotly.js v") == 1  # the library's banner: embedded once
    assert "<h1>Reversals &lt;quick&gt;</h1>" in page and "2026-11-02 09:30" in page
    assert "Pareto frontier" in page
    assert all(run in page for run in runs)
    assert "ft_local (oracle) · seed 1 · run6" in page  # accuracy table names runs by label
    assert "bad" not in runs
    # It opens with the verdict in words, before the charts.
    assert page.index("<h2>Verdict</h2>") < page.index("<h2>Charts</h2>")
    assert "The best method on held-out items is ft_local_global (oracle)" in page


def test_report_without_loss_curves_leaves_that_chart_out(tables):
    page = report.html_report(tables, ["run0", "run1"], None, x="seconds")
    assert 'id="chart-compute"' in page and 'id="chart-loss"' not in page
    assert "total time (seconds)" in page


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
    import re

    import streamlit  # noqa: F401  (it changes plotly's default template)

    from core.results import charts
    totals = pd.DataFrame({"heldout_accuracy": [0.5, 0.9], "flops": [1e12, 2e12], "label": ["a", "b"],
                           "run_id": ["r1", "r2"], "model": ["m", "m"], "seed": [0, 0]})
    colours = [t.marker.color for t in charts.compute_chart(totals).data if t.marker.color]
    assert colours and not any(re.fullmatch(r"#0000\d\d", str(c)) for c in colours)

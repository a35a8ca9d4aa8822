"""Share: choose runs, download a self-contained HTML report (opens offline), the metrics as CSV
or Parquet, and copy a link that reopens the selection. Reports and exports come from
core.results.report; this page only offers them."""

import pandas as pd
import streamlit as st

from core.paths import default_db_path
from core.results import analysis, charts, report
from core.storage.store import Store
from core.worlds.custom import browser_roots
from ui.common import RUN_COMMAND, database_box, link_number, load_tables, tables_or_stop

st.set_page_config(page_title="Share · ICL vs fine-tuning lab", layout="wide")
st.title("Share results")


@st.cache_data(ttl=60, show_spinner="Writing the report…")
def make_report(db: str, run_ids: tuple[str, ...], x: str, title: str, queries: float,
                price: float) -> str:
    tables, store = load_tables(db), Store(db, read_only=True)
    trained = tables.runs[tables.runs["run_id"].isin(run_ids) & tables.runs["has_loss_curve"]]
    curves = analysis.loss_table(store, trained["run_id"].tolist()) if len(trained) else None
    costs = report.cost_views(store, tables, run_ids, queries, price)
    return report.html_report(tables, run_ids, curves, x=x, title=title, costs=costs,
                              custom_roots=browser_roots())


db = database_box()
tables = tables_or_stop(db, "to share")
if tables.complete.empty:
    st.info(f"No complete runs in {db} yet. Produce runs to share with:\n\n`{RUN_COMMAND}`")
    st.stop()

# The link's selection, else every complete run.
labels = dict(zip(tables.complete["run_id"].iloc[::-1], tables.complete["run_label"].iloc[::-1]))
if "runs" not in st.session_state:
    linked = [r for r in st.query_params.get("runs", "").split(",") if r in labels]
    st.session_state.runs = linked or list(labels)
chosen = st.multiselect("runs to share", list(labels), key="runs", format_func=labels.get,
                        placeholder="choose runs")
if not chosen:
    st.query_params.pop("runs", None)
    st.info("Choose at least one run to share.")
    st.stop()
st.query_params["runs"] = ",".join(chosen)

left, middle, right = st.columns([2, 1, 1])
title = left.text_input("report title", value="ICL vs fine-tuning: results")
x = left.radio("compute axis in the report", list(charts.X_AXES), format_func=charts.X_AXES.get,
               horizontal=True)
queries = middle.number_input("the reader's number of queries", min_value=1, step=1000,
                              value=int(link_number("q", 1_000_000, 1, 1e15, above_low=False)),
                              help="the report's cost section: each method's cost at this many "
                                   "queries, and the break-even against ICL")
price = right.number_input("hardware price ($ per hour)", min_value=0.0, step=0.5, format="%.2f",
                           value=link_number("price", 2.0, 0.0, 1e6, above_low=False))

table = report.export_table(tables, chosen)
stamp = pd.Timestamp.now().strftime("%Y%m%d-%H%M")
st.subheader("Downloads")
columns = st.columns(3)
columns[0].download_button("HTML report", make_report(db, tuple(chosen), x, title, queries, price),
                           file_name=f"icl-vs-ft-report-{stamp}.html", mime="text/html",
                           help="One small file: the verdict, accuracy per split, cost at the "
                                "reader's volume with the break-even, the charts (SVG) and "
                                "the runs' settings; it opens without a network.")
columns[1].download_button("metrics (CSV)", report.to_csv(table), file_name=f"icl-vs-ft-metrics-{stamp}.csv",
                           mime="text/csv")
columns[2].download_button("metrics (Parquet)", report.to_parquet(table),
                           file_name=f"icl-vs-ft-metrics-{stamp}.parquet",
                           mime="application/vnd.apache.parquet")
st.caption("Metrics: one row per run and split, with the run's settings, the split's accuracy "
           "and 95% interval, held-out accuracy and total compute. A single chart as PNG or SVG: "
           "use the camera icon in that chart's toolbar on the app's pages.")

st.subheader("Link to this view")
current = st.context.url or "http://localhost:8501/Share"
query = report.view_query(chosen, db=None if db == str(default_db_path()) else db)
st.text_input("link to this view", report.page_url(current, "Share", query),
              help="Opens this page with these runs chosen, for a colleague who reads the same "
                   "database")
st.code(query, language=None)
st.caption("Colleagues who open it need the same database file (send it along, or the CSV/Parquet "
           "export). The same selection on other pages: "
           f"[Results]({report.page_url(current, 'Results', query)}) · "
           f"[Compare]({report.page_url(current, 'Compare', query)}).")

st.subheader("Preview of the metrics")
st.dataframe(table, hide_index=True, key="metrics")

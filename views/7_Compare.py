"""Compare: tick runs, see their settings side by side (all of them, or only where they
differ) and their accuracy per split together. The chosen runs live in the link."""

import streamlit as st

from core.results import analysis, charts
from ui.common import database_box, tables_or_stop

st.set_page_config(page_title="Compare · ICL vs fine-tuning lab", layout="wide")
st.title("Compare runs")


db = database_box()
tables = tables_or_stop(db, "to compare")

# Newest first; by default the two newest complete runs, or the link's selection.
labels = dict(zip(tables.runs["run_id"].iloc[::-1], tables.runs["run_label"].iloc[::-1]))
if "runs" not in st.session_state:
    linked = [r for r in st.query_params.get("runs", "").split(",") if r in labels]
    st.session_state.runs = linked or tables.complete["run_id"].iloc[::-1].head(2).tolist()
chosen = st.multiselect("runs", list(labels), key="runs", format_func=labels.get,
                        placeholder="choose runs to compare")
if chosen:
    st.query_params["runs"] = ",".join(chosen)
else:
    st.query_params.pop("runs", None)
    st.info("Choose two or more runs to compare.")
    st.stop()

st.subheader("Settings side by side")
if "diff" not in st.session_state:
    st.session_state.diff = st.query_params.get("diff") == "1"
only_diff = st.toggle("differences only", key="diff", help="Show only the rows where not all runs agree.")
if only_diff:
    st.query_params["diff"] = "1"
else:
    st.query_params.pop("diff", None)
table = analysis.side_by_side(tables, chosen)
shown = analysis.differing_rows(table) if only_diff else table
if shown.empty:
    st.info("These runs agree on every setting.")
else:
    st.dataframe(shown, key="settings", height=min(35 * (len(shown) + 1) + 3, 900))
st.caption("One column per run. FT settings appear for fine-tuned runs, the ICL context size for "
           "ICL runs; costs are per phase (augment, train, evaluate). Accuracy cells read "
           "'accuracy [95% interval]'.")

st.subheader("Accuracy per split")
metrics = tables.metrics[tables.metrics["run_id"].isin(chosen)]
if metrics.empty:
    st.info("None of these runs is complete, so there are no accuracies to compare.")
else:
    st.plotly_chart(charts.accuracy_chart(metrics, color="run_label", color_title="run",
                                          title="Accuracy per split of the chosen runs, "
                                                "with 95% intervals and chance (dashed)"),
                    config=charts.CONFIG)
    st.caption("Error bars are 95% Wilson intervals over each run's test items. The camera icon "
               "in the chart's toolbar downloads it as an SVG image.")

st.page_link("views/8_Share.py", label="Share these runs (HTML report, CSV, Parquet, link)",
             query_params={"runs": ",".join(chosen), "db": db})

"""Runs: every run with its status and error, filtered by status, method, model, world kind and
augmentation source; and the runs grouped by setting, pooled over seeds with 95% intervals.
Aggregation lives in core.results.analysis; this page only filters and draws."""

import pandas as pd
import streamlit as st

from core.results import analysis
from ui.common import database_box, tables_or_stop

# Filter name -> (column of the runs table, label of the widget).
FILTERS = {"status": ("status", "status"), "method": ("method", "method"), "model": ("model", "model"),
           "kind": ("kind", "world kind"), "source": ("aug_source", "augmentation source")}
NONE = "(none)"  # how a missing augmentation source shows in the filter

st.set_page_config(page_title="Runs · ICL vs fine-tuning lab", layout="wide")
st.title("Runs")
st.caption("Every run in the database. Click a column header to sort; the filters and the view "
           "are kept in the page's link.")


def filter_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Multiselect filters (empty means everything), each starting from the link."""
    columns = st.columns(len(FILTERS))
    mask = pd.Series(True, index=runs.index)
    for (key, (column, label)), place in zip(FILTERS.items(), columns):
        values = runs[column].astype(object).where(runs[column].notna(), NONE)
        options = sorted(values.unique())
        if key not in st.session_state:
            st.session_state[key] = [v for v in st.query_params.get(key, "").split(",") if v in options]
        chosen = place.multiselect(label, options, key=key, placeholder="all")
        if chosen:
            st.query_params[key] = ",".join(chosen)
            mask &= values.isin(chosen)
        else:
            st.query_params.pop(key, None)
    return runs[mask]


db = database_box()
tables = tables_or_stop(db, "to list")

runs = filter_runs(tables.runs)
views = ["every run", "grouped over seeds"]
if "view" not in st.session_state:
    st.session_state.view = st.query_params.get("view") if st.query_params.get("view") in views else views[0]
view = st.radio("view", views, key="view", horizontal=True)
st.query_params["view"] = view

if view == "every run":
    table = runs.merge(analysis.split_accuracy(tables.metrics).add_prefix("accuracy: "),
                       left_on="run_id", right_index=True, how="left")
    table["duration"] = (table["finished_at"] - table["created_at"]).dt.total_seconds()
    table = table.sort_values("created_at", ascending=False, ignore_index=True)
    shown = ["run_label", "label", "status", "error", "model", "kind", "preset", "world_seed",
             "heldout_accuracy", *[c for c in table if c.startswith("accuracy: ")], "flops",
             "created_at", "duration", "settings", "world_params", "run_id"]
    picked = st.dataframe(
        table[shown], hide_index=True, key="runs", on_select="rerun", selection_mode="multi-row",
        column_config={
            "run_label": "run", "label": "method", "kind": "world", "world_seed": "world seed",
            "run_id": "id",
            "created_at": st.column_config.DatetimeColumn("started (UTC)", format="YYYY-MM-DD HH:mm"),
            "duration": st.column_config.NumberColumn("duration (s)", format="%.0f"),
            "heldout_accuracy": st.column_config.NumberColumn("held-out accuracy", format="%.2f"),
            "flops": st.column_config.NumberColumn("total FLOPs", format="compact"),
            "world_params": "world parameters"})
    st.caption(f"{len(runs)} of {len(tables.runs)} runs. Failed runs show their error; a run whose "
               "process died shows 'interrupted'. Tick rows to compare or share them.")
    chosen = list(table["run_id"].iloc[picked.selection.rows]) if picked.selection.rows else []
    if chosen:
        selection = {"runs": ",".join(chosen), "db": db}
        left, right = st.columns(2)
        left.page_link("views/7_Compare.py", label=f"Compare the {len(chosen)} chosen runs",
                       query_params=selection)
        right.page_link("views/8_Share.py", label=f"Share the {len(chosen)} chosen runs",
                        query_params=selection)
else:
    groups = analysis.group_over_seeds(runs, tables.metrics)
    if groups.empty:
        st.info("No complete runs match these filters.")
        st.stop()
    number = st.column_config.NumberColumn(format="%.3f")
    st.dataframe(groups, hide_index=True, key="groups",
                 column_config={c: number for c in groups if c.endswith((" mean", " low", " high"))}
                 | {"heldout_mean": st.column_config.NumberColumn("held-out mean", format="%.3f"),
                    "heldout_low": st.column_config.NumberColumn("held-out 95% low", format="%.3f"),
                    "heldout_high": st.column_config.NumberColumn("held-out 95% high", format="%.3f"),
                    "coverage": st.column_config.NumberColumn("held-out coverage", format="%.2f"),
                    "augmentation_empty": "augmentation added nothing",
                    "label": "method", "kind": "world", "runs": "seeds (runs)",
                    "seeds": "seeds (world/training)", "world_params": "world parameters",
                    "method": None})
    st.caption("Runs with every setting equal except the world seed and the training seed form one "
               "row. " + analysis.INTERVAL_NOTE + " Coverage: the mean share of held-out items "
               "the runs were given word for word.")

st.page_link("views/7_Compare.py", label="Compare runs side by side")

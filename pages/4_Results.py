"""Results: accuracy per split with 95% intervals, held-out accuracy against compute, and the
table of runs. Reads the store through core.store and draws; no science here."""

from pathlib import Path

import pandas as pd
import plotly.express as px
import streamlit as st

from core.errors import LabError
from core.paths import default_db_path
from core.store import Store

RUN_COMMAND = ("python -m core run --world reversals "
               "--methods pretrained,icl,ft,ft_local,ft_global,ft_local_global")
X_AXES = {"flops": "total compute (FLOPs, log scale)", "seconds": "total time (seconds)"}
ACCURACY = "accuracy (fraction correct)"

st.set_page_config(page_title="Results · ICL vs fine-tuning lab", layout="wide")
st.title("Results")


@st.cache_data(ttl=10, show_spinner="Reading the database…")
def load(db: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    store = Store(db)
    return store.runs(), store.metrics(), store.run_totals()


def with_label(frame: pd.DataFrame) -> pd.DataFrame:
    """Method name, with the augmentation source when there is one: 'ft_local (oracle)'."""
    frame = frame.copy()
    frame["label"] = [m if pd.isna(a) else f"{m} ({a})"
                      for m, a in zip(frame["method"], frame["aug_source"])]
    return frame


def choose(column, label: str, values: pd.Series, allow_all: bool = False):
    """A selectbox when there is a choice to make; None (no filter) otherwise."""
    options = list(dict.fromkeys(values.dropna()))  # distinct, latest run's value last
    if len(options) <= 1:
        return None
    options = (["all"] if allow_all else []) + sorted(options)
    default = options.index(values.dropna().iloc[-1]) if not allow_all else 0
    return column.selectbox(label, options, index=default)


# The database path and the x axis live in the URL, so a copied link reopens this view.
if "db" not in st.session_state:
    st.session_state.db = st.query_params.get("db") or str(default_db_path())
if "x" not in st.session_state:
    st.session_state.x = st.query_params.get("x") if st.query_params.get("x") in X_AXES else "flops"
db = st.text_input("Database file", key="db")
st.query_params["db"] = db

no_results = f"No complete runs in {db} yet. Produce results with:\n\n`{RUN_COMMAND}`"
if not Path(db).is_file():
    st.info(no_results)
    st.stop()
try:
    runs, metrics, totals = load(db)
except LabError as error:
    st.error(str(error))
    st.stop()

if runs[runs["status"] == "complete"].empty:
    st.info(no_results)
else:
    complete = runs[runs["status"] == "complete"]
    columns = st.columns(3)
    kind = choose(columns[0], "world kind", complete["kind"])
    model = choose(columns[1], "model", complete["model"])
    source = choose(columns[2], "augmentation source", complete["aug_source"], allow_all=True)

    def keep(frame: pd.DataFrame) -> pd.DataFrame:
        mask = pd.Series(True, index=frame.index)
        if kind is not None:
            mask &= frame["kind"] == kind
        if model is not None:
            mask &= frame["model"] == model
        if source not in (None, "all"):  # methods without augmentation stay for comparison
            mask &= frame["aug_source"].isna() | (frame["aug_source"] == source)
        return with_label(frame[mask])

    # a. Accuracy per split: several runs of one method pool into their mean, with the widest
    # interval (lowest low, highest high) so no run's uncertainty is hidden.
    acc = (keep(metrics).groupby(["label", "split"], sort=False)
           .agg(accuracy=("accuracy", "mean"), low=("low", "min"), high=("high", "max"),
                chance=("chance", "mean"), runs=("run_id", "nunique"))
           .reset_index())
    acc["above"] = acc["high"] - acc["accuracy"]
    acc["below"] = acc["accuracy"] - acc["low"]
    fig = px.bar(acc, x="split", y="accuracy", color="label", barmode="group",
                 error_y="above", error_y_minus="below",
                 hover_data={"low": ":.2f", "high": ":.2f", "runs": True,
                             "above": False, "below": False},
                 title="Accuracy per split, with 95% intervals and chance (dashed)",
                 labels={"split": "split", "accuracy": ACCURACY, "label": "method"})
    chances = acc.groupby("chance")["split"].unique()
    for chance, splits in chances.items():
        where = f" ({', '.join(splits)})" if len(chances) > 1 else ""
        fig.add_hline(y=chance, line_dash="dash", line_color="gray",
                      annotation_text=f"chance {chance:.2f}{where}")
    fig.update_yaxes(range=[0, 1.05])
    st.plotly_chart(fig)

    # b. Held-out accuracy against compute, one point per run.
    x = st.radio("x axis", list(X_AXES), key="x", horizontal=True, format_func=X_AXES.get)
    st.query_params["x"] = x
    points = keep(totals).dropna(subset=["heldout_accuracy", x])
    points = points[points[x] > 0] if x == "flops" else points  # a log axis has no zero
    fig = px.scatter(points, x=x, y="heldout_accuracy", color="label", log_x=x == "flops",
                     hover_data=["run_id", "model", "world_id"],
                     title="Held-out accuracy vs compute, one point per run",
                     labels={x: X_AXES[x], "heldout_accuracy": "held-out " + ACCURACY,
                             "label": "method", "world_id": "world"})
    fig.update_yaxes(range=[-0.05, 1.05])
    st.plotly_chart(fig)

# c. Every run, newest first, failed ones with their error.
if runs.empty:
    st.stop()
st.subheader("Runs")
table = with_label(runs).sort_values("created_at", ascending=False)
st.dataframe(table[["run_id", "status", "error", "label", "model", "kind", "created_at"]],
             hide_index=True,
             column_config={"label": "method", "kind": "world", "created_at": "created (UTC)"})

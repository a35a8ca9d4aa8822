"""Results: held-out accuracy against compute with the Pareto frontier, accuracy per split with
95% intervals, loss curves of chosen runs, a per-item browser for one run, and the table of
runs. Reads the store through core and draws; the view lives in the link (st.query_params)."""


import pandas as pd
import streamlit as st

from core.results import analysis, charts, verdict
from core.storage.store import Store
from ui.common import RUN_COMMAND, database_box, shortcut_lines, tables_or_stop

st.set_page_config(page_title="Results · ICL vs fine-tuning lab", layout="wide")
st.title("Results")


@st.cache_data(ttl=10, show_spinner=False)
def load_curves(db: str, run_ids: tuple[str, ...]) -> pd.DataFrame:
    return analysis.loss_table(Store(db, read_only=True), run_ids)


@st.cache_data(ttl=10, show_spinner=False)
def load_items(db: str, run_id: str) -> pd.DataFrame:
    return analysis.item_table(Store(db, read_only=True).predictions(run_id))


def from_link(key: str, options: list, default, many: bool = False) -> None:
    """Start a widget from the link's value (once per session), so a copied link reopens this
    view; values the data no longer has fall back to the default."""
    if key in st.session_state:
        return
    if many:
        chosen = [v for v in st.query_params.get(key, "").split(",") if v in options]
        st.session_state[key] = chosen or default
    else:
        value = st.query_params.get(key)
        st.session_state[key] = value if value in options else default


def to_link(key: str, value) -> None:
    value = ",".join(value) if isinstance(value, list) else value
    if value in (None, "", False):
        st.query_params.pop(key, None)
    else:
        st.query_params[key] = str(value)


def choose(column, key: str, label: str, values: pd.Series, allow_all: bool = False):
    """A selectbox when there is a choice to make; None (no filter) otherwise."""
    options = list(dict.fromkeys(values.dropna()))  # distinct, latest run's value last
    if len(options) <= 1:
        return None
    options = (["all"] if allow_all else []) + sorted(options)
    from_link(key, options, "all" if allow_all else values.dropna().iloc[-1])
    value = column.selectbox(label, options, key=key)
    to_link(key, value)
    return value


# The database path and every choice below live in the URL, so a copied link reopens this view.
db = database_box()

tables = tables_or_stop(db, "to draw")
runs = tables.runs

if tables.complete.empty:
    st.info(f"No complete runs in {db} yet. Produce results with:\n\n`{RUN_COMMAND}`")
else:
    complete = tables.complete
    columns = st.columns(3)
    kind = choose(columns[0], "kind", "world kind", complete["kind"])
    model = choose(columns[1], "model", "model", complete["model"])
    source = choose(columns[2], "source", "augmentation source", complete["aug_source"], allow_all=True)

    def keep(frame: pd.DataFrame) -> pd.DataFrame:
        mask = pd.Series(True, index=frame.index)
        if kind is not None:
            mask &= frame["kind"] == kind
        if model is not None:
            mask &= frame["model"] == model
        if source not in (None, "all"):  # methods without augmentation stay for comparison
            mask &= frame["aug_source"].isna() | (frame["aug_source"] == source)
        return frame[mask]

    shown = keep(complete)

    # The answer in words, from these runs (one world kind, preset and model at a time).
    st.subheader("Verdict")
    setting = shown[["kind", "preset", "world_params", "model"]].drop_duplicates()
    if len(setting) != 1:
        st.info("Choose one world kind and model above (runs of one preset and parameters) to "
                "see which method they support.")
    else:
        found = verdict.evidence(shown, tables.metrics[tables.metrics["run_id"].isin(shown["run_id"])])
        st.markdown(verdict.decide(found, model=setting["model"].iloc[0],
                                   shortcut_warnings=shortcut_lines(shown)).markdown())
        st.page_link("views/6_What_if.py", label="Weigh the methods that work by their cost at "
                                                 "your number of queries (What-if)")

    # a. Held-out accuracy against compute, with the Pareto frontier.
    st.subheader("Generalization against compute")
    from_link("x", list(charts.X_AXES), "flops")
    x = st.radio("x axis", list(charts.X_AXES), key="x", horizontal=True, format_func=charts.X_AXES.get)
    to_link("x", x)
    st.plotly_chart(charts.compute_chart(shown, x), config=charts.CONFIG)
    st.caption("Held-out accuracy is measured on the world's held-out splits (items never stated "
               "in training, such as reversals). The dashed step line is the Pareto frontier: the "
               "runs no other run beats with both higher-or-equal accuracy and lower-or-equal "
               "compute. Coverage (in each point's tooltip and the table below) is the share of "
               "held-out items the run was given word for word, in its training data with "
               "augmentations or in its context: accuracy up to it can be memory rather than "
               "inference (an oracle augmentation usually covers them all). The camera icon in "
               "each chart's toolbar downloads it as an SVG image.")

    # b. Accuracy per split: runs of one method pool into their mean, with the widest interval.
    st.subheader("Accuracy per split")
    st.plotly_chart(charts.accuracy_chart(analysis.pool_by_label(keep(tables.metrics))),
                    config=charts.CONFIG)
    st.caption("Bars pool every run of a method (mean accuracy); the error bar spans the widest "
               "95% Wilson interval of those runs. The dashed line is chance: a model that learned "
               "nothing sits there. The Runs page pools seeds properly, per setting.")

    # c. Loss curves of several runs on one chart.
    st.subheader("Training loss")
    trained = shown[shown["has_loss_curve"]].iloc[::-1]  # newest first
    if trained.empty:
        st.info("None of these runs was fine-tuned, so there are no loss curves.")
    else:
        labels = dict(zip(trained["run_id"], trained["run_label"]))
        from_link("runs", list(labels), list(labels)[:3], many=True)
        chosen = st.multiselect("runs to draw", list(labels), key="runs", format_func=labels.get)
        to_link("runs", chosen)
        if chosen:
            st.plotly_chart(charts.loss_chart(load_curves(db, tuple(chosen))), config=charts.CONFIG)

    # d. Every item of one run.
    st.subheader("Items of one run")
    labels = dict(zip(shown["run_id"].iloc[::-1], shown["run_label"].iloc[::-1]))
    if labels:
        from_link("run", list(labels), next(iter(labels)))
        left, middle, right = st.columns([3, 2, 1])
        run_id = left.selectbox("run", list(labels), key="run", format_func=labels.get)
        to_link("run", run_id)
        items = load_items(db, run_id)
        splits = ["all", *sorted(items["split"].unique())]
        from_link("split", splits, "all")
        split = middle.selectbox("split", splits, key="split")
        to_link("split", None if split == "all" else split)
        if "wrong" not in st.session_state:
            st.session_state.wrong = st.query_params.get("wrong") == "1"
        wrong = right.toggle("wrong only", key="wrong")
        to_link("wrong", "1" if wrong else None)
        view = items if split == "all" else items[items["split"] == split]
        view = view[~view["right"]] if wrong else view
        st.caption(f"{len(view)} of {len(items)} items. Choices show each one's log-probability "
                   "after the prompt; the highest is chosen. Margin: the right answer's "
                   "log-probability minus the best other choice (below 0 when wrong). Facts: the "
                   "world's facts the item needs.")
        st.dataframe(view, hide_index=True, key="items",
                     column_config={"margin": st.column_config.NumberColumn(format="%.2f")})

# e. Every run, newest first, failed ones with their error.
with st.expander("All runs", expanded=tables.complete.empty):
    table = runs.sort_values("created_at", ascending=False)
    st.dataframe(table[["run_id", "status", "error", "label", "model", "kind", "heldout_accuracy",
                        "heldout_coverage", "created_at"]],
                 hide_index=True,
                 column_config={"label": "method", "kind": "world", "created_at": "created (UTC)",
                                "heldout_accuracy": st.column_config.NumberColumn(
                                    "held-out accuracy", format="%.2f"),
                                "heldout_coverage": st.column_config.NumberColumn(
                                    "held-out coverage", format="%.2f",
                                    help="share of held-out items the run was given word for "
                                         "word (training data with augmentations, or context)")})
    st.page_link("views/3_Runs.py", label="Sort, filter and group the runs on the Runs page")

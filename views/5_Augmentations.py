"""Augmentations: every statement a run's augmentation step wrote, with its audit label, and
what the step was worth: precision, hallucination rate, coverage of the held-out items, and
compute per correct new fact. The audit itself is in core.results.audit; this page draws it."""


import pandas as pd
import plotly.express as px
import streamlit as st

from core.errors import LabError
from core.results import audit
from core.storage.store import Store
from ui.common import database_box, load_or_stop

RUN_COMMAND = ("python -m core run --world reversals --methods ft_local,ft_global "
               "--aug-source model\npython -m core run --world reversals --methods ft_local,ft_global "
               "--aug-source oracle")
SCOPES = ["local", "global"]
# Short names in the link for the audit labels, so a copied link stays readable.
AUDIT_KEYS = {"true": audit.AUDIT_NAMES["true"], "false": audit.AUDIT_NAMES["false"],
              "unparseable": audit.AUDIT_NAMES["unparseable"], "in_data": audit.IN_DATA}
COLORS = {audit.AUDIT_NAMES["true"]: "#2ca02c", audit.AUDIT_NAMES["false"]: "#d62728",
          audit.AUDIT_NAMES["unparseable"]: "#7f7f7f", audit.IN_DATA: "#1f77b4"}
DOWNLOAD = {"toImageButtonOptions": {"format": "svg", "filename": "augmentation_audit"}}

st.set_page_config(page_title="Augmentations · ICL vs fine-tuning lab", layout="wide")
st.title("Augmentations")
st.caption("Before fine-tuning, `ft_local` and `ft_global` add statements written by a source: "
           "the model itself (in context) or the world's oracle (its true inferences, an upper "
           "bound). The world's judge labels every statement: true, false (a hallucination), "
           "not parseable, or already in the training data (it teaches nothing new).")


@st.cache_data(ttl=10, show_spinner="Reading the database…")
def load_runs(db: str) -> pd.DataFrame:
    return audit.augmented_runs(Store(db, read_only=True))


@st.cache_data(ttl=10, show_spinner="Auditing…")
def load_audit(db: str, runs: pd.DataFrame) -> audit.Audit:
    return audit.load_audit(Store(db, read_only=True), runs)


def from_link(name: str) -> list[str] | None:
    value = st.query_params.get(name)
    return value.split(",") if value else None


def default_runs(runs: pd.DataFrame) -> list[str]:
    """The latest run of each source, so oracle and model sit side by side when both exist."""
    return list(runs.drop_duplicates("aug_source")["run_id"])  # runs are newest first


# The database, runs and filters live in the link, so a copied link reopens this view.
db = database_box()

no_runs = (f"No complete run with augmentations in {db} yet. Fine-tune with augmentations "
           "from each source, then come back:")

runs = load_or_stop(db, load_runs, no_runs, RUN_COMMAND)

labels = dict(zip(runs["run_id"], runs["label"]))
if "runs" not in st.session_state:
    chosen = [r for r in from_link("runs") or [] if r in labels]
    st.session_state.runs = chosen or default_runs(runs)
selected = st.multiselect("Runs", list(labels), key="runs", format_func=labels.get,
                          help="Runs that fine-tuned with augmentations, newest first.")
st.query_params["runs"] = ",".join(selected)
if not selected:
    st.info("Choose at least one run.")
    st.stop()

try:
    result = load_audit(db, runs[runs["run_id"].isin(selected)])
except LabError as error:
    st.error(str(error))
    st.stop()

# Figures per run, side by side.
st.subheader("What each run's augmentation produced")
summary = result.summary.set_index("run_id").loc[selected].reset_index()
st.dataframe(
    summary[["run", "aug_source", "generated", "parsed", "precision", "hallucination_rate",
             "coverage", "new_true", "flops_per_new_fact", "seconds_per_new_fact"]],
    hide_index=True,
    column_config={
        "aug_source": "source",
        "generated": st.column_config.NumberColumn("statements generated"),
        "parsed": st.column_config.NumberColumn("parsed", help="statements the judge could read"),
        "precision": st.column_config.NumberColumn("precision", format="percent",
                                                   help="true / parsed"),
        "hallucination_rate": st.column_config.NumberColumn("hallucination rate", format="percent",
                                                            help="false / parsed"),
        "coverage": st.column_config.NumberColumn(
            "coverage of held-out items", format="percent",
            help="held-out items whose correct statement is among the run's true statements"),
        "new_true": st.column_config.NumberColumn("true new facts",
                                                  help="true and not already in the training data"),
        "flops_per_new_fact": st.column_config.NumberColumn("FLOPs per new fact", format="%.3g",
                                                            help="augment-phase FLOPs / true new facts"),
        "seconds_per_new_fact": st.column_config.NumberColumn("seconds per new fact", format="%.3g",
                                                              help="augment-phase seconds / true new facts"),
    })
st.caption("Empty cells are undefined: nothing parsed, or no true new fact to divide by. "
           "The oracle reads its inferences from the world, so its compute is near zero.")

silent = summary.loc[summary["generated"] == 0, "run"]
if len(silent):
    st.warning("Wrote no statement: " + "; ".join(silent) + ". Small models often write nothing "
               "the world can parse; the oracle source shows what a perfect writer would add.")

counts = result.counts[result.counts["run_id"].isin(selected)]
if counts.empty:
    st.stop()
both_sources = counts["aug_source"].nunique() > 1
fig = px.bar(counts, x="run", y="count", color="audit", barmode="stack",
             facet_col="aug_source" if both_sources else None,
             category_orders={"audit": audit.AUDIT_ORDER, "run": list(summary["run"])},
             color_discrete_map=COLORS,
             title="Statements per run by audit label" + (", oracle vs model" if both_sources else ""),
             labels={"count": "statements (count)", "audit": "audit label", "aug_source": "source"})
if both_sources:  # each source's panel shows only its own runs
    fig.update_xaxes(matches=None, showticklabels=True)
st.plotly_chart(fig, config=DOWNLOAD)
st.caption("The camera icon in the chart's toolbar downloads it as SVG.")

# Every statement, filterable.
st.subheader("Statements")
left, right = st.columns(2)
if "audit" not in st.session_state:
    keys = [k for k in from_link("audit") or AUDIT_KEYS if k in AUDIT_KEYS]
    st.session_state.audit = [AUDIT_KEYS[k] for k in keys]
if "scope" not in st.session_state:
    st.session_state.scope = [s for s in from_link("scope") or SCOPES if s in SCOPES]
audits = left.multiselect("Audit label", audit.AUDIT_ORDER, key="audit")
scopes = right.multiselect("Scope", SCOPES, key="scope",
                           help="local: rephrasings and reversals of one sentence; "
                                "global: inferences linking a document to the whole training set")
st.query_params["audit"] = ",".join(k for k, name in AUDIT_KEYS.items() if name in audits)
st.query_params["scope"] = ",".join(scopes)

shown = audit.filter_statements(result.statements, audits, scopes)
st.dataframe(shown[["run", "scope", "source", "audit", "statement"]], hide_index=True)
st.caption(f"{len(shown)} of {len(result.statements)} statements.")
st.download_button("Download these statements (CSV)", shown.to_csv(index=False),
                   file_name="augmentations.csv", mime="text/csv")
st.page_link("views/6_What_if.py", label="What would each method cost at your number of queries?")

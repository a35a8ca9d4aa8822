"""Home page of the ICL vs fine-tuning lab: what it answers, how to get results, the headline
chart. The other pages live in pages/; none of them holds science, only calls to core."""

from pathlib import Path

import pandas as pd
import plotly.express as px
import streamlit as st

from core.errors import LabError
from core.paths import default_db_path
from core.store import Store

RUN_COMMAND = ("python -m core run --world reversals "
               "--methods pretrained,icl,ft,ft_local,ft_global,ft_local_global")

st.set_page_config(page_title="ICL vs fine-tuning lab", layout="wide")
st.title("ICL vs fine-tuning lab")
st.markdown(
    "A language model can learn new facts in two ways: put them **in the prompt** "
    "(in-context learning, ICL) or **train them in** (fine-tuning). "
    "A hybrid uses the model in context to write inferences from the facts (rephrasings, "
    "reversals, links between documents) and adds them to the fine-tuning data. "
    "This lab measures how well each method generalizes to facts it was never shown "
    "directly, against the compute it costs.")

st.subheader("Produce results")
st.markdown("Run the methods from the command line, then open **Results**:")
st.code(RUN_COMMAND, language="bash")
st.warning(
    "With the default 135M-parameter model, ICL copies the comparative it read in context, "
    "so its reversal accuracy stays at or below chance. The oracle augmentation source "
    "(`--aug-source oracle`, the default) and larger models of your own (`--model`) show "
    "the rest of the picture.")


@st.cache_data(ttl=10, show_spinner=False)
def load_totals(db: str) -> pd.DataFrame:
    return Store(db).run_totals()


db = st.query_params.get("db") or str(default_db_path())
if Path(db).is_file():
    try:
        totals = load_totals(db).dropna(subset=["heldout_accuracy", "flops"])
    except LabError as error:
        st.error(str(error))
        totals = pd.DataFrame()
    totals = totals[totals["flops"] > 0] if len(totals) else totals
    if len(totals):
        totals["method label"] = [m if pd.isna(a) else f"{m} ({a})"
                                  for m, a in zip(totals["method"], totals["aug_source"])]
        fig = px.scatter(totals, x="flops", y="heldout_accuracy", color="method label",
                         log_x=True, hover_data=["run_id", "model", "world_id"],
                         title="Held-out accuracy vs total compute, one point per run",
                         labels={"flops": "total compute (FLOPs, log scale)",
                                 "heldout_accuracy": "held-out accuracy (fraction correct)"})
        fig.update_yaxes(range=[-0.05, 1.05])
        st.subheader("Headline")
        st.plotly_chart(fig)

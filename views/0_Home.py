"""Home page of the ICL vs fine-tuning lab (app.py opens it first): what it answers, a
one-click demo that runs in the background, the headline chart. None of the pages holds
science, only calls to core."""

from pathlib import Path

import pandas as pd
import streamlit as st

from core.errors import LabError
from core.paths import default_db_path
from core.queue import jobs, progress
from core.results import charts
from core.results.analysis import method_label
from core.results.published import Published, published, published_kinds
from core.storage.store import Store
from ui.access import may_change
from ui.common import confined_or_stop

RUN_COMMAND = ("python -m core run --world reversals "
               "--methods pretrained,icl,ft,ft_local,ft_global,ft_local_global")
DEMO_MODEL = "default"

st.set_page_config(page_title="ICL vs fine-tuning lab", layout="wide")
st.title("ICL vs fine-tuning lab")
st.markdown(
    "A language model can learn new facts in two ways: put them **in the prompt** (in-context "
    "learning, ICL) or **train them in** (fine-tuning), or a hybrid of both, where the model "
    "writes inferences from the facts in context (rephrasings, reversals, links between "
    "documents) that are added to the fine-tuning data. "
    "This lab measures how well each method generalizes to what it was never shown directly, on "
    "synthetic worlds of nonsense words so that nothing can come from pretraining. "
    "It sets that against the compute each method costs, per query and up front, so you can "
    "see which one pays off for your use.")
st.warning(
    "The built-in model is small (135 million parameters). It learns facts by fine-tuning, but "
    "it does not reason over facts placed in its prompt: it repeats them as written. So here, "
    "putting knowledge in the prompt looks worse than it does with larger models; to compare "
    "the two fairly, run the lab on a larger model of your own (a model folder on the "
    "Experiments page).")

db = confined_or_stop(st.query_params.get("db") or str(default_db_path()), "the database file")


@st.cache_data(ttl=10, show_spinner=False)
def load_totals(db: str) -> pd.DataFrame:
    return Store(db, read_only=True).run_totals()


@st.cache_data(ttl=60, show_spinner=False)
def calibration(db: str) -> dict | None:
    """The newest calibration of the default model in this database (the first run on a
    machine stores its own)."""
    return Store(db, read_only=True).calibration(DEMO_MODEL)


def expected_demo(db: str) -> float:
    measured = calibration(db)
    return progress.expected_demo_seconds(measured["flops_per_second"] if measured else None)


def demo_promise(db: str) -> str:
    """How long the demo should take: the measured reference scaled by the calibration."""
    measured, expected = calibration(db), progress.format_duration(expected_demo(db))
    if measured:
        return (f"about {expected} on {measured['machine']} "
                f"({measured['flops_per_second'] / 1e9:.0f} GFLOP/s measured)")
    return f"about {expected} on a 2-core CPU with AVX2 (a machine is measured at its first run)"


def latest_demo(show_error: bool = True) -> dict | None:
    try:
        return next((job for job in jobs.list_jobs() if job["args"][:1] == ["demo"]), None)
    except LabError as error:  # e.g. a data folder that cannot be written
        if show_error:
            st.error(str(error))
        return None


st.subheader("Try it")
demo = latest_demo()
busy = demo is not None and demo["state"] in jobs.ACTIVE
allowed = may_change("run the demo")
if st.button("Run the quick demo", type="primary", disabled=busy or not allowed,
             help="all six methods on the quick reversals world with the default model, in the "
                  "background; the results land in the chart below"):
    try:
        jobs.launch_demo(DEMO_MODEL, db, expected_demo(db))
        st.rerun()  # redraw with the button disabled while the demo is on
    except LabError as error:
        st.error(str(error))


@st.fragment(run_every=2)
def demo_progress() -> None:
    """The latest demo job's progress, redrawn on its own every 2 seconds."""
    job = latest_demo(show_error=False)  # said once above
    if job is None:
        st.caption("The demo runs all six methods on the quick `reversals` world and stores them; "
                   f"it takes {demo_promise(db)}, longer while other work shares the CPU.")
    elif job["state"] == "queued":
        st.info("The demo is queued behind other jobs.")
    elif job["state"] == "running":
        p = job["progress"]
        text = ("starting: loading the model and the world…" if not p or p["phase"] == "starting"
                else f"run {p['run_index']}/{p['runs_total']} · {p['method']} · {p['phase']} · "
                     f"ETA {progress.format_duration(job['eta'])} (expected in all: {demo_promise(db)})")
        st.progress(job["fraction"], text=text)
    elif job["state"] == "finished":
        st.success("The demo finished: its runs are in the chart below.")
    elif job["state"] == "failed":
        st.error(f"The demo failed: {job['error']}")
    else:
        st.caption("The last demo was cancelled.")
    # When a demo ends, redraw the whole page once so that the chart shows its runs.
    active = job is not None and job["state"] in jobs.ACTIVE
    if st.session_state.get("demo_active") and not active:
        st.session_state["demo_active"] = False
        load_totals.clear()
        st.rerun()
    st.session_state["demo_active"] = active
    st.page_link("views/2_Experiments.py", label="Watch the queue, or launch your own experiments")


demo_progress()
st.markdown("Or from the command line (then open **Results**):")
st.code(RUN_COMMAND, language="bash")


@st.cache_data(show_spinner=False)
def study_kinds() -> list[str]:
    return published_kinds()


@st.cache_data(show_spinner=False)
def study_result(kind: str) -> Published | None:
    return published(kind)


def show_the_study() -> None:
    """Before a user's first run: what the lab's own study found on a world of the user's
    choice (kept in the link), with its model and date."""
    kinds = study_kinds()
    if not kinds:
        return
    st.subheader("What the lab's own study found")
    wanted = st.query_params.get("study")
    kind = st.selectbox("World", kinds, index=kinds.index(wanted) if wanted in kinds else 0,
                        help="The study ran every method on several seeds of each of these "
                             "worlds; the table says how many.")
    if kind == kinds[0]:  # the default stays out of the link
        st.query_params.pop("study", None)
    else:
        st.query_params["study"] = kind
    study = study_result(kind)
    st.caption(f"{study.preset.capitalize()} `{study.kind}` world, model `{study.model}` "
               f"(SmolLM2-135M), measured {study.dates} (code {study.code}); every run is in "
               "docs/study/results.jsonl, every table and finding in docs/study.md. The demo "
               "above runs the same methods on one seed of the reversals world in a few minutes.")
    st.markdown(study.verdict.markdown())
    st.dataframe(study.table, hide_index=True)


totals = pd.DataFrame()
if Path(db).is_file():
    try:
        totals = load_totals(db).dropna(subset=["heldout_accuracy", "flops"])
    except LabError as error:
        st.error(str(error))
    totals = totals[totals["flops"] > 0] if len(totals) else totals
if not len(totals):
    show_the_study()
else:
    totals["label"] = [method_label(m, a) for m, a in zip(totals["method"], totals["aug_source"])]
    st.subheader("Headline")
    st.plotly_chart(charts.compute_chart(totals), config=charts.CONFIG)  # as on Results
    st.caption("Up and to the left is better: more of the held-out questions right for less "
               "compute. The camera icon in the chart's toolbar downloads it as an SVG image.")

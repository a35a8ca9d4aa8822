"""Experiments: choose a world, methods, model, seeds and training settings, launch them as
background jobs, and watch the queue (progress with ETA, log, cancel, rerun). Jobs are
processes of their own: closing the page or restarting the app does not stop them."""

import dataclasses
import json
import shlex
from datetime import datetime
from pathlib import Path

import pandas as pd
import streamlit as st

from core.errors import LabError
from core.methods import METHODS, REGISTRY
from core.methods.config import SOURCES, SPLITTINGS, FTConfig, offered_teachers
from core.paths import REPO_ROOT, default_db_path, model_roots
from core.queue import experiment as experiments
from core.queue import jobs, progress
from core.running.executors import EXECUTORS
from core.running.spec import RunSpec
from core.storage.store import EARLIER_VERSION, Store
from core.worlds import get_kind, kind_names
from ui.access import may_change
from ui.common import DATABASE_HELP, confined_or_stop
from ui.params import parameter_widgets

SHOWN_JOBS = 20
STATE_ICONS = {"queued": "⏳", "running": "▶️", "finished": "✅", "failed": "❌", "cancelled": "⏹️"}
MODELS = {"default": "default (SmolLM2-135M)", "tiny": "tiny (random weights, plumbing only)",
          "folder": "a model folder or hub id"}

st.set_page_config(page_title="Experiments · ICL vs fine-tuning lab", layout="wide")
st.title("Experiments")
st.caption("Pick a world and the methods to compare, launch, and watch. Each training seed is one "
           "job; jobs run one at a time, in the order launched, in the background: you can close "
           "this page and come back.")

params = st.query_params
allowed = may_change("launch, cancel or rerun jobs")
db = confined_or_stop(params.get("db") or str(default_db_path()), "the database file")


@st.cache_data(ttl=5, show_spinner=False)
def stored_worlds(db: str) -> pd.DataFrame:
    if not Path(db).is_file():  # looking must not create a database
        return pd.DataFrame()
    return Store(db, read_only=True).worlds()


@st.cache_data(ttl=5, show_spinner=False)
def load_interrupted(db: str, may_write: bool) -> pd.DataFrame:
    if not Path(db).is_file():
        return pd.DataFrame()
    # A writer marks runs whose process died; a viewer only reads.
    return Store(db, read_only=not may_write).interrupted_runs()


def new_world() -> dict:
    kinds = kind_names()
    left, middle, right = st.columns(3)
    wanted = params.get("kind", "reversals")
    kind = left.selectbox("kind", kinds, index=kinds.index(wanted) if wanted in kinds else 0)
    presets = list(get_kind(kind).presets)
    wanted = params.get("preset", "quick")
    preset = middle.selectbox("preset", presets, index=presets.index(wanted) if wanted in presets else 0)
    seed = int(right.number_input("world seed", min_value=0, max_value=10**6, step=1,
                                  value=int(params.get("seed", 0)),
                                  help="the same kind, parameters and seed always give the same world"))
    st.query_params.update({"kind": kind, "preset": preset, "seed": str(seed)})
    with st.expander("Parameters"):
        overrides = parameter_widgets(kind, preset, "exp")
    return {"world_kind": kind, "preset": preset, "world_seed": seed, "overrides": overrides}


def stored_world() -> dict | None:
    try:
        worlds = stored_worlds(db)
    except LabError as error:
        st.error(str(error))
        return None
    if worlds.empty:
        st.info(f"No world is stored in {db} yet: store one on the Worlds page, or choose "
                "“a new world”.")
        return None
    ids = list(worlds.world_id)
    wanted = params.get("world")
    rows = {row.world_id: row for row in worlds.itertuples()}

    def describe(world_id: str) -> str:
        """Kind, seed, preset, size and only the parameters changed from the preset: the raw
        id holds every parameter and is too long to read."""
        row = rows[world_id]
        stored = json.loads(row.params) if isinstance(row.params, str) else dict(row.params)
        changed = experiments.world_overrides(row.kind, row.preset, stored)
        extra = f" · {', '.join(f'{k}={v}' for k, v in changed.items())}" if changed else ""
        earlier = (" · earlier version (a new run uses today's generator)"
                   if world_id.endswith(EARLIER_VERSION) else "")
        return (f"{row.kind} · seed {row.seed} · {row.preset}{extra} · {row.n_facts} facts, "
                f"{row.n_documents} documents{earlier}")

    world_id = st.selectbox("stored world", ids, index=ids.index(wanted) if wanted in ids else 0,
                            format_func=describe)
    st.query_params["world"] = world_id
    row = rows[world_id]
    stored = json.loads(row.params) if isinstance(row.params, str) else dict(row.params)
    return {"world_kind": row.kind, "preset": row.preset, "world_seed": int(row.seed),
            "overrides": experiments.world_overrides(row.kind, row.preset, stored)}


# ---------------------------------------------------------------- choosing

st.subheader("1 · World")
origin = st.radio("world", ["new", "stored"], horizontal=True, label_visibility="collapsed",
                  index=1 if params.get("world") else 0,
                  format_func={"new": "a new world", "stored": "a world stored in the database"}.get)
if origin == "new":
    params.pop("world", None)
world = new_world() if origin == "new" else stored_world()

st.subheader("2 · Methods and model")
methods = st.multiselect("methods", METHODS, default=list(METHODS),
                         help="; ".join(f"{m.name}: {m.summary}" for m in REGISTRY.values()))
left, right = st.columns(2)
model_choice = left.radio("model", list(MODELS), format_func=MODELS.get, horizontal=True)
model = model_choice
if model_choice == "folder":
    model = left.text_input("model folder or hub id", placeholder="/path/to/model or org/name",
                            help="a folder under " + " or ".join(map(str, model_roots()))
                                 + " (LAB_MODEL_ROOTS sets them), or a hub id already cached")
    if not experiments.is_hub_id(model):  # default and tiny are the other choice
        model = confined_or_stop(model, "the model folder", model_roots())
source = right.selectbox("augmentation source", SOURCES,
                         help="oracle: the world's own true inferences (an upper bound); model: "
                              "the model writes them in context, as the study does; teacher: "
                              "another model writes them")
teacher = ""
if source == "teacher":
    teacher = right.selectbox("teacher", offered_teachers(),
                              help="the default model, or a server or model folder that whoever "
                                   "started the app listed in LAB_TEACHERS (docs/methods.md)")

st.subheader("3 · Seeds and training")
base = FTConfig()
seeds_text = st.text_input("training seeds", value="0",
                           help="one job per seed: '0,1,2' or '0-4'. The seed draws the training "
                                "order, the ICL subsample and the model's augmentations.")
a, b, c, d, e, f = st.columns(6)
ft_mode = a.selectbox("fine-tuning", ["full", "lora"], index=["full", "lora"].index(base.mode))
splitting = b.selectbox("sentence splitting", SPLITTINGS, index=SPLITTINGS.index(base.splitting))
epochs = int(c.number_input("epochs", min_value=1, max_value=1000, value=base.epochs, step=1))
lr = float(d.number_input("learning rate", min_value=1e-7, max_value=0.5, value=base.lr,
                          step=1e-5, format="%.1e"))
batch_size = int(e.number_input("batch size", min_value=1, max_value=1024, value=base.batch_size,
                                step=1))
icl_max_tokens = int(f.number_input("ICL max tokens", min_value=0, value=0, step=256,
                                    help="0: as many as the model's context holds"))
ICL_FILLS = {"sample": "a seeded sample (does not look at the test)",
             "needed_first": "needed facts first (an upper bound: reads the test)"}
icl_fill = st.radio("When the training set does not fit the ICL context", list(ICL_FILLS),
                    format_func=ICL_FILLS.get, horizontal=True)
# A job is one world, and worker processes split a sweep by world: here they would gain nothing.
executor = st.radio("Where the runs run", [e for e in EXECUTORS if e != "processes"],
                    format_func=EXECUTORS.get,
                    horizontal=True)

st.divider()
db = confined_or_stop(st.text_input("Database file", value=db, help=DATABASE_HELP),
                      "the database file")
if db != str(default_db_path()):
    st.query_params["db"] = db


def experiment(seeds: list[int]) -> experiments.Experiment:
    ft = dataclasses.replace(base, mode=ft_mode, splitting=splitting, epochs=epochs, lr=lr,
                             batch_size=batch_size)
    specs = [RunSpec(method=m, **(world or {}), model=model.strip(), aug_source=source,
                     teacher=teacher, ft=ft, icl_max_tokens=icl_max_tokens, icl_fill=icl_fill)
             for m in methods]
    return experiments.Experiment(specs, seeds, executor)


if st.button("Launch", type="primary", disabled=world is None or not allowed):
    try:
        launched = experiment(experiments.parse_seeds(seeds_text)).launch(db)
        st.success(f"Queued {len(launched)} job{'s' if len(launched) > 1 else ''}: see the queue below.")
    except LabError as error:
        st.error(str(error))
with st.expander("The same from the command line"):
    try:
        if world is None:
            raise LabError("choose a world first")
        preview = experiment(experiments.parse_seeds(seeds_text))
        st.code("\n".join(shlex.join(["python", "-m", "core", "run", *preview.run_args(s), "--db", db])
                          for s in preview.seeds), language="bash")
    except LabError as error:
        st.caption(str(error))


# ---------------------------------------------------------------- watching


def link(page: str, label: str) -> None:
    """A link to another page, if that page exists in this version of the app."""
    if (REPO_ROOT / page).exists():
        st.page_link(page, label=label)


def act(action) -> None:
    """Do what a queue button asks, then redraw the page at once; the outcome is told after
    the redraw (a message drawn now would vanish with it)."""
    try:
        st.session_state["queue_message"] = ("toast", action())
    except LabError as error:
        st.session_state["queue_message"] = ("error", str(error))
    st.rerun()


def progress_text(job: dict) -> str:
    p = job["progress"]
    if not p or p["phase"] == "starting":
        return "starting: loading the model and the world…"
    return (f"run {p['run_index']}/{p['runs_total']} · {p['method']} · {p['phase']} "
            f"{p['fraction']:.0%} · {job['fraction']:.0%} of the job · "
            f"ETA {progress.format_duration(job['eta'])}")


def job_card(job: dict) -> None:
    state, job_id = job["state"], job["job_id"]
    with st.container(border=True):
        head, action = st.columns([6, 1])
        head.markdown(f"{STATE_ICONS[state]} **{job['label']}** — {state}")
        launched = datetime.fromtimestamp(job["created"]).strftime("%Y-%m-%d %H:%M:%S")
        head.caption(f"job {job_id} · launched {launched}")
        if allowed and state in jobs.ACTIVE and action.button("Cancel", key=f"cancel-{job_id}"):
            act(lambda: f"Cancelled {jobs.cancel(job_id)['label']}")
        elif allowed and state not in jobs.ACTIVE and action.button("Rerun", key=f"rerun-{job_id}"):
            act(lambda: f"Queued again as job {jobs.rerun(job_id)['job_id']}")
        if job["state"] == "running":
            st.progress(job["fraction"], text=progress_text(job))
        elif job["state"] == "queued":
            st.caption(f"queued: {job['ahead']} job(s) before it" if job.get("ahead")
                       else "queued: starts next")
        elif job["state"] == "failed":
            st.error(job["error"])
        elif job["state"] == "finished" and job["started"] and job["finished"]:
            st.caption(f"finished in {progress.format_duration(job['finished'] - job['started'])}")
        with st.expander("Command and log"):
            st.code(job["command"], language="bash")
            st.code("\n".join(job["log_tail"]) or "(nothing yet)", language=None)


def interrupted_section() -> None:
    try:
        interrupted = load_interrupted(db, allowed)
    except LabError as error:
        st.error(str(error))
        return
    if interrupted.empty:
        return
    st.subheader("Interrupted runs")
    st.caption("Runs whose process stopped before they ended (cancelled, killed, the machine "
               "restarted) and that no later run has repeated. Rerun queues the same run again.")
    for row in interrupted.to_dict("records"):
        text, action = st.columns([6, 1])
        source_text = f" ({row['aug_source']})" if isinstance(row["aug_source"], str) else ""
        text.markdown(f"**{row['method']}**{source_text} on {row['kind']} (world seed "
                      f"{row['world_seed']}, {row['preset']}) · model {row['model']} · seed "
                      f"{row['seed']} · started {row['created_at']:%Y-%m-%d %H:%M}")
        if allowed and action.button("Rerun", key=f"rerun-run-{row['run_id']}"):
            act(lambda row=row: "Queued as job "
                f"{experiments.experiment_from_run(row).launch(db)[0]['job_id']}")


@st.fragment(run_every=2)
def queue() -> None:
    """Redrawn every 2 seconds on its own, so the page above never waits for it."""
    st.subheader("Queue")
    kind, message = st.session_state.pop("queue_message", (None, None))
    if kind == "toast":
        st.toast(message)
    elif kind == "error":
        st.error(message)
    try:
        all_jobs = jobs.list_jobs()
    except LabError as error:
        st.error(str(error))
        return
    if not all_jobs:
        st.info("No jobs yet. Launch one above, or run the quick demo from the home page.")
    for job in all_jobs[:SHOWN_JOBS]:
        job_card(job)
    if len(all_jobs) > SHOWN_JOBS:
        st.caption(f"{len(all_jobs) - SHOWN_JOBS} older jobs are not shown (their files are in "
                   f"{jobs.jobs_dir()}).")
    if any(job["state"] == "finished" for job in all_jobs):
        link("views/3_Runs.py", "See the runs")
        link("views/4_Results.py", "See the results")
    interrupted_section()


queue()

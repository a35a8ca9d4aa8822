"""Worlds: choose a kind, preset, parameters and seed; see counts per split, sample documents,
items with the correct choice marked, and a picture of the structure. Store it, or launch a
run on it in the background."""

import pandas as pd
import streamlit as st

from core.errors import LabError
from core.methods import METHODS
from core.paths import default_db_path, model_roots
from core.queue import jobs
from core.queue.experiment import is_hub_id
from core.storage.store import Store
from core.worlds import build_world, get_kind, kind_names
from core.worlds.custom import DEFAULT_PATH, browser_roots, resolve, save_upload
from ui.access import may_change
from ui.common import DATABASE_HELP, confined_or_stop
from ui.graph import graph_figure
from ui.params import parameter_widgets

st.set_page_config(page_title="Worlds · ICL vs fine-tuning lab", layout="wide")
st.title("Worlds")
st.caption("A world is a synthetic body of knowledge built from nonsense words, so nothing in it "
           "can come from pretraining. The same kind, parameters and seed always give the same world.")


@st.cache_data(show_spinner="Building the world…")
def make_world(kind: str, seed: int, preset: str, overrides: tuple):
    """The world's parts as plain data (cached per settings)."""
    world = build_world(kind, seed, preset, dict(overrides))
    return {"counts": world.counts(), "documents": [d.text for d in world.documents],
            "items": [vars(i) | {"choices": list(i.choices)} for i in world.items],
            "graph": world.structure.get("graph", {}), "held_out": world.held_out_splits,
            "facts": len(world.facts), "world_id": world.world_id}


@st.cache_data(show_spinner="Checking for shortcuts…")
def shortcut_rows(world_id: str, _kind: str, _seed: int, _preset: str, _overrides: tuple) -> list:
    """The world's shortcut check (core/shortcuts/), cached by the world's id alone: the
    arguments after it only rebuild the world that id names."""
    from core.shortcuts import shortcut_table
    world = build_world(_kind, _seed, _preset, dict(_overrides))
    return [{"guesser": r.guesser, "split": r.split, "scope": r.scope, "accuracy": r.accuracy,
             "chance": r.chance, "allowed": r.allowed, "passes": r.passes}
            for r in shortcut_table(world)]


kinds = kind_names()
params = st.query_params
allowed = may_change("upload, store or launch")
left, middle, right = st.columns(3)
kind = left.selectbox("kind", kinds, index=kinds.index(params.get("kind", "reversals"))
                      if params.get("kind", "reversals") in kinds else 0)
spec = get_kind(kind)
presets = list(spec.presets)
preset = middle.selectbox("preset", presets, index=presets.index(params.get("preset", "quick"))
                          if params.get("preset", "quick") in presets else 0)
seed = int(right.number_input("seed", min_value=0, max_value=10**6,
                              value=int(params.get("seed", 0)), step=1))
st.query_params.update({"kind": kind, "preset": preset, "seed": str(seed)})

if kind == "custom" and allowed:
    upload = st.file_uploader("Your world as a JSONL file (format: docs/worlds.md, 'custom')",
                              type=["jsonl", "json", "txt"])
    if upload is not None:
        # The path widget below starts from the saved upload; errors name the line and field.
        try:
            saved = save_upload(upload.getvalue(), upload.name)
            st.session_state[f"world-custom-{preset}-path"] = str(saved)
        except LabError as error:
            st.error(str(error))

with st.expander("Parameters", expanded=kind == "custom"):
    overrides = parameter_widgets(kind, preset, "world")
if kind == "custom":  # a browser user reads files of the data folder and the examples only
    confined_or_stop(str(resolve(str(overrides.get("path", DEFAULT_PATH)))), "the custom world file",
                     browser_roots())

try:
    world = make_world(kind, seed, preset, tuple(sorted(overrides.items())))
except LabError as error:
    st.error(str(error))
    st.stop()

counts = pd.DataFrame([{"split": s, "items": n, "held out": s in world["held_out"]}
                       for s, n in world["counts"].items()])
a, b, c = st.columns(3)
a.metric("facts", world["facts"])
b.metric("training documents", len(world["documents"]))
c.metric("test items", int(counts["items"].sum()))
st.dataframe(counts, hide_index=True)

docs_tab, items_tab, picture_tab = st.tabs(["Sample documents", "Items per split", "Structure"])
with docs_tab:
    for text in world["documents"][:8]:
        st.code(text, language=None)
with items_tab:
    split = st.selectbox("split", list(world["counts"]))
    rows = [{"prompt": item["prompt"],
             **{f"choice {k + 1}": ("✅ " if k == item["answer"] else "") + choice
                for k, choice in enumerate(item["choices"])}}
            for item in world["items"] if item["split"] == split]
    st.dataframe(pd.DataFrame(rows[:50]), hide_index=True)
    st.caption("✅ marks the correct choice. Choices are never shown to the model: each is scored "
               "by its log-probability after the prompt.")
with picture_tab:
    if world["graph"].get("nodes"):
        st.plotly_chart(graph_figure(world["graph"], f"Structure of the {kind} world"))
        st.caption("Each point is an entity of the world, coloured by its group and named above "
                   "it; each line is a relation the training documents state, named at its "
                   "middle (hover a line's middle for the whole statement).")
    else:
        st.info("This kind has no structure to draw.")

st.subheader("Shortcut check")
st.caption("Cheap rules that read only the training documents and each item's prompt and choices "
           "(never the answer). None may beat chance + 0.10 on a multi-hop split; on a one-hop split "
           "rules of association may, since the fact itself links prompt and answer.")
shortcuts = pd.DataFrame(shortcut_rows(world["world_id"], kind, seed, preset,
                                       tuple(sorted(overrides.items()))))
flagged = shortcuts[~shortcuts["passes"]] if len(shortcuts) else shortcuts
if len(flagged):
    st.warning(f"{len(flagged)} rules answer a split above chance + 0.10 where they may not: "
               + ", ".join(f"{r.guesser} on {r.split} ({r.accuracy:.2f})" for r in flagged.itertuples())
               + ". Scores on those splits may reflect the rule, not the knowledge.")
st.dataframe(shortcuts, hide_index=True)

st.divider()
db = confined_or_stop(st.text_input("Database file", help=DATABASE_HELP,
                                    value=params.get("db") or str(default_db_path())),
                      "the database file")
store_col, run_col = st.columns(2)
if store_col.button("Store this world", type="secondary", disabled=not allowed):
    try:
        world_obj = build_world(kind, seed, preset, overrides)
        store_col.success(f"Stored as {Store(db).save_world(world_obj, preset)}")
    except LabError as error:
        store_col.error(str(error))

with run_col.form("launch"):
    methods = st.multiselect("methods", METHODS, default=["pretrained", "ft", "ft_local"])
    model = st.text_input("model", value="default", help="default, tiny, or a model folder")
    source = st.selectbox("augmentation source", ["oracle", "model"])
    if st.form_submit_button("Launch a run on this world", type="primary",
                             disabled=not allowed):
        if model.strip() not in ("default", "tiny") and not is_hub_id(model):
            model = confined_or_stop(model, "the model folder", model_roots())
        args = ["--world", kind, "--seed", str(seed), "--preset", preset, "--model", model,
                "--aug-source", source, "--methods", ",".join(methods)]
        for key, value in overrides.items():
            args += ["--set", f"{key}={value}"]
        if not methods:
            st.error("Choose at least one method.")
        else:
            try:
                st.session_state.setdefault("jobs", []).append(jobs.launch(args, db)["job_id"])
            except LabError as error:
                st.error(str(error))

for job_id in st.session_state.get("jobs", []):
    job = jobs.status(job_id)
    state = "running" if job["running"] else "finished"
    with st.expander(f"Job {job_id}: {state}", expanded=job["running"]):
        st.code("\n".join(job["log_tail"]) or "starting…", language=None)
        if job["running"]:
            st.button("Refresh", key=f"refresh-{job_id}")
        else:
            st.page_link("views/4_Results.py", label="Open the results")

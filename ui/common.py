"""What every results page starts with: the database box (kept in the link) and the tables,
or a message that says how to get some."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import streamlit as st

from core.errors import LabError
from core.paths import confined, default_db_path
from core.results import analysis
from core.shortcuts.warnings import WorldRef, refs_of, shortcut_warnings, world_failures
from core.storage.store import Store
from core.worlds.custom import browser_roots

RUN_COMMAND = ("python -m core run --world reversals "
               "--methods pretrained,icl,ft,ft_local,ft_global,ft_local_global")


def database_box() -> str:
    """The database file, kept in the link (?db=) so a copied link reopens the same view; a
    file in the data folder (a name is taken there), nothing outside it."""
    if "db" not in st.session_state:
        st.session_state.db = st.query_params.get("db") or str(default_db_path())
    db = st.text_input("Database file", key="db", help=DATABASE_HELP)
    st.query_params["db"] = db
    return confined_or_stop(db, "the database file")


DATABASE_HELP = "a DuckDB file in the lab's data folder; a bare name is taken there"


def confined_or_stop(path: str, what: str, roots: list[Path] | None = None) -> str:
    """`path` inside the data folder (or `roots`), or an error on the page and nothing more:
    a browser user reads and writes only there."""
    try:
        return str(confined(path, what, roots))
    except LabError as error:
        st.error(str(error))
        st.stop()


@st.cache_data(ttl=10, show_spinner="Reading the database…")
def load_tables(db: str) -> analysis.Tables:
    return analysis.load_tables(Store(db, read_only=True))


def tables_or_stop(db: str, purpose: str) -> analysis.Tables:
    """The database's tables; if there is no file, no run, or a broken file, the page says
    what is wrong and how to go on, and stops there."""
    how = f"Produce runs {purpose} with:\n\n`{RUN_COMMAND}`\n\nor from the Experiments page."
    if not Path(db).is_file():
        st.info(f"No database at {db} yet. {how}")
        st.stop()
    try:
        tables = load_tables(db)
    except LabError as error:
        st.error(str(error))
        st.stop()
    if tables.runs.empty:
        st.info(f"No runs in {db} yet. {how}")
        st.stop()
    return tables


def stop_with_how(message: str, command: str = RUN_COMMAND) -> None:
    """Say what is missing and how to produce it (a command, or the Experiments page); stop."""
    st.info(message)
    st.code(command, language="bash")
    st.page_link("views/2_Experiments.py", label="Or launch them from the Experiments page")
    st.stop()


def load_or_stop(db: str, loader, message: str, command: str = RUN_COMMAND):
    """`loader(db)`, or a message: no file or nothing loaded says how to get runs, a broken
    file says what is wrong."""
    if not Path(db).is_file():
        stop_with_how(message, command)
    try:
        data = loader(db)
    except LabError as error:
        st.error(str(error))
        st.stop()
    if data.empty:
        stop_with_how(message, command)
    return data


def link_number(name: str, default: float, low: float = 0.0, high: float = math.inf,
                above_low: bool = True) -> float:
    """A number from the page's link (?q=, ?price=...), or `default` where the link has none,
    or one that is not a finite number between `low` (excluded when `above_low`) and `high`:
    a hand-edited link never breaks a page."""
    try:
        value = float(st.query_params.get(name, default))
    except (TypeError, ValueError):
        return default
    fits = (value > low if above_low else value >= low) and value <= high
    return value if math.isfinite(value) and fits else default


@st.cache_data(max_entries=512, ttl=3600, show_spinner="Checking the worlds for shortcuts…")
def _world_failures(ref: tuple) -> list | None:
    return world_failures(WorldRef(*ref), browser_roots())


def shortcut_lines(runs) -> list[str]:
    """The verdict's shortcut caveats for the worlds of these runs (core/shortcuts/warnings.py),
    each world checked once an hour by the whole app, whatever runs it is shown with; custom
    world files are read only where a browser user may read them."""
    checked = {ref: _world_failures(dataclasses.astuple(ref)) for ref in refs_of(runs)}
    return shortcut_warnings(checked, check=checked.get)

"""Reading never writes: a store opened for reading creates, migrates and marks nothing, and
a results page reads a database that a command-line run is writing without a lock error."""

import subprocess
import sys
import time

import duckdb
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from core.errors import LabError
from core.paths import REPO_ROOT
from core.storage.store import Store

DEAD_PID = 2 ** 22 + 12345  # above Linux's default pid_max: no such process


def test_reading_a_missing_file_is_empty_and_creates_nothing(tmp_path):
    path = tmp_path / "sub" / "lab.duckdb"
    store = Store(path, read_only=True)
    assert store.runs().empty and store.run_totals().empty
    assert not path.exists() and not path.parent.exists()


def test_reading_leaves_a_dead_run_as_it_is_and_writes_nothing(tmp_path):
    path = tmp_path / "lab.duckdb"
    Store(path)
    con = duckdb.connect(str(path))
    con.execute("INSERT INTO runs (run_id, status, pid) VALUES ('r1', 'running', ?)", [DEAD_PID])
    con.close()
    before = path.stat().st_mtime_ns
    reader = Store(path, read_only=True)
    assert list(reader.runs().status) == ["running"]
    assert path.stat().st_mtime_ns == before
    with pytest.raises(LabError, match="reading only"):
        reader.fail_run("r1", "x")
    assert list(Store(path).runs().status) == ["failed"]  # a writer marks it


def test_a_results_page_reads_while_a_command_line_run_writes(tmp_path):
    db = tmp_path / "lab.duckdb"
    command = [sys.executable, "-m", "core", "run", "--model", "tiny", "--quiet", "--db", str(db),
               "--set", "n_facts=6", "--set", "n_dimensions=2", "--epochs", "2",
               "--methods", "pretrained,icl,ft,ft_local,ft_global"]
    writer = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    reads = 0
    try:
        while writer.poll() is None or reads < 2:
            st.cache_data.clear()  # read the file each time, as a page does after its ttl
            at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=60)
            at.switch_page("views/4_Results.py")
            at.query_params["db"] = str(db)
            at.run()
            assert not at.exception, at.exception
            assert not at.error, [e.value for e in at.error]
            reads += 1
            time.sleep(0.2)
    finally:
        writer.kill() if writer.poll() is None else None
    assert writer.wait() == 0, writer.stderr.read()
    assert reads >= 2
    assert list(Store(db, read_only=True).runs().status) == ["complete"] * 5


def test_waiting_for_another_writer_is_said_within_seconds(tmp_path, monkeypatch, capsys):
    """Another process holds the write lock: the wait is said on stderr within
    LOCK_NOTICE_SECONDS, retried until LOCK_WAIT_SECONDS, then one clear error."""
    from core.storage import store as store_mod
    db = tmp_path / "held.duckdb"
    Store(db)  # made, then closed
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; "
                               f"con = duckdb.connect({str(db)!r}); print('held', flush=True); "
                               "time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        monkeypatch.setattr(store_mod, "LOCK_WAIT_SECONDS", 2.0)
        monkeypatch.setattr(store_mod, "LOCK_NOTICE_SECONDS", 0.5)
        with pytest.raises(LabError, match="cannot open database"):
            Store(db)
        assert "waiting for another process to release" in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait()

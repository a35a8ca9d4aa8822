"""The DuckDB store: worlds, items, runs, metrics, costs, predictions, augmentations and
loss curves, in one file (default data/lab.duckdb).

DuckDB lets one process write a file at a time, so every call opens a short connection and
retries while another process (the app, a command-line sweep) holds the lock. Opening one costs
DuckDB ~20 ms of setup (it builds its catalog of functions each time), so code that makes many
calls in a row holds one connection for them: `with store.connection(): ...`. A run's results
are written in one transaction by `finish_run`: a killed run is left `running`, and is marked
`failed` (interrupted) the next time the store is opened, never half-written as complete.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pandas as pd

from core.errors import LabError
from core.paths import default_db_path
from core.storage.queries import Queries

if TYPE_CHECKING:
    from core.running.calibration import Calibration
    from core.running.result import RunResult
    from core.running.spec import RunSpec
    from core.worlds import World

SCHEMA = """
CREATE TABLE IF NOT EXISTS worlds (world_id VARCHAR PRIMARY KEY, kind VARCHAR, preset VARCHAR,
  seed INTEGER, params JSON, counts JSON, n_documents INTEGER, n_facts INTEGER,
  created_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS items (world_id VARCHAR, item_id VARCHAR, split VARCHAR,
  prompt VARCHAR, choices JSON, answer INTEGER, fact_ids JSON, held_out BOOLEAN,
  PRIMARY KEY (world_id, item_id));
CREATE TABLE IF NOT EXISTS runs (run_id VARCHAR PRIMARY KEY, world_id VARCHAR, method VARCHAR,
  model VARCHAR, aug_source VARCHAR, seed INTEGER, settings JSON, status VARCHAR,
  error VARCHAR, pid INTEGER, created_at TIMESTAMP, finished_at TIMESTAMP, extra JSON);
CREATE TABLE IF NOT EXISTS metrics (run_id VARCHAR, split VARCHAR, n INTEGER, correct INTEGER,
  accuracy DOUBLE, low DOUBLE, high DOUBLE, chance DOUBLE);
CREATE TABLE IF NOT EXISTS costs (run_id VARCHAR, phase VARCHAR, tokens BIGINT, flops DOUBLE,
  seconds DOUBLE, peak_mb DOUBLE, device VARCHAR);
CREATE TABLE IF NOT EXISTS predictions (run_id VARCHAR, item_id VARCHAR, split VARCHAR,
  logprobs JSON, choice INTEGER, answer INTEGER, correct BOOLEAN);
CREATE TABLE IF NOT EXISTS augmentations (run_id VARCHAR, statement VARCHAR, scope VARCHAR,
  source VARCHAR, label VARCHAR, in_training BOOLEAN);
CREATE TABLE IF NOT EXISTS loss_curves (run_id VARCHAR, step INTEGER, loss DOUBLE,
  tokens BIGINT);
CREATE TABLE IF NOT EXISTS calibrations (machine VARCHAR, model VARCHAR, device VARCHAR,
  flops_per_second DOUBLE, tokens BIGINT, seconds DOUBLE, measured_at TIMESTAMP);
-- Files made before a column existed get it here.
ALTER TABLE items ADD COLUMN IF NOT EXISTS held_out BOOLEAN;
"""
LOCK_WAIT_SECONDS = 30.0
LOCK_NOTICE_SECONDS = 3.0  # a wait this long is said on stderr, and again every as long


# Appended to the id of a world stored by an earlier version of its generator.
EARLIER_VERSION = ":earlier-version"


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Store(Queries):
    """`Store(path)` opens for writing: it creates the file and its schema, migrates an older
    file, and marks runs whose process died. `Store(path, read_only=True)`, what every page
    opens on every rerun, does none of that and takes no write lock; a file that does not
    exist yet reads as empty."""

    def __init__(self, path: str | Path | None = None, read_only: bool = False):
        self.path = Path(path) if path else default_db_path()
        self.read_only = read_only
        self._held = threading.local()  # the connection `connection()` holds, per thread
        if self.path.is_dir():
            raise LabError(f"database path {self.path} is a folder; give a file path with --db")
        if read_only:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise LabError(f"cannot create the folder for database {self.path}: "
                           f"{error.strerror}; choose another path with --db") from None
        with self.connection() as con:
            con.execute(SCHEMA)
            self._mark_interrupted()
            self._upgrade_world_ids()

    @contextlib.contextmanager
    def connection(self):
        """Hold one connection for every call made inside (in this thread), instead of one
        each. Other processes wait for the file meanwhile, so hold it for a burst of calls
        (a page's queries, a study's bookkeeping), never across a run. Re-entrant."""
        held = getattr(self._held, "con", None)
        if held is not None:
            yield held
            return
        with self._open(read_only=self.read_only) as con:
            self._held.con = con
            try:
                yield con
            finally:
                self._held.con = None

    @contextlib.contextmanager
    def _connect(self, read_only: bool = False):
        if self.read_only and not read_only:
            raise LabError(f"database {self.path} was opened for reading only")
        held = getattr(self._held, "con", None)
        if held is None:
            with self._open(read_only) as con:
                yield con
            return
        try:
            yield held
        except BaseException:
            # A call that failed inside its transaction leaves it open on the held
            # connection; roll it back, as closing its own connection would have.
            with contextlib.suppress(duckdb.Error):
                held.execute("ROLLBACK")
            raise

    @contextlib.contextmanager
    def _open(self, read_only: bool):
        start = time.monotonic()
        deadline, said = start + LOCK_WAIT_SECONDS, start + LOCK_NOTICE_SECONDS
        while True:
            try:
                if read_only and not self.path.exists():
                    con = duckdb.connect(":memory:")  # nothing stored yet: the empty schema
                    con.execute(SCHEMA)
                else:
                    con = duckdb.connect(str(self.path), read_only=read_only)
                break
            except duckdb.IOException as error:
                now = time.monotonic()
                if "lock" in str(error).lower() and now < deadline:
                    if now >= said:  # say so early, then every few seconds, while retrying
                        print(f"waiting for another process to release {self.path} "
                              f"({now - start:.0f} s of {LOCK_WAIT_SECONDS:.0f})", file=sys.stderr)
                        said = now + LOCK_NOTICE_SECONDS
                    time.sleep(0.2)
                    continue
                raise LabError(f"cannot open database {self.path}: {str(error).splitlines()[0]}"
                               " (is another program writing it? is the folder writable?)") from None
            except duckdb.Error as error:
                raise LabError(f"cannot open database {self.path}: {str(error).splitlines()[0]}"
                               " (is it a DuckDB file?)") from None
        try:
            yield con
        finally:
            con.close()

    def _mark_interrupted(self) -> None:
        with self._connect() as con:
            running = con.execute("SELECT run_id, pid FROM runs WHERE status = 'running'").fetchall()
            for run_id, pid in running:
                if not _alive(pid):
                    con.execute("UPDATE runs SET status = 'failed', error = 'interrupted: the "
                                "process running it stopped', finished_at = ? WHERE run_id = ?",
                                [_now(), run_id])

    def _upgrade_world_ids(self) -> None:
        """Worlds stored before ids ended in a content hash get one. Each is rebuilt from its
        kind, seed, preset and parameters: with the same items it takes the new id (its runs
        follow, and a study counts them as done); with other items its generator has changed
        since, and it is kept as an earlier version, never pooled with the current one."""
        from core.worlds import build_world  # here: the worlds need nothing from the store
        with self._connect(read_only=True) as con:
            legacy = con.execute(
                "SELECT world_id, kind, preset, seed, params FROM worlds WHERE NOT "
                f"regexp_matches(world_id, ':[0-9a-f]{{12}}$|{EARLIER_VERSION}$')").fetchall()
        for world_id, kind, preset, seed, params in legacy:
            try:
                world = build_world(kind, seed, preset, json.loads(params))
            except Exception:  # noqa: BLE001 - a custom file gone, a kind removed: leave it
                continue
            with self._connect() as con:
                stored = con.execute("SELECT item_id, prompt, choices, answer FROM items "
                                     "WHERE world_id = ? ORDER BY item_id", [world_id]).fetchall()
                current = sorted((i.item_id, i.prompt, list(i.choices), i.answer) for i in world.items)
                same = [(i, p, json.loads(c), a) for i, p, c, a in stored] == current
                new_id = world.world_id if same else world_id + EARLIER_VERSION
                if new_id != world_id and con.execute(
                        "SELECT 1 FROM worlds WHERE world_id = ?", [new_id]).fetchone():
                    new_id = world_id + EARLIER_VERSION  # the current version is stored too
                con.execute("BEGIN")
                for table in ("worlds", "items", "runs"):
                    con.execute(f"UPDATE {table} SET world_id = ? WHERE world_id = ?", [new_id, world_id])
                con.execute("COMMIT")

    # ------------------------------------------------------------ writing

    def save_world(self, world: World, preset: str) -> str:
        with self._connect() as con:
            if con.execute("SELECT 1 FROM worlds WHERE world_id = ?", [world.world_id]).fetchone():
                return world.world_id
            con.execute("BEGIN")
            con.execute("INSERT INTO worlds VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [world.world_id, world.kind, preset, world.seed, json.dumps(world.params),
                         json.dumps(world.counts()), len(world.documents), len(world.facts), _now()])
            con.executemany("INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            [[world.world_id, i.item_id, i.split, i.prompt, json.dumps(list(i.choices)),
                              i.answer, json.dumps(list(i.fact_ids)), i.split in world.held_out_splits]
                             for i in world.items])
            con.execute("COMMIT")
        return world.world_id

    def save_calibration(self, c: Calibration) -> None:
        with self._connect() as con:
            con.execute("INSERT INTO calibrations VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [c.machine, c.model, c.device, c.flops_per_second, c.tokens, c.seconds,
                         c.measured_at])

    def begin_run(self, run_id: str, world_id: str, spec: RunSpec) -> None:
        with self._connect() as con:
            con.execute("INSERT INTO runs (run_id, world_id, method, model, aug_source, seed, "
                        "settings, status, pid, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?, ?)",
                        [run_id, world_id, spec.method, spec.model, spec.aug_source_used,
                         spec.seed, json.dumps(spec.settings()), os.getpid(), _now()])

    def fail_run(self, run_id: str, error: str) -> None:
        with self._connect() as con:
            con.execute("UPDATE runs SET status = 'failed', error = ?, finished_at = ? "
                        "WHERE run_id = ?", [error, _now(), run_id])

    def finish_run(self, result: RunResult) -> None:
        """Everything a run produced, in one transaction, then status `complete`. A write that
        fails (a full disk) rolls the transaction back, marks the run failed with the reason
        when the file still takes that, and is a LabError: earlier results stay as they were."""
        try:
            self._write_results(result)
        except duckdb.Error as error:
            reason = f"cannot store the results in {self.path}: {str(error).splitlines()[0]}"
            with contextlib.suppress(duckdb.Error, LabError):
                self.fail_run(result.run_id, reason)
            raise LabError(f"{reason} (is the disk full? earlier results are intact)") from None

    def _write_results(self, result: RunResult) -> None:
        r = result.run_id
        with self._connect() as con:
            con.execute("BEGIN")
            con.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            [[r, m.split, m.n, m.correct, m.accuracy, m.low, m.high, m.chance]
                             for m in result.metrics])
            con.executemany("INSERT INTO costs VALUES (?, ?, ?, ?, ?, ?, ?)",
                            [[r, c.phase, c.tokens, c.flops, c.seconds, c.peak_mb, c.device]
                             for c in result.costs])
            con.executemany("INSERT INTO predictions VALUES (?, ?, ?, ?, ?, ?, ?)",
                            [[r, p.item_id, p.split, json.dumps(p.logprobs), p.choice, p.answer,
                              p.correct] for p in result.predictions])
            if result.augmentations:
                con.executemany("INSERT INTO augmentations VALUES (?, ?, ?, ?, ?, ?)",
                                [[r, a.statement, a.scope, a.source, a.label, a.in_training]
                                 for a in result.augmentations])
            if result.losses:
                con.executemany("INSERT INTO loss_curves VALUES (?, ?, ?, ?)",
                                [[r, p["step"], p["loss"], p["tokens"]] for p in result.losses])
            con.execute("UPDATE runs SET status = 'complete', finished_at = ?, extra = ? "
                        "WHERE run_id = ?", [_now(), json.dumps(result.extra), r])
            con.execute("COMMIT")

    # ------------------------------------------------------------ reading

    def query(self, sql: str, params: list | dict | None = None) -> pd.DataFrame:
        """A parameterized read-only query as a data frame."""
        with self._connect(read_only=True) as con:
            try:
                return con.execute(sql, params or []).df()
            except duckdb.CatalogException as error:  # a file a writer has not upgraded yet
                raise LabError(f"cannot read database {self.path}: {str(error).splitlines()[0]}"
                               " (run anything that writes to it once, such as python -m core "
                               "run, to bring it up to date)") from None


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

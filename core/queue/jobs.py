"""Background jobs: `python -m core run ...` (or `demo`) in a detached process, so the app never
blocks and a job survives page reloads and server restarts. Jobs run one at a time, in launch
order, because each would otherwise compete for the same CPU or GPU.

Every job is a handful of small files under data/jobs/, each written by one party only:

    <id>.json           the record: arguments, label, pid, launch time (the launcher)
    <id>.log            everything the job prints
    <id>.started        when the job got its turn (the worker)
    <id>.progress.json  the command's progress, replaced atomically (`--progress-file`)
    <id>.rc             the command's exit code (the worker)
    <id>.cancelled      present once someone cancelled it (`cancel`)

Launching a user's experiment (the form's settings, one job per seed) is core/queue/experiment.py;
what a running command reports and how far along it is, core/queue/progress.py.

The process is a small worker (`python -m core.queue.jobs DIR ID ARGS...`, `_work` below) that
waits for its turn on an exclusive lock on data/jobs/queue.lock, runs `python -m core ARGS`,
and writes the exit code. Its state is read from those files and whether it is alive:
queued, running, finished, failed or cancelled.
"""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from core.errors import LabError
from core.limits import check, limits
from core.paths import REPO_ROOT, data_dir, write_atomic
from core.queue.progress import eta_seconds, overall_fraction

STATES = ("queued", "running", "finished", "failed", "cancelled")
ACTIVE = ("queued", "running")
CANCEL_GRACE_SECONDS = 5.0


def jobs_dir() -> Path:
    path = data_dir() / "jobs"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise LabError(f"cannot create the jobs folder {path}: {error.strerror}; set LAB_DATA_DIR "
                       "to a writable folder") from None
    return path


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except (FileNotFoundError, NotADirectoryError, ProcessLookupError):  # gone meanwhile
        return None


# ---------------------------------------------------------------- launching


def submit(args: list[str], label: str = "", expected_seconds: float | None = None) -> dict:
    """Queue `python -m core ARGS` as a job; returns its status. The job starts once every job
    launched before it has ended. `expected_seconds`, where known (the demo's, from the
    machine's calibration), steadies the ETA while little of the job is done."""
    directory = jobs_dir()
    check_room(1)
    # Sortable ids: the queue's order is the ids' order.
    job_id = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    while (directory / f"{job_id}.json").exists():  # two launches in the same microsecond
        job_id = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    with open(directory / f"{job_id}.log", "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "core.queue.jobs", str(directory), job_id, *args],
            cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    record = {"job_id": job_id, "args": list(args), "label": label or shlex.join(args[:1]),
              "command": shlex.join(["python", "-m", "core", *args]), "pid": process.pid,
              "created": time.time()}
    if expected_seconds:
        record["expected_seconds"] = float(expected_seconds)
    write_atomic(directory / f"{job_id}.json", json.dumps(record))
    return status(job_id)


def check_room(new_jobs: int) -> None:
    """Refuse, before anything starts, jobs that would put more than the limit in the queue:
    each job is a process, waiting or working."""
    active = sum(job["state"] in ACTIVE for job in list_jobs())
    check(active + new_jobs, limits().active_jobs, "jobs queued or running", "active_jobs")


def launch(run_args: list[str], db: str | Path | None = None, label: str = "") -> dict:
    """Queue `python -m core run RUN_ARGS --db DB`."""
    db_args = ["--db", str(Path(db).resolve())] if db else []
    return submit(["run", *run_args, *db_args], label or "run " + shlex.join(run_args))


def launch_demo(model: str = "default", db: str | Path | None = None,
                expected_seconds: float | None = None) -> dict:
    """Queue `python -m core demo`: all six methods on the quick reversals world."""
    db_args = ["--db", str(Path(db).resolve())] if db else []
    return submit(["demo", "--model", model, *db_args], f"quick demo ({model} model)",
                  expected_seconds)


def rerun(job_id: str) -> dict:
    """Queue the same command again, as a new job."""
    job = _record(job_id)
    return submit(job["args"], job["label"], job.get("expected_seconds"))


# ---------------------------------------------------------------- watching


def _record(job_id: str) -> dict:
    text = _read(jobs_dir() / f"{job_id}.json")
    if text is None:
        raise LabError(f"no job '{job_id}' in {jobs_dir()}")
    return json.loads(text)


def _alive(pid: int | None, job_id: str) -> bool:
    """Whether the job's worker still runs (a finished child of ours is reaped here; a pid
    reused by another program does not count)."""
    if not pid:
        return False
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:  # launched by another process (an earlier server): ask the OS
        pass
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    proc = Path(f"/proc/{pid}")
    if proc.exists():  # Linux: a zombie is dead; another program's pid is not our job
        stat = _read(proc / "stat") or ""
        if stat.rpartition(")")[2].split()[:1] == ["Z"]:
            return False
        # Empty while the worker is still starting (between fork and exec).
        cmdline = _read(proc / "cmdline") or ""
        return not cmdline or job_id in cmdline
    return True


def _log_tail(path: Path, lines: int = 12) -> list[str]:
    """The last non-empty lines, reading only the end of a long log."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 32_000))
            text = f.read().decode(errors="replace")
    except FileNotFoundError:
        return []
    return [line for line in text.replace("\r", "\n").splitlines() if line.strip()][-lines:]


def _failure(tail: list[str], rc: int | None) -> str:
    """Why a job failed, in one line: its `error:` line, else the last thing it printed."""
    if rc is None:
        return "the job stopped without an exit code (killed, or the machine restarted)"
    lines = [line for line in tail if not line.startswith("exit code ")]
    errors = [line for line in lines if line.startswith("error:")]
    return errors[-1] if errors else lines[-1] if lines else f"exit code {rc}"


def _state(job: dict, rc: int | None, cancelled: bool, started: bool) -> str:
    if rc == 0:
        return "finished"
    if cancelled:
        return "cancelled"
    if rc is not None:
        return "failed"
    if _alive(job.get("pid"), job["job_id"]):
        return "running" if started else "queued"
    return "failed"  # the worker died without an exit code (killed, or the machine stopped)


def status(job_id: str) -> dict:
    """The record plus `state`, `progress` (the last progress object, or None), `fraction`
    (0-1 overall), `eta` (seconds, or None), `error` (for failed jobs), `log_tail` and
    `running` (queued or running)."""
    directory = jobs_dir()
    job = _record(job_id)
    rc_text = _read(directory / f"{job_id}.rc")
    rc = int(rc_text) if rc_text and rc_text.strip().lstrip("-").isdigit() else None
    started_text = _read(directory / f"{job_id}.started")
    cancelled = (directory / f"{job_id}.cancelled").exists()
    state = _state(job, rc, cancelled, started_text is not None)
    try:
        progress = json.loads(_read(directory / f"{job_id}.progress.json") or "null")
    except json.JSONDecodeError:
        progress = None
    tail = _log_tail(directory / f"{job_id}.log")
    error = None
    if state == "failed":
        error = _failure(tail, rc)
    finished_at = (directory / f"{job_id}.rc").stat().st_mtime if rc is not None else None
    return {**job, "state": state, "running": state in ACTIVE, "rc": rc,
            "started": float(started_text) if started_text else None, "finished": finished_at,
            "progress": progress, "error": error, "log_tail": tail,
            "fraction": 1.0 if state == "finished" else overall_fraction(progress),
            "eta": eta_seconds(progress, expected_total=job.get("expected_seconds"))
            if state == "running" else None}


def job_ids() -> list[str]:
    """Every job, oldest first (launch order)."""
    return sorted(p.stem for p in jobs_dir().glob("*.json") if not p.name.startswith("."))


def list_jobs(limit: int | None = None) -> list[dict]:
    """Jobs newest first; a queued job also gets `ahead`, the jobs that run before it."""
    jobs = []
    for job_id in job_ids():
        try:
            jobs.append(status(job_id))
        except (LabError, json.JSONDecodeError, KeyError):  # a foreign or broken file
            continue
    active = 0
    for job in jobs:
        job["ahead"] = active if job["state"] == "queued" else 0
        active += job["state"] in ACTIVE
    jobs.reverse()
    return jobs[:limit] if limit else jobs


def cancel(job_id: str) -> dict:
    """Stop a queued or running job: its whole process group gets SIGTERM (SIGKILL after a
    grace period). Runs it left half done are marked failed (interrupted) by the store."""
    job = status(job_id)
    if job["state"] not in ACTIVE:
        raise LabError(f"job {job_id} is {job['state']}; only queued or running jobs can be cancelled")
    write_atomic(jobs_dir() / f"{job_id}.cancelled", str(time.time()))
    deadline = time.monotonic() + CANCEL_GRACE_SECONDS
    sent = signal.SIGTERM
    while _alive(job["pid"], job_id):
        try:
            os.killpg(job["pid"], sent)  # start_new_session: the group id is the worker's pid
        except ProcessLookupError:
            break
        if time.monotonic() > deadline:
            sent = signal.SIGKILL
        time.sleep(0.1)
    return status(job_id)


# ---------------------------------------------------------------- the worker process


def _earlier_queued(directory: Path, job_id: str) -> bool:
    """Whether a job launched before this one still waits for its turn."""
    for other in sorted(p.stem for p in directory.glob("*.json") if not p.name.startswith(".")):
        if other >= job_id:
            return False
        try:
            record = json.loads(_read(directory / f"{other}.json") or "{}")
        except json.JSONDecodeError:
            continue
        waiting = not any((directory / f"{other}{suffix}").exists()
                          for suffix in (".started", ".rc", ".cancelled"))
        if waiting and _alive(record.get("pid"), other):
            return True
    return False


def _wait_turn(lock, directory: Path, job_id: str) -> None:
    """Hold the queue lock, once every job launched before this one has had its turn."""
    told = False
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not told:
                print("queued: waiting for the jobs launched before this one", flush=True)
                told = True
            fcntl.flock(lock, fcntl.LOCK_EX)  # blocks while another job runs
        if not _earlier_queued(directory, job_id):
            return
        # flock wakes waiters in no particular order: let the older job go first.
        fcntl.flock(lock, fcntl.LOCK_UN)
        time.sleep(0.5)


def _work(directory: Path, job_id: str, args: list[str]) -> int:
    """Wait for the queue, run `python -m core ARGS --progress-file ...`, record its exit code."""
    with open(directory / "queue.lock", "a") as lock:
        _wait_turn(lock, directory, job_id)
        write_atomic(directory / f"{job_id}.started", str(time.time()))
        print("$ " + shlex.join(["python", "-m", "core", *args]), flush=True)
        child = subprocess.Popen(
            [sys.executable, "-m", "core", *args, "--progress-file",
             str(directory / f"{job_id}.progress.json")], cwd=REPO_ROOT, stdin=subprocess.DEVNULL)
        # `cancel` signals the whole group, the command included; outlive it to reap it, so its
        # runs show as interrupted at once (an unreaped process would still look alive).
        signal.signal(signal.SIGTERM, lambda signum, frame: None)
        rc = child.wait()
        write_atomic(directory / f"{job_id}.rc", str(rc))
        print(f"exit code {rc}", flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(_work(Path(sys.argv[1]), sys.argv[2], sys.argv[3:]))

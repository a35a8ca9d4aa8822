"""Background jobs: a `python -m core run` in its own process, so the app never blocks and a
run survives a page reload. Each job is a JSON file and a log under data/jobs/."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from core.paths import REPO_ROOT, data_dir


def jobs_dir() -> Path:
    path = data_dir() / "jobs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def launch(run_args: list[str], db: str | Path) -> dict:
    """Start `python -m core run RUN_ARGS --db DB` detached; returns the job record."""
    job_id = uuid.uuid4().hex[:10]
    log = jobs_dir() / f"{job_id}.log"
    command = [sys.executable, "-m", "core", "run", *run_args, "--db", str(db)]
    with open(log, "w") as out:
        process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    job = {"job_id": job_id, "command": command, "pid": process.pid, "started": time.time(),
           "log": str(log)}
    (jobs_dir() / f"{job_id}.json").write_text(json.dumps(job))
    return job


def status(job_id: str) -> dict:
    """The job record with `running` and the last lines of its log."""
    job = json.loads((jobs_dir() / f"{job_id}.json").read_text())
    try:
        waited = os.waitpid(job["pid"], os.WNOHANG)  # reaps our own finished child
        running = waited == (0, 0)
    except ChildProcessError:  # not our child (another server process): ask the OS
        running = Path(f"/proc/{job['pid']}").exists()
    lines = Path(job["log"]).read_text(errors="replace").replace("\r", "\n").splitlines()
    return {**job, "running": running, "log_tail": [line for line in lines if line.strip()][-8:]}

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

The process is a small worker (`python -m core.jobs DIR ID ARGS...`, `_work` below) that
waits for its turn on an exclusive lock on data/jobs/queue.lock, runs `python -m core ARGS`,
and writes the exit code. Its state is read from those files and whether it is alive:
queued, running, finished, failed or cancelled.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import LabError
from core.methods import METHODS
from core.paths import REPO_ROOT, data_dir

if TYPE_CHECKING:
    import pandas as pd

    from core.store import Store

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


def _write_atomic(path: Path, text: str) -> None:
    """Readers never see half a file: write a temporary file, then rename it over the old one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except (FileNotFoundError, NotADirectoryError, ProcessLookupError):  # gone meanwhile
        return None


# ---------------------------------------------------------------- launching


def submit(args: list[str], label: str = "") -> dict:
    """Queue `python -m core ARGS` as a job; returns its status. The job starts once every job
    launched before it has ended."""
    directory = jobs_dir()
    # Sortable ids: the queue's order is the ids' order.
    job_id = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    while (directory / f"{job_id}.json").exists():  # two launches in the same microsecond
        job_id = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    with open(directory / f"{job_id}.log", "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "core.jobs", str(directory), job_id, *args],
            cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    record = {"job_id": job_id, "args": list(args), "label": label or shlex.join(args[:1]),
              "command": shlex.join(["python", "-m", "core", *args]), "pid": process.pid,
              "created": time.time()}
    _write_atomic(directory / f"{job_id}.json", json.dumps(record))
    return status(job_id)


def launch(run_args: list[str], db: str | Path | None = None, label: str = "") -> dict:
    """Queue `python -m core run RUN_ARGS --db DB`."""
    db_args = ["--db", str(Path(db).resolve())] if db else []
    return submit(["run", *run_args, *db_args], label or "run " + shlex.join(run_args))


def launch_demo(model: str = "default", db: str | Path | None = None) -> dict:
    """Queue `python -m core demo`: all six methods on the quick reversals world."""
    db_args = ["--db", str(Path(db).resolve())] if db else []
    return submit(["demo", "--model", model, *db_args], f"quick demo ({model} model)")


def rerun(job_id: str) -> dict:
    """Queue the same command again, as a new job."""
    job = _record(job_id)
    return submit(job["args"], job["label"])


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
            "eta": eta_seconds(progress) if state == "running" else None}


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
    _write_atomic(jobs_dir() / f"{job_id}.cancelled", str(time.time()))
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


# ---------------------------------------------------------------- progress


class ProgressFile:
    """What `python -m core run/demo --progress-file PATH` writes on every progress callback:
    one small JSON object, replaced atomically so that a reader never sees half of it."""

    def __init__(self, path: str | Path, methods: list[str]):
        self.path = Path(path)
        self.methods = list(methods)
        self.run_index = 1
        self.started = time.time()
        self._next_run = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.update("starting", 0.0, "loading the model and the world")
        except OSError as error:
            raise LabError(f"cannot write progress file {self.path}: {error.strerror}") from None

    def run_done(self) -> None:
        """The current run ended (stored or failed); the next callback belongs to the next run."""
        self._next_run = True

    def update(self, phase: str, fraction: float, message: str = "") -> None:
        if self._next_run:
            self.run_index = min(self.run_index + 1, len(self.methods))
            self._next_run = False
        if phase == "evaluate" and fraction >= 1.0:  # evaluation ends every run
            self._next_run = True
        self._write(phase, fraction, message)

    def finish(self) -> None:
        self.run_index = len(self.methods)
        self._write("done", 1.0, "all runs stored")

    def _write(self, phase: str, fraction: float, message: str) -> None:
        state = {"run_index": self.run_index, "runs_total": len(self.methods),
                 "method": self.methods[self.run_index - 1] if self.methods else "",
                 "methods": self.methods,
                 "phase": phase, "fraction": round(float(fraction), 4), "message": message,
                 "started": self.started, "updated": time.time()}
        try:
            _write_atomic(self.path, json.dumps(state))
        except OSError:
            pass  # progress is advisory: a full disk must not kill the run itself


# Rough shares of a run's time per phase, from the default model on a CPU on the quick world
# (evaluation a few seconds, augmenting with the model about 10, training about 60): they only
# shape the fraction done, so that quick runs early in a job do not promise an early end.
PHASE_WEIGHTS = {"augment": 5.0, "train": 20.0, "evaluate": 1.0}


def method_phases(method: str) -> tuple[str, ...]:
    """The phases a method's run goes through, in order (see core.runner.execute)."""
    phases = ("evaluate",)
    if method.startswith("ft"):
        phases = ("train", *phases)
    if "local" in method or "global" in method:
        phases = ("augment", *phases)
    return phases


def run_weight(method: str) -> float:
    return sum(PHASE_WEIGHTS[phase] for phase in method_phases(method))


def overall_fraction(progress: dict | None) -> float:
    """How much of the whole job is done, 0-1: finished runs plus the current run's finished
    phases and current phase, each weighted by PHASE_WEIGHTS. Without the job's list of
    methods, every run is taken to be like the current one."""
    if not progress or not progress.get("runs_total"):
        return 0.0
    if progress.get("phase") == "done":
        return 1.0
    method, index = progress.get("method", ""), progress["run_index"] - 1
    methods = progress.get("methods") or [method] * progress["runs_total"]
    weights = [run_weight(m) for m in methods]
    done = sum(weights[:index])
    phases, phase = method_phases(method), progress.get("phase", "")
    if phase in phases:
        fraction = min(max(progress.get("fraction", 0.0), 0.0), 1.0)
        done += sum(PHASE_WEIGHTS[p] for p in phases[:phases.index(phase)])
        done += fraction * PHASE_WEIGHTS[phase]
    return min(max(done / sum(weights), 0.0), 1.0)


def eta_seconds(progress: dict | None, now: float | None = None) -> float | None:
    """Seconds left, assuming the rest goes at the pace so far; None until there is a pace."""
    fraction = overall_fraction(progress)
    if not progress or fraction <= 0.0:
        return None
    if fraction >= 1.0:
        return 0.0
    now = time.time() if now is None else now
    elapsed = progress["updated"] - progress["started"]
    if elapsed <= 0:
        return None
    expected_end = progress["started"] + elapsed / fraction
    return max(expected_end - now, 0.0)


def format_duration(seconds: float | None) -> str:
    """12 s, 3 min 05 s, 1 h 02 min; '?' when unknown."""
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


# ---------------------------------------------------------------- experiments


def parse_seeds(text: str) -> list[int]:
    """'0, 1, 2' or '0-4' -> seeds, without repeats, in the order given."""
    seeds: list[int] = []
    for part in re.split(r"[,\s]+", text.strip()):
        if not part:
            continue
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not match:
            raise LabError(f"seeds are whole numbers separated by commas (or a range like 0-4), "
                           f"got '{part}'")
        low, high = int(match[1]), int(match[2] or match[1])
        if high < low or high - low > 100:
            raise LabError(f"seed range '{part}' must go up, by at most 100 seeds")
        seeds += [s for s in range(low, high + 1) if s not in seeds]
    if not seeds:
        raise LabError("give at least one seed, e.g. 0 or 0,1,2")
    return seeds


def check_model(model: str) -> str:
    """The model name to pass on: 'default', 'tiny', an existing folder (made absolute, since
    jobs run from the repository root) or a hub id; raises LabError otherwise. The same rule
    as core.models.load, without loading anything."""
    model = model.strip()
    if model in ("default", "tiny"):
        return model
    folder = Path(model).expanduser()
    if folder.exists():
        return str(folder.resolve())
    if not model or model.startswith((".", "/", "~")) or model.count("/") != 1:
        raise LabError(f"model folder '{model}' does not exist; give 'default', 'tiny', "
                       "a folder with config.json and weights, or a cached hub id")
    return model


@dataclass
class Experiment:
    """What the Experiments page launches: one world, some methods, one model and settings,
    for each training seed one job (`python -m core run`). None means the command's default."""

    world_kind: str = "reversals"
    world_seed: int = 0
    preset: str = "quick"
    overrides: dict[str, Any] = field(default_factory=dict)
    methods: list[str] = field(default_factory=lambda: list(METHODS))
    model: str = "default"
    aug_source: str = "oracle"
    seeds: list[int] = field(default_factory=lambda: [0])
    ft_mode: str | None = None
    splitting: str | None = None
    epochs: int | None = None
    lr: float | None = None
    batch_size: int | None = None
    icl_max_tokens: int = 0
    icl_fill: str = "sample"

    def validate(self) -> Experiment:
        """Build the world and check every run's settings, as the command would before loading
        a model; raises LabError with a message the user can act on."""
        from core.methods.finetune import FTConfig  # torch: only when launching
        from core.runner import RunSpec
        from core.worlds import build_world

        if not self.methods:
            raise LabError("choose at least one method")
        if not self.seeds:
            raise LabError("give at least one seed, e.g. 0 or 0,1,2")
        self.model = check_model(self.model)
        build_world(self.world_kind, self.world_seed, self.preset, self.overrides)
        given = {"mode": self.ft_mode, "splitting": self.splitting, "epochs": self.epochs,
                 "lr": self.lr, "batch_size": self.batch_size}
        ft = FTConfig(**{k: v for k, v in given.items() if v is not None})
        for method in self.methods:
            RunSpec(method=method, model=self.model, aug_source=self.aug_source, ft=ft,
                    icl_max_tokens=self.icl_max_tokens, icl_fill=self.icl_fill).validate()
        return self

    def run_args(self, seed: int) -> list[str]:
        """The arguments of `python -m core run` for one training seed."""
        args = ["--world", self.world_kind, "--seed", str(self.world_seed), "--preset", self.preset]
        for key, value in self.overrides.items():
            args += ["--set", f"{key}={value}"]
        args += ["--methods", ",".join(self.methods), "--model", self.model,
                 "--aug-source", self.aug_source, "--train-seed", str(seed)]
        for flag, value in (("--ft-mode", self.ft_mode), ("--splitting", self.splitting),
                            ("--epochs", self.epochs), ("--lr", self.lr),
                            ("--batch-size", self.batch_size)):
            if value is not None:
                args += [flag, str(value)]
        if self.icl_max_tokens:
            args += ["--icl-max-tokens", str(self.icl_max_tokens)]
        if self.icl_fill != "sample":
            args += ["--icl-fill", self.icl_fill]
        return [*args, "--quiet"]  # progress goes to the progress file; the log keeps results

    def label(self, seed: int) -> str:
        methods = "all methods" if set(self.methods) == set(METHODS) else ", ".join(self.methods)
        return (f"{self.world_kind} (seed {self.world_seed}), {methods}, model {Path(self.model).name}, "
                f"training seed {seed}")

    def launch(self, db: str | Path | None = None) -> list[dict]:
        """Validate, then queue one job per training seed."""
        self.validate()
        return [launch(self.run_args(seed), db, self.label(seed)) for seed in self.seeds]


def world_overrides(kind: str, preset: str, params: dict[str, Any]) -> dict[str, Any]:
    """The parameters of a stored world that differ from its preset: what `--set` must give."""
    from core.worlds import describe_params, get_kind

    spec = get_kind(kind)
    base = {p["name"]: p["default"] for p in describe_params(spec)} | spec.presets.get(preset, {})
    return {k: v for k, v in params.items() if k in base and base[k] != v}


def experiment_from_run(row: dict) -> Experiment:
    """The experiment that repeats one stored run: a row of `interrupted_runs` (world kind,
    preset, world seed and params, method, model, augmentation source, seed, settings)."""
    def as_dict(value: Any) -> dict:
        return json.loads(value) if isinstance(value, str) else dict(value or {})

    settings, params = as_dict(row.get("settings")), as_dict(row.get("params"))
    ft = settings.get("ft", {})
    aug = row.get("aug_source")
    return Experiment(
        world_kind=row["kind"], world_seed=int(row["world_seed"]), preset=row["preset"],
        overrides=world_overrides(row["kind"], row["preset"], params), methods=[row["method"]],
        model=row["model"], aug_source=aug if isinstance(aug, str) and aug else "oracle",
        seeds=[int(row["seed"])], ft_mode=ft.get("mode"), splitting=ft.get("splitting"),
        epochs=ft.get("epochs"), lr=ft.get("lr"), batch_size=ft.get("batch_size"),
        icl_max_tokens=int(settings.get("icl_max_tokens", 0)),
        # Runs stored before the option existed filled the context with needed facts first.
        icl_fill=settings.get("icl_fill", "needed_first" if row["method"] == "icl" else "sample"))


def interrupted_runs(store: Store) -> pd.DataFrame:
    """Runs whose process stopped before they ended (cancelled, killed, machine restarted)
    and that no later complete run has repeated, newest first, with what a rerun needs."""
    return store.query("""
        SELECT r.run_id, r.method, r.model, r.aug_source, r.seed, r.settings, r.error,
               r.created_at, w.kind, w.preset, w.seed AS world_seed, w.params, r.world_id
        FROM runs r JOIN worlds w USING (world_id)
        WHERE r.status = 'failed' AND r.error LIKE 'interrupted%'
          AND NOT EXISTS (
            SELECT 1 FROM runs done
            WHERE done.status = 'complete' AND done.created_at > r.created_at
              AND done.world_id = r.world_id AND done.method = r.method
              AND done.model = r.model AND done.seed = r.seed
              AND coalesce(done.aug_source, '') = coalesce(r.aug_source, '')
              AND done.settings::VARCHAR = r.settings::VARCHAR)
        ORDER BY r.created_at DESC""")


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
        _write_atomic(directory / f"{job_id}.started", str(time.time()))
        print("$ " + shlex.join(["python", "-m", "core", *args]), flush=True)
        child = subprocess.Popen(
            [sys.executable, "-m", "core", *args, "--progress-file",
             str(directory / f"{job_id}.progress.json")], cwd=REPO_ROOT, stdin=subprocess.DEVNULL)
        # `cancel` signals the whole group, the command included; outlive it to reap it, so its
        # runs show as interrupted at once (an unreaped process would still look alive).
        signal.signal(signal.SIGTERM, lambda signum, frame: None)
        rc = child.wait()
        _write_atomic(directory / f"{job_id}.rc", str(rc))
        print(f"exit code {rc}", flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(_work(Path(sys.argv[1]), sys.argv[2], sys.argv[3:]))


"""Progress of a running command: what `python -m core run/demo --progress-file PATH` writes
(`ProgressFile`), and how far along a job is from it (`overall_fraction`, `eta_seconds`),
weighting each run's phases by their usual share of its time."""

from __future__ import annotations

import json
import time
from pathlib import Path

from core.errors import LabError
from core.methods import REGISTRY
from core.paths import write_atomic


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
            write_atomic(self.path, json.dumps(state))
        except OSError:
            pass  # progress is advisory: a full disk must not kill the run itself


# Rough shares of a run's time per phase, from the default model on a CPU on the quick world
# (evaluation a few seconds, augmenting with the model about 10, training about 60): they only
# shape the fraction done, so that quick runs early in a job do not promise an early end.
PHASE_WEIGHTS = {"augment": 5.0, "train": 20.0, "evaluate": 1.0}


def method_phases(method: str) -> tuple[str, ...]:
    """The phases a method's run goes through, in order (the registry's; a name this version
    does not know, from an old progress file, has only an evaluation)."""
    known = REGISTRY.get(method)
    return known.phases if known else ("evaluate",)


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


def eta_seconds(progress: dict | None, now: float | None = None,
                expected_total: float | None = None) -> float | None:
    """Seconds left. From the pace so far; with `expected_total` (a job whose length was
    foreseen: the demo, from the machine's calibration), the time left at the expected pace and
    at the pace so far are blended, the pace weighing as much as the share done, so an early
    slow or quick phase cannot swing the ETA by an hour, and a machine slower than foreseen
    still shows it. None until there is a pace or an expectation."""
    fraction = overall_fraction(progress)
    if fraction >= 1.0:
        return 0.0
    if not progress or progress.get("started") is None:
        return None
    now = time.time() if now is None else now
    elapsed = max(progress["updated"] - progress["started"], 0.0)
    paced = elapsed * (1 - fraction) / fraction if fraction > 0 and elapsed > 0 else None
    if expected_total:
        foreseen = expected_total * (1 - fraction)
        left = foreseen if paced is None else (1 - fraction) * foreseen + fraction * paced
    elif paced is None:
        return None
    else:
        left = paced
    return max(progress["updated"] + left - now, 0.0)


# The demo as measured (`python -m core bench --demo`, 2026-11-30): 219 s on a 2-core AMD EPYC
# with AVX2 only, whose calibration (core/running/calibration.py) reads 128 GFLOP/s for the
# default model. Another machine's demo takes about as much longer as its calibration is lower.
DEMO_SECONDS, DEMO_FLOPS_PER_SECOND = 219.0, 1.28e11


def expected_demo_seconds(flops_per_second: float | None) -> float:
    """The demo's expected wall time on a machine of this calibration (the reference machine's
    time when there is none yet); a CPU shared with other work takes longer."""
    if not flops_per_second or flops_per_second <= 0:
        return DEMO_SECONDS
    return DEMO_SECONDS * DEMO_FLOPS_PER_SECOND / flops_per_second


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

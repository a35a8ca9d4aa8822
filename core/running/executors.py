"""Where a sweep's runs run: one after another in this process (`local`, runner.run_all), on
several worker processes of this machine (`processes`, process_executor.run_on_processes; on a
GPU they share it), or each a Ray task (`ray`, ray_executor.run_on_ray) on a local Ray or a
cluster. The command line, the study and the app's jobs all choose here. Importing this module
loads no model code, so the command line can offer the choice cheaply."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from core.errors import LabError

if TYPE_CHECKING:
    from core.running.result import RunResult
    from core.running.runner import Progress
    from core.running.spec import RunSpec
    from core.storage.store import Store

EXECUTORS = {"local": "here, one run after another",
             "processes": "here, on several worker processes at once (LAB_WORKERS; on a GPU "
                          "they share it)",
             "ray": "on Ray, each run a task (a local Ray, or the cluster in LAB_RAY_ADDRESS)"}


def run_specs(specs: Sequence[RunSpec], store: Store, progress: Progress | None = None,
              on_result: Callable[[RunResult | None, RunSpec, str | None], None] | None = None,
              executor: str = "local", address: str | None = None,
              workers: int | None = None) -> list[RunResult]:
    """Run and store the specs with the chosen executor; `address` (a Ray cluster) matters
    only on Ray, `workers` only on processes."""
    if executor not in EXECUTORS:
        raise LabError(f"executor must be one of {', '.join(EXECUTORS)}, got '{executor}'")
    if workers is not None and workers < 1:
        raise LabError(f"--workers must be at least 1, got {workers}")
    if executor == "local":
        from core.running.runner import run_all
        return run_all(specs, store, progress, on_result=on_result)
    if executor == "processes":
        from core.running.process_executor import run_on_processes
        return run_on_processes(specs, store, progress, on_result, workers)
    from core.running.ray_executor import run_on_ray
    return run_on_ray(specs, store, progress, on_result, address)

"""Where a sweep's runs run: one after another in this process (`local`, runner.run_all), or
each a Ray task (`ray`, ray_executor.run_on_ray) on a local Ray or a cluster. The command line,
the study and the app's jobs all choose here."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from core.errors import LabError
from core.running.result import RunResult
from core.running.runner import Progress, run_all
from core.running.spec import RunSpec
from core.storage.store import Store

EXECUTORS = ("local", "ray")


def run_specs(specs: Sequence[RunSpec], store: Store, progress: Progress | None = None,
              on_result: Callable[[RunResult | None, RunSpec, str | None], None] | None = None,
              executor: str = "local", address: str | None = None) -> list[RunResult]:
    """Run and store the specs with the chosen executor; `address` (a Ray cluster) matters
    only on Ray."""
    if executor not in EXECUTORS:
        raise LabError(f"executor must be one of {', '.join(EXECUTORS)}, got '{executor}'")
    if executor == "local":
        return run_all(specs, store, progress, on_result=on_result)
    from core.running.ray_executor import run_on_ray
    return run_on_ray(specs, store, progress, on_result, address)

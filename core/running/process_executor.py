"""Sweeps on several worker processes of this machine: on a GPU, several runs share it at once.

A run of the default model on a GPU keeps the GPU a few percent busy (each step is a few
milliseconds of arithmetic behind the launching process's Python), so runs side by side add
up almost linearly until the GPU fills. On a CPU with many cores the workers split the cores.

As on Ray (ray_executor.py), this process is the one writer: it builds and stores each world,
marks its runs begun, and hands the workers whole worlds (every run of one kind and seed), so a
worker reuses the augmentations and training it has already done for that world, exactly as
`run_all` does. A worker loads its models once and returns each `RunResult`. A worker that
dies fails the run it was on; the rest of its world goes to a fresh worker.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Sequence

from core.errors import LabError
from core.limits import positive_setting
from core.running import calibration, hardware
from core.running.result import RunResult
from core.running.runner import Progress, world_for
from core.running.spec import RunSpec
from core.storage.store import Store
from core.worlds import World

OnResult = Callable[[RunResult | None, RunSpec, str | None], None]
Unit = tuple[RunSpec, World, str]  # a run to do: its spec, its world, its run id


def default_workers() -> int:
    """LAB_WORKERS, else 4 on a GPU (a 135M model's runs leave it mostly idle), else one
    worker per two cores."""
    if os.environ.get("LAB_WORKERS"):
        return int(positive_setting("LAB_WORKERS", 1))
    from core.lm.models import pick_device
    cores = os.cpu_count() or 1
    return min(4, cores) if pick_device().type == "cuda" else max(1, cores // 2)


def _worker(tasks, reports, threads: int) -> None:
    """A worker's life: take a world's runs, do them one after another, report each."""
    import torch

    from core.lm import models
    from core.methods import writers
    from core.running.runner import execute

    torch.set_num_threads(threads)
    loaded: dict[str, models.LM] = {}
    load = lambda name: loaded.get(name) or loaded.setdefault(name, models.load(name))  # noqa: E731
    generated, trained_before, teachers = {}, {}, {}
    while (task := tasks.get()) is not None:
        units, calibrate = task
        for spec, world, run_id in units:
            def report(phase: str, fraction: float, message: str, run_id=run_id) -> None:
                reports.put(("progress", run_id, (phase, fraction, message)))
            try:
                lm = load(spec.model)
                if spec.model in calibrate:
                    reports.put(("calibration", None, calibration.measure(lm)))
                    calibrate = calibrate - {spec.model}
                teacher = None
                if spec.aug_source_used == "teacher":
                    if spec.teacher not in teachers:
                        teachers[spec.teacher] = writers.resolve(spec.teacher, lm, load)
                    teacher = teachers[spec.teacher]
                result = execute(spec, world, lm, report, run_id, generated, trained_before, teacher)
                reports.put(("done", run_id, result))
            except LabError as error:
                reports.put(("failed", run_id, str(error)))
            except Exception as error:  # a bug: its traceback goes to the store
                reports.put(("failed", run_id, f"{type(error).__name__}: {error}\n"
                                               f"{traceback.format_exc()}"))
        reports.put(("idle", os.getpid(), None))


class _Worker:
    """A worker process, its own queue of work, and the world it holds."""

    def __init__(self, context, reports, threads: int) -> None:
        self.tasks = context.Queue()
        self.process = context.Process(target=_worker, args=(self.tasks, reports, threads),
                                       daemon=True)
        self.process.start()
        self.group: int | None = None


def run_on_processes(specs: Sequence[RunSpec], store: Store, progress: Progress | None = None,
                     on_result: OnResult | None = None, workers: int | None = None
                     ) -> list[RunResult]:
    """Run the specs on `workers` processes (default `default_workers()`) and store every
    result here as it arrives; a failed run is stored as failed and the rest go on."""
    workers = workers or default_workers()
    worlds: dict[tuple, World] = {}
    built = [world_for(spec.validate(), worlds) for spec in specs]
    groups: dict[int, list[Unit]] = {}
    index: dict[int, int] = {}  # id of a built world -> its group
    for spec, world in zip(specs, built):
        run_id = uuid.uuid4().hex[:12]
        store.begin_run(run_id, store.save_world(world, spec.preset), spec)
        groups.setdefault(index.setdefault(id(world), len(index)), []).append((spec, world, run_id))
    from core.lm.models import pick_device
    device = str(pick_device())
    calibrate = {spec.model for spec in specs
                 if store.calibration(spec.model, calibration.machine_name(), device) is None}
    context = multiprocessing.get_context("spawn")  # CUDA cannot live in a forked child
    reports = context.Queue()
    threads = max(1, (os.cpu_count() or 1) // workers) if device == "cpu" else 1
    pool = [_Worker(context, reports, threads) for _ in range(min(workers, len(groups)))]
    try:
        return _collect(groups, pool, lambda: _Worker(context, reports, threads), reports,
                        store, progress, on_result, calibrate)
    finally:
        for worker in pool:
            worker.tasks.put(None)
        for worker in pool:
            worker.process.join(timeout=10)
            if worker.process.is_alive():
                worker.process.kill()


def _collect(groups: dict[int, list[Unit]], pool: list[_Worker], spawn, reports, store: Store,
             progress, on_result, calibrate: set[str]) -> list[RunResult]:
    """Hand each idle worker a world; store results as they come. A worker that died failed
    the first run of its world not yet finished (they run in order); the rest of that world
    goes to a fresh worker."""
    version = hardware.code_version()
    remaining = {run_id: spec for units in groups.values() for spec, _, run_id in units}
    waiting = deque(groups)
    results = []

    def finish(run_id: str, outcome: RunResult | str) -> None:
        spec = remaining.pop(run_id)
        if isinstance(outcome, str):
            store.fail_run(run_id, outcome)
            if on_result:
                on_result(None, spec, outcome)
            return
        outcome.extra["code_version"] = version
        store.finish_run(outcome)
        results.append(outcome)
        if on_result:
            on_result(outcome, spec, None)

    def handle(kind: str, key, value) -> None:
        if kind == "idle":
            for worker in pool:
                if worker.process.pid == key:
                    worker.group = None
        elif kind == "progress" and progress and key in remaining:
            progress(value[0], value[1], f"{remaining[key].method}: {value[2]}")
        elif kind == "calibration":
            store.save_calibration(value)
        elif kind in ("done", "failed") and key in remaining:
            finish(key, value)

    while remaining:
        for worker in pool:
            if worker.group is None and waiting:
                worker.group = waiting.popleft()
                worker.tasks.put(([u for u in groups[worker.group] if u[2] in remaining],
                                  calibrate))
                calibrate = set()
        try:
            handle(*reports.get(timeout=0.5))
        except queue.Empty:
            pass
        dead = [w for w in pool if not w.process.is_alive()]
        while dead:  # read every report it sent before deciding what it left undone
            try:
                handle(*reports.get_nowait())
            except queue.Empty:
                break
        for worker in dead:
            pool.remove(worker)
            left = [u for u in groups.get(worker.group, []) if u[2] in remaining]
            if left:
                finish(left[0][2], f"the worker process running this run died (exit code "
                                   f"{worker.process.exitcode})")
            if left[1:]:
                groups[worker.group] = left[1:]
                waiting.appendleft(worker.group)
            if remaining:
                pool.append(spawn())
    return results

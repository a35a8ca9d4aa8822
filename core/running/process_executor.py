"""Sweeps on several worker processes of this machine: on a GPU, several runs share it at once.

A run of the default model on a GPU keeps the GPU a few percent busy (each step is a few
milliseconds of arithmetic behind the launching process's Python), so runs side by side add
up almost linearly until the GPU fills. On a CPU with many cores the workers split the cores.

As on Ray (ray_executor.py), this process is the one writer: it builds and stores each world,
marks its runs begun, and hands the workers whole worlds (every run of one kind and seed), so a
worker reuses the augmentations and training it has already done for that world, exactly as
`run_all` does; so a sweep of one world (`python -m core run`) gains nothing. A worker loads its
models once and sends back each `RunResult`. A run that fails, a bug included, is stored as
failed with its error and the rest go on, as on Ray. A worker that dies fails the run it was
on; the rest of its world goes to a fresh worker.

Each worker talks to this process over a pipe of its own: a worker that dies mid-message
breaks only its own pipe, and a worker whose launcher died finds its pipe closed and exits.
"""

from __future__ import annotations

import multiprocessing
import os
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from multiprocessing.connection import wait

from core.errors import LabError
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
    if setting := os.environ.get("LAB_WORKERS"):
        if not setting.isdigit() or int(setting) < 1:
            raise LabError(f"LAB_WORKERS must be a whole number of at least 1, got '{setting}'")
        return int(setting)
    from core.lm.models import pick_device
    cores = os.cpu_count() or 1
    return min(4, cores) if pick_device().type == "cuda" else max(1, cores // 2)


def _worker(connection, threads: int) -> None:
    """A worker's life: take a world's runs, do them one after another, report each; leave
    when told to, or when the launcher is gone."""
    import torch

    from core.lm import models
    from core.methods import writers
    from core.running.runner import execute

    torch.set_num_threads(threads)
    loaded: dict[str, models.LM] = {}
    load = lambda name: loaded.get(name) or loaded.setdefault(name, models.load(name))  # noqa: E731
    generated, trained_before, teachers = {}, {}, {}
    try:
        while (units := connection.recv()) is not None:
            for spec, world, run_id in units:
                connection.send(("start", run_id, None))

                def report(phase: str, fraction: float, message: str, run_id=run_id) -> None:
                    connection.send(("progress", run_id, (phase, fraction, message)))
                try:
                    lm = load(spec.model)
                    teacher = None
                    if spec.aug_source_used == "teacher":
                        if spec.teacher not in teachers:
                            teachers[spec.teacher] = writers.resolve(spec.teacher, lm, load)
                        teacher = teachers[spec.teacher]
                    outcome = execute(spec, world, lm, report, run_id, generated, trained_before,
                                      teacher)
                except LabError as error:
                    outcome = str(error)
                except Exception as error:  # a bug: its traceback goes to the store
                    outcome = f"{type(error).__name__}: {error}\n{traceback.format_exc()}"
                connection.send(("done", run_id, outcome))
            connection.send(("idle", None, None))
    except (EOFError, BrokenPipeError):
        pass  # the launcher is gone: nothing left to report to


class _Worker:
    """A worker process, its end of the pipe, the world it holds and the run it is on."""

    def __init__(self, context, threads: int) -> None:
        self.connection, theirs = context.Pipe()
        self.process = context.Process(target=_worker, args=(theirs, threads), daemon=True)
        self.process.start()
        theirs.close()  # only the worker holds its end, so its death closes the pipe
        self.group: int | None = None
        self.run: str | None = None
        self.started_any = False


def run_on_processes(specs: Sequence[RunSpec], store: Store, progress: Progress | None = None,
                     on_result: OnResult | None = None, workers: int | None = None
                     ) -> list[RunResult]:
    """Run the specs on `workers` processes (default `default_workers()`), a world each, and
    store every result here as it arrives; a failed run is stored as failed and the rest go
    on."""
    workers = workers or default_workers()
    worlds: dict[tuple, World] = {}
    built = [world_for(spec.validate(), worlds) for spec in specs]
    _calibrate(store, {spec.model for spec in specs})
    groups: dict[int, list[Unit]] = {}
    index: dict[int, int] = {}  # id of a built world -> its group
    with store.connection():
        for spec, world in zip(specs, built):
            run_id = uuid.uuid4().hex[:12]
            store.begin_run(run_id, store.save_world(world, spec.preset), spec)
            groups.setdefault(index.setdefault(id(world), len(index)), []).append(
                (spec, world, run_id))
    from core.lm.models import pick_device
    context = multiprocessing.get_context("spawn")  # CUDA cannot live in a forked child
    size = min(workers, len(groups))
    threads = max(1, (os.cpu_count() or 1) // size) if pick_device().type == "cpu" else 1
    pool = [_Worker(context, threads) for _ in range(size)]
    try:
        return _collect(groups, pool, lambda: _Worker(context, threads), store, progress,
                        on_result)
    finally:
        for worker in pool:
            try:
                worker.connection.send(None)
            except OSError:
                pass
        deadline = time.monotonic() + 10
        for worker in pool:
            worker.process.join(timeout=max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()


def _calibrate(store: Store, names: set[str]) -> None:
    """This machine's throughput for each model, measured here before any worker starts (as
    `run_all` does), so no worker's share of the machine is taken for the whole of it."""
    from core.lm import models
    from core.running.runner import _calibrated
    device = str(models.pick_device())
    for name in sorted(names):
        if store.calibration(name, calibration.machine_name(), device) is None:
            _calibrated(store, models.load(name))


def _collect(groups: dict[int, list[Unit]], pool: list[_Worker], spawn: Callable[[], _Worker],
             store: Store, progress, on_result) -> list[RunResult]:
    """Hand each idle worker a world; store results as they come; replace a worker that dies,
    failing the run it was on."""
    version = hardware.code_version()
    remaining = {run_id: spec for units in groups.values() for spec, _, run_id in units}
    waiting = deque(groups)
    results: list[RunResult] = []
    failed_starts = 0

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

    def handle(worker: _Worker, kind: str, run_id: str | None, value) -> None:
        nonlocal failed_starts
        if kind == "start":
            worker.run, worker.started_any, failed_starts = run_id, True, 0
        elif kind == "progress" and progress and run_id in remaining:
            progress(value[0], value[1], f"{remaining[run_id].method}: {value[2]}")
        elif kind == "done" and run_id in remaining:
            worker.run = None
            finish(run_id, value)
        elif kind == "idle":  # anything of its world still open was lost on the way: say so
            for unit in groups[worker.group]:
                if unit[2] in remaining:
                    finish(unit[2], "the worker process finished its runs without this one's result")
            worker.group = None

    while remaining:
        for worker in pool:
            if worker.group is None and waiting:
                worker.group = waiting.popleft()
                worker.connection.send([u for u in groups[worker.group] if u[2] in remaining])
        ready = wait([w.connection for w in pool] + [w.process.sentinel for w in pool], timeout=1)
        for worker in list(pool):
            if worker.connection not in ready and worker.process.sentinel not in ready:
                continue
            try:
                while worker.connection.poll():  # every report it sent, before its death
                    handle(worker, *worker.connection.recv())
                if worker.process.is_alive():
                    continue
            except (EOFError, OSError):  # its end closed, or a message cut short
                worker.process.join(timeout=5)
            pool.remove(worker)
            failed_starts += not worker.started_any
            left = [u for u in groups.get(worker.group, []) if u[2] in remaining]
            dead = f"the worker process running this run died (exit code {worker.process.exitcode})"
            if failed_starts >= 2:  # workers cannot start here: never respawn forever
                for unit in left + [u for g in waiting for u in groups[g] if u[2] in remaining]:
                    finish(unit[2], f"worker processes could not start (exit code "
                                    f"{worker.process.exitcode})")
                waiting.clear()
                continue
            if left and worker.run in remaining:
                finish(worker.run, dead)
            if left := [u for u in left if u[2] in remaining]:
                groups[worker.group] = left
                waiting.appendleft(worker.group)
            if remaining:
                pool.append(spawn())
    return results

"""Sweeps on Ray: each run (world, method, seed) is one Ray task, and the results come back here,
to the one process that writes the store.

`run_all` (core/running/runner.py) runs the specs one after another in this process; this
module is its drop-in for a cluster. The driver builds and stores each world, marks its runs
begun, and ships (spec, world, run id) out; a task loads the model, runs `execute` and returns
the `RunResult` (or the error a user can fix). A task whose worker dies, or that raises a bug,
marks only its own run failed; the others go on. Ray is an optional install: nothing imports
it unless a sweep asks for it (`--executor ray`).

Resources per task: one CPU (LAB_RAY_CPUS_PER_RUN) and as many torch threads; on a cluster with
GPUs, a run that trains or scores on a GPU asks for a share of one (LAB_RAY_GPU_PER_RUN, default
0.25, so four small runs share a GPU).
"""

from __future__ import annotations

import logging
import os
import traceback
import uuid
from collections.abc import Callable, Sequence

from core.errors import LabError
from core.limits import positive_setting
from core.paths import REPO_ROOT
from core.running import hardware
from core.running.result import RunResult
from core.running.runner import Progress, world_for
from core.running.spec import RunSpec
from core.storage.store import Store
from core.worlds import World

OnResult = Callable[[RunResult | None, RunSpec, str | None], None]
OnStart = Callable[[RunSpec, str, int], None]  # spec, run id, the worker's process id


def _ray():
    try:
        import ray
    except ImportError:
        raise LabError("--executor ray needs Ray, an optional install: "
                       ".venv/bin/pip install -r requirements-cluster.txt") from None
    return ray


# Settings the workers must see; secrets stay here (the app's password, a hub token), and the
# teacher's key goes only to a sweep that asks a server.
SECRETS = ("LAB_PASSWORD", "LAB_TEACHER_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")


def connect(address: str | None = None, teacher_key: bool = False) -> bool:
    """Join the cluster at `address`, or start a local Ray on this machine (loopback only, no
    dashboard). Returns whether this call started it (so it is also the one to stop it)."""
    ray = _ray()
    if ray.is_initialized():
        return False
    # The workers import `core` from this checkout and see the lab's settings (LAB_*, HF_*).
    lab_env = {k: v for k, v in os.environ.items()
               if k.startswith(("LAB_", "HF_")) and k not in SECRETS}
    if teacher_key and os.environ.get("LAB_TEACHER_API_KEY"):
        lab_env["LAB_TEACHER_API_KEY"] = os.environ["LAB_TEACHER_API_KEY"]
    runtime_env = {"py_modules": [str(REPO_ROOT / "core")], "env_vars": lab_env}
    try:
        if address:
            ray.init(address=address, runtime_env=runtime_env, log_to_driver=False,
                     logging_level=logging.WARNING)
        else:
            # Ray keeps about one worker process per CPU and kills idle ones beyond that; the
            # progress queue's actor is one more, so without room for it each task started a
            # fresh worker (seconds of importing torch, and the model loaded again): 12 tiny
            # runs took 69 s instead of 33 s on 2 cores.
            workers = len(os.sched_getaffinity(0)) + 1
            ray.init(include_dashboard=False, log_to_driver=False, runtime_env=runtime_env,
                     logging_level=logging.WARNING, _node_ip_address="127.0.0.1",
                     _system_config={"num_workers_soft_limit": workers})
    except (ConnectionError, RuntimeError, ValueError) as error:
        where = f"the Ray cluster at {address}" if address else "a local Ray"
        raise LabError(f"cannot start or join {where}: {str(error).splitlines()[0]}") from None
    return True


def _run_unit(spec: RunSpec, world: World, run_id: str, reports, threads: int):
    """One run inside a Ray worker: load the model (and teacher), execute, hand the result
    back. A mistake a user can fix comes back as its message; a bug raises (a failed task)."""
    import torch

    from core.lm import models
    from core.methods import writers
    from core.running.runner import execute

    torch.set_num_threads(threads)

    def report(phase: str, fraction: float, message: str) -> None:
        try:
            reports.put_nowait((run_id, phase, fraction, message))
        except Exception:  # a full or gone queue must never fail the run
            pass

    report("start", 0.0, str(os.getpid()))
    try:
        lm = models.load(spec.model)
        teacher = None
        if spec.aug_source_used == "teacher":
            loaded = {spec.model: lm}
            teacher = writers.resolve(spec.teacher, lm, lambda name: loaded[name] if name in loaded
                                      else loaded.setdefault(name, models.load(name)))
        return execute(spec, world, lm, report, run_id, teacher=teacher)
    except LabError as error:
        return str(error)


def _options(spec: RunSpec, cluster: dict) -> dict:
    from core.methods import get_method
    cpus = positive_setting("LAB_RAY_CPUS_PER_RUN", 1.0)
    if cpus > cluster.get("CPU", 0):  # no node could ever take the task: refuse, never wait
        raise LabError(f"LAB_RAY_CPUS_PER_RUN is {cpus:g} but the Ray cluster has "
                       f"{cluster.get('CPU', 0):g} CPUs in all")
    options = {"num_cpus": cpus, "max_retries": 0}  # a dead worker fails its run, not twice
    method = get_method(spec.method)
    if cluster.get("GPU", 0) > 0 and (method.trains or method.scopes or method.reads_context):
        options["num_gpus"] = min(1.0, positive_setting("LAB_RAY_GPU_PER_RUN", 0.25))
    return options


def run_on_ray(specs: Sequence[RunSpec], store: Store, progress: Progress | None = None,
               on_result: OnResult | None = None, address: str | None = None,
               on_start: OnStart | None = None) -> list[RunResult]:
    """Run each spec as a Ray task and store every result here, in the order they finish.
    Progress and errors reach the same callbacks as `run_all`'s; a failed run is stored as
    failed with its error, and the rest go on."""
    ray = _ray()
    from ray.util.queue import Queue

    # Every spec checked and every world built before any run is marked begun: a mistake in
    # the tenth spec must not leave nine runs 'running' with no task behind them.
    worlds: dict[tuple, World] = {}
    built = [world_for(spec.validate(), worlds) for spec in specs]
    served = any(s.aug_source_used == "teacher" and s.teacher.startswith("http") for s in specs)
    started_here = connect(address, teacher_key=served)
    reports = None
    try:
        cluster = ray.cluster_resources()
        options = [_options(spec, cluster) for spec in specs]
        reports = Queue()
        remote = ray.remote(_run_unit)
        pending: dict = {}
        with store.connection():
            for spec, world, option in zip(specs, built, options):
                world_id = store.save_world(world, spec.preset)
                run_id = uuid.uuid4().hex[:12]
                store.begin_run(run_id, world_id, spec)
                threads = max(1, int(option["num_cpus"]))
                ref = remote.options(**option).remote(spec, world, run_id, reports, threads)
                pending[ref] = (spec, run_id)
        return _collect(ray, pending, reports, store, progress, on_result, on_start)
    finally:
        if reports is not None and not started_here:
            reports.shutdown()  # its actor; a Ray started here takes it down with it
        if started_here:
            ray.shutdown()


def _collect(ray, pending: dict, reports, store: Store, progress, on_result, on_start
             ) -> list[RunResult]:
    """Wait for the tasks; relay their progress; store each result as it arrives."""
    version = hardware.code_version()
    by_run = {run_id: spec for spec, run_id in pending.values()}
    results = []
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
        _relay(reports, by_run, progress, on_start)
        for ref in done:
            spec, run_id = pending.pop(ref)
            try:
                outcome = ray.get(ref)
            except ray.exceptions.RayError as error:  # the worker died, or a bug raised
                outcome = _failure(error)
            if isinstance(outcome, str):
                store.fail_run(run_id, outcome)
                if on_result:
                    on_result(None, spec, outcome)
                continue
            outcome.extra["code_version"] = version
            store.finish_run(outcome)
            results.append(outcome)
            if on_result:
                on_result(outcome, spec, None)
    _relay(reports, by_run, progress, on_start)
    return results


def _relay(reports, by_run: dict, progress, on_start) -> None:
    from ray.util.queue import Empty
    while True:
        try:
            run_id, phase, fraction, message = reports.get_nowait()
        except Empty:
            return
        if phase == "start":
            if on_start:
                on_start(by_run[run_id], run_id, int(message))
        elif progress:
            progress(phase, fraction, f"{by_run[run_id].method}: {message}")


def _failure(error: Exception) -> str:
    text = str(error).strip().splitlines()
    first = next((line for line in text if line.strip()), type(error).__name__)
    if "WorkerCrashedError" in type(error).__name__ or "died" in first or "crashed" in first.lower():
        return f"the Ray worker running this run died ({type(error).__name__}): {first}"
    return f"{type(error).__name__}: {first}\n{traceback.format_exception_only(error)[-1]}"

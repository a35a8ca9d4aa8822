"""Runs: one (world, method, model, settings, seed) each, executed as an independent unit.

`execute` is pure: it takes a world and a loaded model and returns a `RunResult`; it never
touches the store. `run_all` hands each result to the store, the one writer, so a distributed
runner only has to ship `RunSpec`s out and `RunResult`s back.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import random
import traceback
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from core.errors import LabError
from core.kernels import fast_paths
from core.lm import models
from core.lm.models import LM
from core.methods import augment as augment_mod
from core.methods import get_method, icl, writers
from core.methods.finetune import make_examples, train
from core.results.audit import given_coverage
from core.running import calibration, hardware
from core.running.costs import Meter, PhaseCost, forward_flops, matmul_shape
from core.running.evaluate import Prediction, accuracy_by_split, evaluate
from core.running.result import RunResult
from core.running.spec import RunSpec
from core.storage.store import Store
from core.worlds import Item, World, build_world

Progress = Callable[[str, float, str], None]  # phase, fraction done, message

# Training runs already done in this process, by what determines their outcome: the model, the
# world, the exact training examples and the fine-tuning settings with the seed. Training and
# scoring are deterministic on a device (tests/test_pipeline.py checks it), so a run whose
# examples equal an earlier run's (ft_global when the world has no global inferences trains on
# exactly ft's data) takes that run's trained result instead of computing it again, and
# records which run it came from and what computing it cost.
TrainingCache = dict[str, "RunResult"]


def _eval_cost(lm: LM, items: Sequence[Item], prefix_tokens: int) -> tuple[int, float, float]:
    """Tokens, FLOPs, and FLOPs of the shared prefix alone, of the scoring fast path: the
    prefix once, each item's prompt once, then each choice's continuation, with the
    vocabulary projection only on scored tokens."""
    shape = matmul_shape(lm)
    prefix_flops = forward_flops(shape, prefix_tokens, prefix_tokens / 2, head_tokens=0)
    tokens, flops = prefix_tokens, prefix_flops
    for item in items:
        prompt = len(lm.encode(item.prompt)) + 1  # the prefix's last token is fed with it
        tokens += prompt
        flops += forward_flops(shape, prompt, prefix_tokens + prompt / 2, head_tokens=0)
        for choice in item.choices:
            cont = len(lm.encode(choice))
            tokens += cont
            flops += forward_flops(shape, cont, prefix_tokens + prompt + cont / 2, cont)
    return tokens, flops, prefix_flops


def _evaluate_phase(lm: LM, world: World, context: str,
                    report: Progress) -> tuple[list[Prediction], PhaseCost, float]:
    with Meter("evaluate", lm.device) as meter:
        predictions = evaluate(lm, world.items, shared_context=context,
                               progress=lambda d, n: report("evaluate", d / n, f"{d}/{n} choices"))
    prefix = len(lm.start_ids + lm.encode(context))
    meter.cost.tokens, meter.cost.flops, prefix_flops = _eval_cost(lm, world.items, prefix)
    return predictions, meter.cost, prefix_flops


def _training_key(lm: LM, world: World, examples: list, spec: RunSpec) -> str:
    config = dataclasses.asdict(dataclasses.replace(spec.ft, seed=spec.seed))
    blob = json.dumps([lm.name, str(lm.device), world.world_id, examples, config], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def execute(spec: RunSpec, world: World, lm: LM, progress: Progress | None = None,
            run_id: str | None = None,
            generated: augment_mod.GenerationCache | None = None,
            trained_before: TrainingCache | None = None,
            teacher: writers.Writer | None = None) -> RunResult:
    """Run one method on one world with a loaded model; the result is not stored here.
    `generated` holds model-written augmentations to reuse (see `augment`); `trained_before`
    holds earlier runs to take a trained result from (see `TrainingCache`); `teacher` writes
    the augmentations of a run whose source is `teacher`."""
    spec.validate()
    report = progress or (lambda phase, fraction, message: None)
    run_id = run_id or uuid.uuid4().hex[:12]
    costs: list[PhaseCost] = []
    extra: dict[str, Any] = {}
    augmentations, losses, context = [], [], ""
    method = get_method(spec.method)
    extra["fast_paths"] = fast_paths.used(lm.model)  # which kernels this model's run took

    if not method.trains and not method.reads_context:
        extra["heldout_coverage"] = _coverage(world, [])  # given nothing
    if method.reads_context:
        built = icl.build_context(lm, world.documents, world.items, spec.icl_max_tokens, spec.seed,
                                  spec.icl_fill)
        context = built.text
        extra["heldout_coverage"] = _coverage(world, [context])
        extra.update(icl_context_tokens=built.tokens, icl_documents_used=built.documents_used,
                     icl_documents_total=built.documents_total,
                     icl_needed_fact_coverage=built.needed_fact_coverage)

    with contextlib.ExitStack() as finally_restore:
        if method.trains:
            texts = [d.text for d in world.documents]
            if method.scopes:
                with Meter("augment", lm.device) as meter:
                    aug = augment_mod.augment(world, method.scopes, spec.aug_source, lm,
                                              progress=lambda d, n: report("augment", d / n,
                                                                           f"{d}/{n} prompts"),
                                              cache=generated, teacher=teacher)
                    meter.cost.seconds += aug.reused_seconds
                meter.cost.tokens, meter.cost.flops = aug.tokens, aug.flops
                costs.append(meter.cost)
                augmentations = aug.statements
                dress = random.Random(spec.seed)
                texts += [world.as_document(s, dress) for s in aug.training_texts()]
                extra["augmentation_audit"] = aug.audit()
                extra["augmentation_statements"] = len(aug.statements)
                extra.update(aug.seen)  # how much of the training set global prompts saw
                if spec.aug_source == "teacher" and teacher is not None:
                    extra["augmentation_writer"] = {"teacher": teacher.name,
                                                    "served": teacher.served,
                                                    "flops_known": teacher.flops_known}
                if aug.reused_scopes:
                    extra["augmentation_reused"] = aug.reused_scopes
            extra["heldout_coverage"] = _coverage(world, texts)
            examples = make_examples(texts, spec.ft.splitting)
            key = _training_key(lm, world, examples, spec) if trained_before is not None else ""
            if key in (trained_before or {}):
                return _reuse_training(trained_before[key], spec, run_id, costs, augmentations, extra)
            # Training changes lm's weights in place (one copy in memory); they come back
            # when this run ends, for the next run on the same loaded model.
            finally_restore.enter_context(models.weights_restored(lm))
            with Meter("train", lm.device) as meter:
                trained = train(lm, examples, dataclasses.replace(spec.ft, seed=spec.seed),
                                progress=lambda s, n, loss: report("train", s / n,
                                                                   f"step {s}/{n}, loss {loss:.3f}"))
            meter.cost.tokens, meter.cost.flops = trained.tokens, trained.flops
            costs.append(meter.cost)
            losses = trained.losses
            # The FLOPs are those of every training token; the steps computed fewer where
            # examples share an opening (core/methods/packing.py). bf16 on CPUs with bf16
            # matrix units, else float32: the same data and seed can score differently on the
            # two kinds of machine, so a record says which it had.
            extra.update(train_examples=len(examples), train_steps=trained.steps,
                         train_tokens_computed=trained.computed_tokens,
                         train_precision=trained.precision)
            if lm.device.type == "cuda":
                extra["train_step_kind"] = trained.step_kind  # CUDA graphs, or why not

        predictions, eval_cost, prefix_flops = _evaluate_phase(lm, world, context, report)
    costs.append(eval_cost)
    # One user query, served alone, reads the whole shared context again (for ICL).
    extra["per_query_flops"] = (eval_cost.flops - prefix_flops) / len(world.items) + prefix_flops
    result = RunResult(run_id, spec, accuracy_by_split(predictions, world.items), costs, predictions,
                       augmentations, losses, extra)
    if method.trains and trained_before is not None:
        trained_before[key] = result
    return result


def _coverage(world: World, texts: Sequence[str]) -> float | None:
    held_out = [item for item in world.items if item.split in world.held_out_splits]
    return given_coverage(texts, held_out, world.kind)


def _reuse_training(earlier: RunResult, spec: RunSpec, run_id: str, costs: list[PhaseCost],
                    augmentations: list, extra: dict[str, Any]) -> RunResult:
    """This run trains on exactly `earlier`'s examples with its settings and seed: its trained
    model, and so its predictions, are `earlier`'s. Its costs are this run's augmentation plus
    what training and scoring cost `earlier` (the same work, measured once)."""
    reused = [dataclasses.replace(c) for c in earlier.costs if c.phase in ("train", "evaluate")]
    extra.update({k: earlier.extra[k] for k in ("train_examples", "train_steps", "train_precision",
                                                  "per_query_flops") if k in earlier.extra},
                 training_reused_from=earlier.run_id)
    return RunResult(run_id, spec, earlier.metrics, costs + reused, earlier.predictions,
                     augmentations, earlier.losses, extra)


def _calibrated(store: Store, lm: LM) -> None:
    """This machine's throughput for `lm` in the store, measured first if there is none: the
    what-if turns FLOPs into seconds with it (core/running/calibration.py)."""
    if store.calibration(lm.name, calibration.machine_name(), str(lm.device)) is None:
        store.save_calibration(calibration.measure(lm))


def world_for(spec: RunSpec, worlds: dict[tuple, World]) -> World:
    """The spec's world, built once per (kind, seed, preset, parameters) into `worlds`: every
    method and source of a seed shares it."""
    key = (spec.world_kind, spec.world_seed, spec.preset, tuple(sorted(spec.overrides.items())))
    if key not in worlds:
        worlds[key] = build_world(spec.world_kind, spec.world_seed, spec.preset, spec.overrides)
    return worlds[key]


def run_all(specs: Sequence[RunSpec], store: Store, progress: Progress | None = None,
            lm_cache: dict[str, LM] | None = None,
            on_result: Callable[[RunResult | None, RunSpec, str | None], None] | None = None,
            ) -> list[RunResult]:
    """Execute each spec and store it; a failing run is stored as failed and the rest go on.
    Models and worlds are loaded once per process, and model-written augmentations are
    written once per world and scope."""
    lm_cache = {} if lm_cache is None else lm_cache
    worlds: dict[tuple, World] = {}
    generated: augment_mod.GenerationCache = {}
    trained_before: TrainingCache = {}
    teachers: dict[str, writers.Writer] = {}
    calibrated: set[str] = set()
    version = hardware.code_version()
    results = []
    for spec in specs:
        world = world_for(spec.validate(), worlds)
        if spec.model not in lm_cache:
            lm_cache[spec.model] = models.load(spec.model)
        if spec.model not in calibrated:  # a model the caller loaded (the demo's) included
            _calibrated(store, lm_cache[spec.model])  # may measure for seconds: not held
            calibrated.add(spec.model)
        with store.connection():
            world_id = store.save_world(world, spec.preset)
            run_id = uuid.uuid4().hex[:12]
            store.begin_run(run_id, world_id, spec)
        try:
            teacher = None
            if spec.aug_source_used == "teacher":
                if spec.teacher not in teachers:
                    teachers[spec.teacher] = writers.resolve(
                        spec.teacher, lm_cache[spec.model],
                        lambda name: lm_cache.get(name) or lm_cache.setdefault(name, models.load(name)))
                teacher = teachers[spec.teacher]
            result = execute(spec, world, lm_cache[spec.model], progress, run_id, generated,
                             trained_before, teacher)
        except LabError as error:
            store.fail_run(run_id, str(error))
            if on_result:
                on_result(None, spec, str(error))
            continue
        except Exception as error:  # a bug: keep the traceback in the store for the report
            store.fail_run(run_id, f"{type(error).__name__}: {error}\n{traceback.format_exc()}")
            raise
        result.extra["code_version"] = version
        store.finish_run(result)
        results.append(result)
        if on_result:
            on_result(result, spec, None)
    return results


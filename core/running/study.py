"""`python -m core study`: the study's table, every method on several world kinds and seeds,
with oracle and model augmentation, summarized as mean and 95% interval over seeds.

A study resumes: runs already complete (same world, method, model, source, seed and
settings) in the database, or in the results file it writes, are not run again. The results
file is rewritten after every run, so a study cut off keeps what it finished, and another
machine with the file but not the database picks up where it stopped.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from core.methods import METHODS, get_method
from core.results import analysis, results_file
from core.running.executors import run_specs
from core.running.runner import RunSpec
from core.storage.store import Store
from core.worlds import build_world

CAPTION = ("Accuracy per split: mean over seeds [95% interval]. " + analysis.INTERVAL_NOTE +
           " Coverage: the share of held-out items whose statement the run was given word for "
           "word (in its training data with augmentations, or in its context); accuracy up to "
           "the coverage can be memory rather than inference. '(adds nothing)': the "
           "augmentation wrote no statement, so the run trained on the same data as ft. "
           "Training: the fine-tuning precision (bf16 on CPUs with bf16 matrix units, else "
           "float32; blank for a row whose records predate the field).")


def study_specs(kinds: Sequence[str], seeds: Sequence[int], model: str = "default",
                sources: Sequence[str] = ("oracle", "model"), preset: str = "quick",
                teacher: str = "") -> list[RunSpec]:
    """Per seed and kind: every method once, and the augmented ones once per source (the
    `teacher` source writes with `teacher`). The seed sets both the world and training."""
    specs = []
    for seed in seeds:
        for kind in kinds:
            for method in METHODS:
                for source in (sources if get_method(method).scopes else sources[:1]):
                    specs.append(RunSpec(method=method, world_kind=kind, world_seed=seed, seed=seed,
                                         preset=preset, model=model, aug_source=source,
                                         teacher=teacher if source == "teacher" else ""))
    return specs


@functools.lru_cache(maxsize=256)
def _world_id(kind: str, seed: int, preset: str, overrides: str) -> str:
    """A world's id, built once per process: every method and source of a seed shares it."""
    return build_world(kind, seed, preset, json.loads(overrides)).world_id


def _world_of(spec: RunSpec) -> str:
    return _world_id(spec.world_kind, spec.world_seed, spec.preset,
                     json.dumps(spec.overrides, sort_keys=True))


def _latest_complete(store: Store, spec: RunSpec) -> str | None:
    """The newest complete run of exactly this spec (world, method, model, source, seed and
    settings), or None."""
    return store.latest_complete_run(_world_of(spec), spec.method, spec.model,
                                     spec.aug_source_used, spec.seed, spec.settings())


def _spec_key(spec: RunSpec) -> tuple:
    world_id = _world_of(spec)
    # Settings as a record keeps them (training's own seed is the run's seed: dropped).
    return (world_id, spec.method, spec.model, spec.aug_source_used, spec.seed,
            analysis.canonical_json(spec.settings(), drop_seed=True))


def _record_key(record: dict) -> tuple | None:
    """A results-file record's key, comparable with `_spec_key`; None for a record written
    before records named their world (it matches no spec)."""
    if not record.get("world_id"):
        return None
    method_model_source_seed_settings = results_file.spec_key(record)[4:]
    return (record["world_id"], *method_model_source_seed_settings)


def run_study(specs: Sequence[RunSpec], store: Store, progress=None, on_result=None,
              executor: str = "local", address: str | None = None,
              workers: int | None = None, results_path: str | Path | None = None) -> int:
    """Run the specs not yet complete, in the store or in the results file at `results_path`,
    with the `executor` (core/running/executors.py); returns how many were run. With a results
    file, each run is merged into it as soon as it is stored."""
    published = (results_file.read(results_path)
                 if results_path and Path(results_path).exists() else [])
    done = {key for key in map(_record_key, published) if key}
    for spec in specs:  # worlds built before the file is held: that can take seconds
        _world_of(spec)
    with store.connection():
        todo = [spec for spec in specs
                if _latest_complete(store, spec) is None and _spec_key(spec) not in done]

    def stored(result, spec: RunSpec, error: str | None) -> None:
        if results_path and error is None:
            try:
                results_file.update(results_path, study_records(store, specs))
            except OSError as failure:  # the run is in the database; the final write retries
                print(f"warning: {results_path} not updated: {failure}", file=sys.stderr)
        if on_result:
            on_result(result, spec, error)

    run_specs(todo, store, progress, stored, executor, address, workers)
    return len(todo)


def study_records(store: Store, specs: Sequence[RunSpec]) -> list[dict]:
    """The results-file records of the specs' newest complete runs: a spec run twice (an
    older version of a world, a rerun) counts once, so no stale run sits in the table."""
    for spec in specs:  # worlds built before the file is held
        _world_of(spec)
    with store.connection():
        run_ids = [r for r in (_latest_complete(store, spec) for spec in specs) if r]
        return results_file.records_from_store(store, run_ids)


def study_table(records: Sequence[dict]) -> pd.DataFrame:
    """One row per (kind, method, source): seeds, coverage (held-out items given word for word,
    mean over seeds), 'mean [low, high]' per split (analysis.INTERVAL_NOTE), and the training
    precision, model, code version and dates of its runs."""
    runs, metrics = results_file.frames(records)
    grouped = analysis.group_over_seeds(runs, metrics)
    if grouped.empty:
        return grouped
    splits = sorted({c.removesuffix(" mean") for c in grouped.columns if c.endswith(" mean")}
                    - {"heldout"})
    by_id = runs.set_index("run_id")
    rows = []
    for _, group in grouped.iterrows():
        label = group["label"] + (" (adds nothing)" if group.get("augmentation_empty") else "")
        row = {"kind": group["kind"], "method": label, "seeds": group["runs"]}
        if pd.notna(group.get("coverage")):
            row["coverage"] = f"{group['coverage']:.2f}"
        for split in splits:
            if pd.notna(group.get(f"{split} mean")):
                row[split] = (f"{group[f'{split} mean']:.2f} "
                              f"[{group[f'{split} low']:.2f}, {group[f'{split} high']:.2f}]")
        mine = by_id.loc[group["run_ids"].split(", ")]
        dates = sorted({str(d)[:10] for d in mine["created_at"]})
        precisions = sorted({p for p in mine["train_precision"] if isinstance(p, str)})
        row.update(training=", ".join(precisions), model=group["model"],
                   code=", ".join(sorted(set(mine["code_version"]))),
                   date=dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]}")
        rows.append(row)
    order = {m: i for i, m in enumerate(METHODS)}
    table = pd.DataFrame(rows)
    table["_order"] = [order.get(label.split(" ")[0], 99) for label in table["method"]]
    # Splits in name order, whatever order the kinds' rows came in: a kind's table must not
    # change when another kind's runs are added to the file.
    columns = ["kind", "method", "seeds", "coverage", *splits, "training", "model", "code", "date"]
    table = table[[c for c in columns if c in table.columns] + ["_order"]]
    return table.sort_values(["kind", "_order", "method"]).drop(columns="_order").fillna("")


def markdown(table: pd.DataFrame) -> str:
    """One markdown table per kind (each kind has its own splits), under one caption."""
    out = [CAPTION, ""]
    for kind, rows in table.groupby("kind", sort=True):
        rows = rows.loc[:, (rows != "").any()].drop(columns="kind")
        header = list(rows.columns)
        out.append(f"**{kind}**\n")
        out.append("| " + " | ".join(header) + " |")
        out.append("|" + " --- |" * len(header))
        out += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows.itertuples(index=False)]
        out.append("")
    return "\n".join(out)

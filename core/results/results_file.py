"""A study's per-run results as a small JSON Lines file kept with the docs.

One line per run: what ran (kind, preset, seeds, method, source, model, settings), on which
code (`code_version`) and when, and what it scored (per split: correct of n, chance), with its
held-out coverage and compute. The study table is rebuilt from these lines alone, so a reader
can check the published table, and a colleague's file merges into ours (runs are told apart
by `run_id`) to extend it without running anything again.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from core.errors import LabError
from core.results import analysis
from core.storage.store import Store

RUN_KEYS = ("run_id", "kind", "preset", "world_seed", "seed", "method", "aug_source", "model",
            "settings", "world_params", "world_version", "world_id", "created_at", "code_version",
            "heldout_accuracy", "heldout_items", "heldout_coverage", "augmentation_empty",
            "flops", "seconds")
# Files written before 2026-12-01 lack these; they read as None (a run without `world_id`
# cannot be matched to a spec, so a study does not resume from it). `train_precision` is how a
# run fine-tuned: "bf16" or "float32" (None for a run that did not train, or an older record).
OPTIONAL_KEYS = ("world_id", "train_precision")
METRIC_KEYS = ("split", "correct", "n", "accuracy", "chance")


def records_from_store(store: Store, run_ids: Sequence[str] | None = None) -> list[dict]:
    """The complete runs of a store (or those named) as records, oldest first."""
    tables = analysis.load_tables(store)
    runs = tables.complete
    if run_ids is not None:
        runs = runs[runs["run_id"].isin(list(run_ids))]
    metrics = tables.metrics[tables.metrics["run_id"].isin(runs["run_id"])]
    by_run = {run_id: group for run_id, group in metrics.groupby("run_id")}
    records = []
    for run in runs.to_dict("records"):
        extra = json.loads(run["extra"]) if isinstance(run["extra"], str) else {}
        record = {key: _plain(run.get(key)) for key in RUN_KEYS}
        record["code_version"] = extra.get("code_version", "unknown")
        record["train_precision"] = extra.get("train_precision")
        record["created_at"] = str(run["created_at"])[:19]
        record["metrics"] = [{key: _plain(m[key]) for key in METRIC_KEYS}
                             for m in by_run.get(run["run_id"], pd.DataFrame()).to_dict("records")]
        records.append(record)
    return records


def _plain(value):
    """JSON-ready: numpy numbers to Python ones, NaN and NA to None."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return value.item() if hasattr(value, "item") else value


def write(path: str | Path, records: Iterable[dict]) -> int:
    """Write records, one per line, sorted so that the file diffs well; returns how many.
    The file is replaced whole (written beside it under a name of its own, then renamed), so
    a study killed while writing leaves the previous file, never half of one."""
    rows = sorted(records, key=lambda r: (r["kind"], r["method"], str(r["aug_source"]),
                                          r["seed"], r["run_id"]))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.",
                                     delete=False) as partial:
        partial.write("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
    os.replace(partial.name, path)
    return len(rows)


def update(path: str | Path, records: Iterable[dict]) -> list[dict]:
    """Merge records into the file at `path` (made if missing) and return all it now holds.
    The file is read again under a lock just before it is written, so pieces of a study
    running at once, each merging into the same file, keep each other's runs."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        merged = merge(read(path) if path.exists() else [], records)
        write(path, merged)
        return merged


def read(path: str | Path) -> list[dict]:
    """Records of a results file; a line that is not a run record is an error naming it."""
    records = []
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            missing = [k for k in (*RUN_KEYS, "metrics")
                       if k not in record and k not in OPTIONAL_KEYS]
        except (json.JSONDecodeError, TypeError):
            missing = ["a JSON object"]
        if missing or not isinstance(record, dict):
            raise LabError(f"{path}, line {number}: not a study result (missing "
                           f"{', '.join(missing)})")
        records.append({key: None for key in OPTIONAL_KEYS} | record)
    return records


def spec_key(record: dict) -> tuple:
    """What makes two records the same experiment at the same seeds: kind, preset, world seed
    and parameters, method, model, source, seed and settings (not the world's version, the
    code or the date, which a rerun changes)."""
    return (record["kind"], record["preset"], record["world_seed"],
            analysis.canonical_json(record["world_params"]), record["method"], record["model"],
            record["aug_source"], record["seed"],
            analysis.canonical_json(record["settings"], drop_seed=True))


def merge(*collections: Iterable[dict]) -> list[dict]:
    """All records, each run once (by run_id; a later collection's copy wins) and each spec
    once: of several runs of the same `spec_key`, the newest stands, so a rerun replaces a
    stale run (as the study's table does in the database)."""
    runs: dict[str, dict] = {}
    for records in collections:
        runs.update((r["run_id"], r) for r in records)
    newest: dict[tuple, dict] = {}
    for record in runs.values():
        key = spec_key(record)
        if key not in newest or str(record["created_at"]) >= str(newest[key]["created_at"]):
            newest[key] = record
    return list(newest.values())


def frames(records: Sequence[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The runs and metrics frames that `analysis.group_over_seeds` reads."""
    runs = pd.DataFrame([{k: r[k] for k in RUN_KEYS} for r in records], columns=list(RUN_KEYS))
    runs["train_precision"] = [r.get("train_precision") for r in records]
    runs["status"] = "complete"
    runs["label"] = [analysis.method_label(m, a) for m, a in zip(runs["method"], runs["aug_source"])]
    for column in ("heldout_accuracy", "heldout_coverage", "heldout_items"):
        runs[column] = pd.to_numeric(runs[column])
    runs["augmentation_empty"] = runs["augmentation_empty"].fillna(False).astype(bool)
    metrics = pd.DataFrame([{"run_id": r["run_id"], **m} for r in records for m in r["metrics"]],
                           columns=["run_id", *METRIC_KEYS])
    return runs, metrics

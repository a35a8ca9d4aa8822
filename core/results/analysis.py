"""Analysis of stored runs: the tables behind the Results, Runs, Compare and Share pages.

Everything here takes data frames read through `core.storage.store.Store` and returns data frames, so
the pages only draw. The pieces:

- `load_tables`: runs (with their world's parameters, held-out accuracy and total compute),
  metrics per split and costs per phase, in one read.
- `pareto_mask` / `frontier`: runs that no other run beats on both accuracy and compute.
- `group_over_seeds`: runs that differ only in their seeds pooled into mean accuracy with a
  95% interval over seeds and items (`seed_interval`, `INTERVAL_NOTE`).
- `side_by_side` / `differing_rows`: the settings of a few runs as columns, and where they differ.
- `item_table`: one run's predictions as a readable table for the per-item browser.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.results import numbers
from core.running.evaluate import wilson_interval
from core.storage.store import Store

Z95 = 1.96
# What makes two runs "the same experiment": everything but the world seed and the training seed.
GROUP_COLUMNS = ["kind", "preset", "world_params", "world_version", "method", "model",
                 "aug_source", "settings"]
PHASES = ("augment", "train", "evaluate")

@dataclass
class Tables:
    """What the pages read from one database: every run, metrics per split, costs per phase."""

    runs: pd.DataFrame
    metrics: pd.DataFrame
    costs: pd.DataFrame

    @property
    def complete(self) -> pd.DataFrame:
        return self.runs[self.runs["status"] == "complete"]


def method_label(method: str, aug_source: Any) -> str:
    """The method name, with the augmentation source when there is one: 'ft_local (oracle)'."""
    return method if _missing(aug_source) else f"{method} ({aug_source})"


def run_label(run: pd.Series | dict) -> str:
    """A short name for one run in legends and pickers: 'ft_local (oracle) · seed 1 · 3f2a9c'."""
    return f"{method_label(run['method'], run['aug_source'])} · seed {run['seed']} · {run['run_id'][:6]}"


def load_tables(store: Store) -> Tables:
    """Every run with its world parameters, held-out accuracy and compute; metrics; costs."""
    with store.connection():
        return _load_tables(store)


def _load_tables(store: Store) -> Tables:
    runs = store.runs()
    totals = store.run_totals()[["run_id", "heldout_accuracy", "heldout_items", "flops",
                                 "seconds", "tokens", "peak_mb"]]
    runs = runs.merge(totals, on="run_id", how="left")
    runs["world_params"] = [canonical_json(p) for p in runs["world_params"]]
    runs["settings"] = [canonical_json(s, drop_seed=True) for s in runs["settings"]]
    runs["label"] = [method_label(m, a) for m, a in zip(runs["method"], runs["aug_source"])]
    runs["run_label"] = [run_label(r) for r in runs.to_dict("records")]
    curved = store.runs_with_loss_curves()
    runs["has_loss_curve"] = runs["run_id"].isin(curved)
    extra = [_loads(e) or {} for e in runs["extra"]]
    # Held-out items whose statement the run was given word for word (training data with its
    # augmentations, or its context): accuracy up to this share can be memory, not inference.
    runs["heldout_coverage"] = [e.get("heldout_coverage", math.nan) for e in extra]
    runs["augmentation_empty"] = [e.get("augmentation_statements") == 0 for e in extra]
    metrics = store.metrics()
    metrics["label"] = [method_label(m, a) for m, a in zip(metrics["method"], metrics["aug_source"])]
    metrics["run_label"] = metrics["run_id"].map(dict(zip(runs["run_id"], runs["run_label"])))
    return Tables(runs, metrics, store.run_costs(runs["run_id"].tolist()))


def loss_table(store: Store, run_ids: Sequence[str]) -> pd.DataFrame:
    """Training loss per step of the given runs, with each run's label."""
    with store.connection():
        curves = store.loss_curves(list(run_ids))
        if curves.empty:
            return curves.assign(label=pd.Series(dtype=str))
        runs = store.run_labels(run_ids)
    labels = {r["run_id"]: run_label(r) for r in runs.to_dict("records")}
    return curves.assign(label=curves["run_id"].map(labels))


# ------------------------------------------------------------------ Pareto frontier


def pareto_mask(compute: Sequence[float], accuracy: Sequence[float]) -> np.ndarray:
    """True for points no other point dominates. A point is dominated when another has
    lower-or-equal compute and higher-or-equal accuracy, better in at least one (so two
    identical runs both stay on the frontier)."""
    x, y = np.asarray(compute, dtype=float), np.asarray(accuracy, dtype=float)
    order = np.lexsort((-y, x))  # by compute, then best accuracy first
    keep = np.zeros(len(x), dtype=bool)
    best, best_x = -math.inf, math.nan
    for i in order:
        if y[i] > best:
            keep[i], best, best_x = True, y[i], x[i]
        elif y[i] == best and x[i] == best_x:
            keep[i] = True
    return keep


def frontier(frame: pd.DataFrame, x: str, y: str = "heldout_accuracy") -> pd.DataFrame:
    """The rows of `frame` on the Pareto frontier of (x, y), sorted by x for a step line."""
    points = frame.dropna(subset=[x, y])
    return points[pareto_mask(points[x], points[y])].sort_values([x, y])


# ------------------------------------------------------------------ grouping over seeds


# Student's t, two-sided 95% (the 0.975 quantile), for 1 to 30 degrees of freedom.
T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
        2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
        2.060, 2.056, 2.052, 2.048, 2.045, 2.042)
INTERVAL_NOTE = ("95% intervals: with several seeds, Student's t over the seeds' accuracies "
                 "(mean ± t·sd/√k, t = 4.30 for 3 seeds), widened where needed to the Wilson "
                 "interval of all their items pooled, so seeds that agree still show the "
                 "uncertainty of a finite item set; with one seed, the Wilson interval of its items.")


def t975(degrees_of_freedom: int) -> float:
    """The 0.975 quantile of Student's t (a Cornish-Fisher expansion beyond the table)."""
    if degrees_of_freedom <= len(T975):
        return T975[degrees_of_freedom - 1]
    z, v = Z95, degrees_of_freedom
    return z + (z ** 3 + z) / (4 * v) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * v * v)


def seed_interval(accuracies: Sequence[float], correct: int = 0, n: int = 0) -> tuple[float, float, float]:
    """Mean and 95% interval (see INTERVAL_NOTE) of per-seed accuracies, whose items number `n`
    with `correct` right in all. Each seed's accuracy already varies with its own items, so
    the spread over seeds carries both sources; the Wilson floor keeps the items' share when
    the seeds happen to agree (three runs at 1.00 do not prove the method never errs)."""
    values = [float(a) for a in accuracies if not _missing(a)]
    if not values:
        return math.nan, math.nan, math.nan
    mean = sum(values) / len(values)
    items_low, items_high = wilson_interval(int(correct), int(n))
    if len(values) == 1:
        return mean, items_low, items_high
    half = t975(len(values) - 1) * float(np.std(values, ddof=1)) / math.sqrt(len(values))
    low, high = mean - half, mean + half
    if n:
        low, high = min(low, items_low), max(high, items_high)
    return mean, max(0.0, low), min(1.0, high)


def group_over_seeds(runs: pd.DataFrame, metrics: pd.DataFrame) -> pd.DataFrame:
    """One row per setting (all of GROUP_COLUMNS), over complete runs: how many seeds, held-out
    accuracy and accuracy per split as a mean with a 95% interval over seeds."""
    complete = runs[runs["status"] == "complete"]
    if complete.empty:
        return pd.DataFrame(columns=[*GROUP_COLUMNS, "label", "runs", "seeds", "run_ids",
                                     "heldout_mean", "heldout_low", "heldout_high"])
    key = complete[GROUP_COLUMNS].astype(object).where(complete[GROUP_COLUMNS].notna(), None)
    keys = [json.dumps(list(row), default=str) for row in key.itertuples(index=False)]
    rows = []
    for _, group in complete.groupby(pd.Series(keys, index=complete.index), sort=False):
        first = group.iloc[0]
        row = {column: first[column] for column in GROUP_COLUMNS}
        row.update(label=first["label"], runs=len(group),
                   seeds=", ".join(f"world {w}/train {s}" for w, s in
                                   zip(group["world_seed"], group["seed"])),
                   run_ids=", ".join(group["run_id"]))
        held = group.dropna(subset=["heldout_accuracy"])
        held_correct = (held["heldout_accuracy"] * held["heldout_items"]).round().sum()
        row["heldout_mean"], row["heldout_low"], row["heldout_high"] = seed_interval(
            held["heldout_accuracy"], held_correct, held["heldout_items"].sum())
        if "heldout_coverage" in group:
            row["coverage"] = group["heldout_coverage"].astype(float).mean()
            row["augmentation_empty"] = bool(group["augmentation_empty"].all())
        in_group = metrics[metrics["run_id"].isin(group["run_id"])]
        for split, split_metrics in in_group.groupby("split"):
            mean, low, high = seed_interval(split_metrics["accuracy"], split_metrics["correct"].sum(),
                                            split_metrics["n"].sum())
            row.update({f"{split} mean": mean, f"{split} low": low, f"{split} high": high})
        rows.append(row)
    return pd.DataFrame(rows).sort_values(["kind", "method", "aug_source", "model"], na_position="first",
                                          ignore_index=True)


def pool_by_label(metrics: pd.DataFrame) -> pd.DataFrame:
    """Accuracy per (method label, split) over runs: the mean, with the widest interval of any
    run (lowest low, highest high) so no run's uncertainty is hidden."""
    return (metrics.groupby(["label", "split"], sort=False)
            .agg(accuracy=("accuracy", "mean"), low=("low", "min"), high=("high", "max"),
                 chance=("chance", "mean"), runs=("run_id", "nunique"))
            .reset_index())


def split_accuracy(metrics: pd.DataFrame) -> pd.DataFrame:
    """Accuracy per run (rows) and split (columns)."""
    if metrics.empty:
        return pd.DataFrame(index=pd.Index([], name="run_id"))
    return metrics.pivot_table(index="run_id", columns="split", values="accuracy", aggfunc="first")


# ------------------------------------------------------------------ runs side by side


def side_by_side(tables: Tables, run_ids: Sequence[str]) -> pd.DataFrame:
    """The settings, costs and accuracies of the given runs: one row per setting, one column
    per run (named by its label). Values are text so one column can hold numbers and words."""
    runs = tables.runs.set_index("run_id")
    chosen = [run_id for run_id in run_ids if run_id in runs.index]
    described = [_describe(runs.loc[run_id], tables, run_id) for run_id in chosen]
    # Rows section by section (run, world, settings, costs, accuracy), so a setting only some
    # runs have (an ICL run beside a fine-tuned one) still sits with its kind.
    order: list[str] = []
    for section in range(len(described[0]) if described else 0):
        order += list(dict.fromkeys(key for sections in described for key in sections[section]))
    table = pd.DataFrame({runs.loc[run_id, "run_label"]: {k: v for s in sections for k, v in s.items()}
                          for run_id, sections in zip(chosen, described)}, index=order)
    table.index.name = "setting"
    return table.fillna("")


def differing_rows(table: pd.DataFrame) -> pd.DataFrame:
    """Only the rows where not all runs agree."""
    if table.shape[1] < 2:
        return table
    return table[table.nunique(axis=1, dropna=False) > 1]


def _describe(run: pd.Series, tables: Tables, run_id: str) -> list[dict[str, str]]:
    """One run's rows for `side_by_side`, in sections."""
    head = {"status": run["status"], "error": run["error"], "method": run["method"],
            "model": run["model"], "augmentation source": run["aug_source"],
            "training seed": run["seed"]}
    world = {"world": run["kind"], "world preset": run["preset"], "world seed": run["world_seed"],
             **_flatten(_loads(run["world_params"]), "world ")}
    settings = {key.replace("_", " "): value for key, value in
                (_flatten(_loads(run["settings"]), "") | _flatten(_loads(run["extra"]), "")).items()}
    phases = tables.costs[tables.costs["run_id"] == run_id].set_index("phase")
    costs = [{f"{phase}: {unit}": _people(phases.loc[phase, column], column)
              if phase in phases.index else None
              for column, unit in (("flops", "compute"), ("seconds", "time"), ("tokens", "tokens"),
                                   ("peak_mb", "peak memory"))}
             for phase in PHASES]  # one section per phase, so phases keep their order
    totals = {"total compute": _people(run["flops"], "flops"),
              "total time": _people(run["seconds"], "seconds")}
    accuracy = {f"accuracy: {m['split']}": f"{m['accuracy']:.3f} [{m['low']:.2f}, {m['high']:.2f}]"
                for m in tables.metrics[tables.metrics["run_id"] == run_id].to_dict("records")}
    accuracy["held-out accuracy"] = run["heldout_accuracy"]
    return [{key: _text(value) for key, value in section.items() if not _missing(value)}
            for section in (head, world, settings, *costs, totals, accuracy)]


# ------------------------------------------------------------------ per-item browser


def item_table(predictions: pd.DataFrame) -> pd.DataFrame:
    """One run's predictions, readable: the choices with their log-probabilities, the choice
    made, the right answer, right or wrong, and the facts the item needs."""
    rows = []
    for p in predictions.to_dict("records"):
        choices = _loads(p["choices"]) or []
        logprobs = _loads(p["logprobs"]) or []
        rows.append({
            "item": p["item_id"], "split": p["split"], "held out": bool(p["held_out"]),
            "prompt": p["prompt"],
            "choices": " | ".join(f"{c.strip()} ({lp:.2f})" for c, lp in zip(choices, logprobs)),
            "chosen": _pick(choices, p["choice"]), "answer": _pick(choices, p["answer"]),
            "right": bool(p["correct"]),
            "margin": _margin(logprobs, p["answer"]),
            "facts": ", ".join(map(str, _loads(p["fact_ids"]) or [])),
        })
    return pd.DataFrame(rows, columns=["item", "split", "held out", "prompt", "choices", "chosen",
                                       "answer", "right", "margin", "facts"])


def _pick(choices: list, index: Any) -> str:
    return choices[int(index)].strip() if not _missing(index) and 0 <= int(index) < len(choices) else ""


def _margin(logprobs: list[float], answer: Any) -> float:
    """Log-probability of the right answer minus the best other choice: > 0 when right."""
    if _missing(answer) or len(logprobs) < 2:
        return math.nan
    others = [lp for k, lp in enumerate(logprobs) if k != int(answer)]
    return logprobs[int(answer)] - max(others)


# ------------------------------------------------------------------ helpers


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def _loads(value: Any) -> Any:
    if _missing(value) or value == "":
        return None
    return json.loads(value) if isinstance(value, str) else value


def canonical_json(value: Any, drop_seed: bool = False) -> str:
    """JSON text with sorted keys, so equal settings compare equal as text. The fine-tuning
    config's own seed is the run's seed again: dropped, so seeds group together."""
    data = _loads(value) or {}
    if drop_seed and isinstance(data.get("ft"), dict):
        data["ft"] = {k: v for k, v in data["ft"].items() if k != "seed"}
    return json.dumps(data, sort_keys=True)


def _flatten(data: Any, prefix: str) -> dict[str, Any]:
    """{'ft': {'lr': 1e-4}} -> {'ft lr': 1e-4}."""
    if not isinstance(data, dict):
        return {}
    out = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out |= _flatten(value, name + " ")
        else:
            out[name] = value
    return out


def _people(value: Any, column: str) -> Any:
    """A cost as people read it: 163 GFLOP, 1 min 12 s, 12,345 tokens, 3,747 MB."""
    if _missing(value):
        return value
    if column == "flops":
        return numbers.si(float(value), "FLOP")
    if column == "seconds":
        return numbers.duration(float(value))
    return f"{float(value):,.0f}" + (" MB" if column == "peak_mb" else "")


def _text(value: Any) -> str:
    if _missing(value):
        return ""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        value = float(value)
        return str(int(value)) if value.is_integer() and abs(value) < 1e6 else f"{value:.4g}"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)

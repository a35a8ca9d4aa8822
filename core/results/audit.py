"""The audit of augmentations: what each run's augmentation step wrote, and what it was worth.

Every generated statement carries the world judge's label (true, false, unparseable) and
whether it repeats a training sentence. Per run this module derives:

- generated: statements written (after deduplication), parsed: those the judge could read;
- precision = true / parsed, hallucination rate = false / parsed;
- coverage: the fraction of the run's held-out items whose correct statement appears among
  the run's true statements (see `item_statement` for what that statement is);
- compute per correct new fact: augment-phase FLOPs and seconds / statements that are true
  and not already in the training data.

The functions on data frames are pure (unit-tested on hand-made frames); `load_audit` reads
the store.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd

from core.storage.store import Store

# What a reader sees for each statement. A repeated training sentence is shown as such
# whatever its label: it teaches the fine-tuned model nothing new.
IN_DATA = "already in the data"
AUDIT_NAMES = {"true": "true (new fact)", "false": "false (hallucination)",
               "unparseable": "not parseable"}
AUDIT_ORDER = [AUDIT_NAMES["true"], AUDIT_NAMES["false"], AUDIT_NAMES["unparseable"], IN_DATA]

_SPACES = re.compile(r"\s+")


# ------------------------------------------------------------------ statements


def normalize(statement: str) -> str:
    """Comparison key: case-insensitive, surrounding whitespace and a trailing period ignored
    (inner runs of whitespace count as one space, since prompt and choice are joined)."""
    text = _SPACES.sub(" ", statement).strip().lower()
    return text[:-1].rstrip() if text.endswith(".") else text


def item_statement(prompt: str, choice: str, kind: str | None = None) -> str:
    """The statement an item asks the model to complete, as its world kind unframes it
    (`WorldKind.item_statement`: prompt followed by its correct choice, "glon are" + " less
    dangerous than femp.", unless the kind says otherwise)."""
    return _kind(kind).item_statement(prompt, choice)


def _kind(name: str | None):
    from core.errors import LabError
    from core.worlds import get_kind
    from core.worlds.base import WorldKind
    try:
        return get_kind(name) if name else WorldKind()
    except LabError:  # a kind this version does not know (an imported database)
        return WorldKind()


def _choices(value) -> list[str]:
    """The store keeps choices as JSON text; tests and callers may pass lists."""
    return list(json.loads(value) if isinstance(value, str) else value)


def coverage(true_statements: Iterable[str], items: pd.DataFrame,
             kind: str | None = None) -> float | None:
    """Fraction of held-out items (columns prompt, choices, answer, held_out) whose correct
    statement is among `true_statements`; None when there is no held-out item."""
    held = items[items["held_out"].fillna(False).astype(bool)] if len(items) else items
    if held.empty:
        return None
    known = {normalize(s) for s in true_statements}
    hits = sum(normalize(item_statement(prompt, _choices(choices)[int(answer)], kind)) in known
               for prompt, choices, answer in zip(held["prompt"], held["choices"], held["answer"]))
    return hits / len(held)


def given_coverage(texts: Iterable[str], items: Iterable, kind: str | None = None) -> float | None:
    """Fraction of held-out items (objects with prompt, choices, answer) whose correct
    statement appears word for word in what a run was given: its training texts with their
    augmentations, or its ICL context. Oracle augmentations usually contain the held-out
    statements themselves, so accuracy near this coverage shows that a statement was absorbed,
    not that the model inferred it. None when there is no held-out item."""
    statements = [normalize(item_statement(i.prompt, i.choices[i.answer], kind)) for i in items]
    if not statements:
        return None
    given = " " + _SPACES.sub(" ", " ".join(texts)).lower() + " "
    hits = sum(bool(re.search(r"(?<![\w-])" + re.escape(s) + r"(?![\w-])", given))
               for s in statements)
    return hits / len(statements)


def with_audit(statements: pd.DataFrame) -> pd.DataFrame:
    """Adds `audit`: the reader's label (AUDIT_ORDER) of each statement."""
    frame = statements.copy()
    frame["audit"] = [IN_DATA if bool(in_data) else AUDIT_NAMES.get(label, str(label))
                      for label, in_data in zip(frame["label"], frame["in_training"])]
    return frame


def filter_statements(statements: pd.DataFrame, audits: Sequence[str] | None = None,
                      scopes: Sequence[str] | None = None) -> pd.DataFrame:
    """Statements whose audit label and scope are among those given (None: all)."""
    mask = pd.Series(True, index=statements.index)
    if audits is not None:
        mask &= statements["audit"].isin(list(audits))
    if scopes is not None:
        mask &= statements["scope"].isin(list(scopes))
    return statements[mask]


# ------------------------------------------------------------------ figures per run


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else math.nan


def summarize(statements: pd.DataFrame, costs: pd.DataFrame, items_by_run: dict[str, pd.DataFrame],
              run_ids: Sequence[str] | None = None,
              kinds: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per run (`run_ids`, by default those in `statements`, whose columns are run_id,
    statement, label, in_training): counts, precision, hallucination rate, coverage, and
    augment compute per new true fact. `costs` has run_id, phase, flops, seconds;
    `items_by_run` the run's items (see `coverage`), `kinds` each run's world kind (how
    its items unframe into statements). Undefined ratios (nothing parsed, no new
    fact) are NaN."""
    augment = costs[costs["phase"] == "augment"].groupby("run_id")[["flops", "seconds"]].sum()
    rows = []
    for run_id in (list(dict.fromkeys(statements["run_id"])) if run_ids is None else run_ids):
        group = statements[statements["run_id"] == run_id]
        label, in_data = group["label"], group["in_training"].astype(bool)
        parsed = int((label != "unparseable").sum())
        true, false = int((label == "true").sum()), int((label == "false").sum())
        new_true = int(((label == "true") & ~in_data).sum())
        flops = float(augment["flops"].get(run_id, math.nan))
        seconds = float(augment["seconds"].get(run_id, math.nan))
        items = items_by_run.get(run_id)
        cover = (coverage(group.loc[label == "true", "statement"], items, (kinds or {}).get(run_id))
                 if items is not None else None)
        rows.append({"run_id": run_id, "generated": len(group), "parsed": parsed, "true": true,
                     "false": false, "unparseable": len(group) - parsed,
                     "in_training": int(in_data.sum()), "new_true": new_true,
                     "precision": _ratio(true, parsed), "hallucination_rate": _ratio(false, parsed),
                     "coverage": math.nan if cover is None else cover,
                     "augment_flops": flops, "augment_seconds": seconds,
                     "flops_per_new_fact": _ratio(flops, new_true),
                     "seconds_per_new_fact": _ratio(seconds, new_true)})
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


SUMMARY_COLUMNS = ["run_id", "generated", "parsed", "true", "false", "unparseable", "in_training",
                   "new_true", "precision", "hallucination_rate", "coverage", "augment_flops",
                   "augment_seconds", "flops_per_new_fact", "seconds_per_new_fact"]


def label_counts(statements: pd.DataFrame) -> pd.DataFrame:
    """Statements per run and audit label (columns run_id, audit, count), in AUDIT_ORDER."""
    counts = statements.groupby(["run_id", "audit"]).size().rename("count").reset_index()
    counts["order"] = counts["audit"].map({name: k for k, name in enumerate(AUDIT_ORDER)})
    return counts.sort_values(["run_id", "order"]).drop(columns="order").reset_index(drop=True)


# ------------------------------------------------------------------ the store


def augmented_runs(store: Store) -> pd.DataFrame:
    """Complete runs that augmented their data (they have a source), newest first, even those
    whose source wrote nothing, with a label a reader can pick from:
    'ft_local (model) · tiny · reversals seed 0 · 1ea91f98'."""
    runs = store.augmented_runs()
    runs["label"] = [run_label(row) for row in runs.itertuples()]
    return runs


def run_label(row) -> str:
    source = f" ({row.aug_source})" if isinstance(row.aug_source, str) else ""
    world = f"{row.kind} seed {row.world_seed}" if isinstance(row.kind, str) else row.world_id
    return f"{row.method}{source} · {row.model} · {world} · {row.run_id[:8]}"


@dataclass
class Audit:
    statements: pd.DataFrame  # one row per statement, with `audit` and `run` (the run's label)
    summary: pd.DataFrame  # one row per run: SUMMARY_COLUMNS, run, aug_source
    counts: pd.DataFrame  # run_id, audit, count, run, aug_source


def load_audit(store: Store, runs: pd.DataFrame) -> Audit:
    """The audit of the runs in `runs` (rows of `augmented_runs`)."""
    run_ids = list(runs["run_id"])
    with store.connection():  # a query per run: one connection for them all
        statements = with_audit(store.augmentations(run_ids))
        items = {run_id: store.predictions(run_id) for run_id in run_ids}
        costs = store.run_costs(run_ids)
    # `label` is already the judge's label of a statement; the run's label is `run` here.
    info = runs[["run_id", "label", "aug_source"]].rename(columns={"label": "run"})
    kinds = dict(zip(runs["run_id"], runs["kind"])) if "kind" in runs else None
    summary = summarize(statements, costs, items, run_ids, kinds).merge(info, on="run_id")
    counts = label_counts(statements).merge(info, on="run_id")
    statements = statements.merge(info[["run_id", "run"]], on="run_id")
    return Audit(statements, summary, counts)

"""`python -m core study`: the study's table, every method on several world kinds and seeds,
with oracle and model augmentation, summarized as mean and 95% interval over seeds.

A study resumes: runs already complete in the database (same world, method, model, source,
seed and settings) are not run again, so an interrupted study picks up where it stopped.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import pandas as pd

from core import analysis
from core.runner import AUG_SCOPES, METHODS, RunSpec, run_all
from core.store import Store
from core.worlds import build_world


def study_specs(kinds: Sequence[str], seeds: Sequence[int], model: str = "default",
                sources: Sequence[str] = ("oracle", "model"), preset: str = "quick") -> list[RunSpec]:
    """Per seed and kind: every method once, and the augmented ones once per source.
    The seed sets both the world and training."""
    specs = []
    for seed in seeds:
        for kind in kinds:
            for method in METHODS:
                for source in (sources if AUG_SCOPES.get(method) else sources[:1]):
                    specs.append(RunSpec(method=method, world_kind=kind, world_seed=seed, seed=seed,
                                         preset=preset, model=model, aug_source=source))
    return specs


def _done(store: Store, spec: RunSpec) -> bool:
    world_id = build_world(spec.world_kind, spec.world_seed, spec.preset, spec.overrides).world_id
    found = store.query(
        "SELECT count(*) AS n FROM runs WHERE status = 'complete' AND world_id = ? AND method = ? "
        "AND model = ? AND aug_source IS NOT DISTINCT FROM ? AND seed = ? AND settings = ?::JSON",
        [world_id, spec.method, spec.model, spec.aug_source_used, spec.seed,
         json.dumps(spec.settings())])
    return int(found["n"][0]) > 0


def run_study(specs: Sequence[RunSpec], store: Store, progress=None, on_result=None) -> int:
    """Run the specs not yet complete in the store; returns how many were run."""
    todo = [spec for spec in specs if not _done(store, spec)]
    run_all(todo, store, progress, on_result=on_result)
    return len(todo)


def study_table(store: Store) -> pd.DataFrame:
    """One row per (kind, method, source): seeds and 'mean [low, high]' per split."""
    tables = analysis.load_tables(store)
    grouped = analysis.group_over_seeds(tables.runs, tables.metrics)
    if grouped.empty:
        return grouped
    splits = sorted({c.removesuffix(" mean") for c in grouped.columns if c.endswith(" mean")}
                    - {"heldout"})
    rows = []
    for _, group in grouped.iterrows():
        row = {"kind": group["kind"], "method": group["label"], "seeds": group["runs"]}
        for split in splits:
            if pd.notna(group.get(f"{split} mean")):
                row[split] = (f"{group[f'{split} mean']:.2f} "
                              f"[{group[f'{split} low']:.2f}, {group[f'{split} high']:.2f}]")
        rows.append(row)
    order = {m: i for i, m in enumerate(METHODS)}
    table = pd.DataFrame(rows)
    table["_order"] = [order.get(label.split(" ")[0], 99) for label in table["method"]]
    return table.sort_values(["kind", "_order", "method"]).drop(columns="_order").fillna("")


def markdown(table: pd.DataFrame) -> str:
    """One markdown table per kind (each kind has its own splits)."""
    out = []
    for kind, rows in table.groupby("kind", sort=True):
        rows = rows.loc[:, (rows != "").any()].drop(columns="kind")
        header = list(rows.columns)
        out.append(f"**{kind}**\n")
        out.append("| " + " | ".join(header) + " |")
        out.append("|" + " --- |" * len(header))
        out += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows.itertuples(index=False)]
        out.append("")
    return "\n".join(out)

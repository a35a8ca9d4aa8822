"""The lab's own study as published with the docs (docs/study/results.jsonl): what the home
page shows before a user has run anything, labelled with its model, code and dates."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from core.paths import REPO_ROOT
from core.results import results_file, verdict
from core.shortcuts.warnings import refs_of, shortcut_warnings
from core.worlds import get_kind

STUDY_RESULTS = REPO_ROOT / "docs" / "study" / "results.jsonl"


@dataclass
class Published:
    kind: str
    preset: str  # "quick", or the presets joined
    model: str
    dates: str  # "2026-11-30" or "2026-11-29 to 2026-11-30"
    code: str  # the commits the runs came from
    verdict: verdict.Verdict
    table: pd.DataFrame  # per method: seeds, held-out accuracy [95% interval], chance, coverage


def published_kinds(model: str = "default", path: Path = STUDY_RESULTS) -> list[str]:
    """The world kinds the study has runs of on `model`, reversals first (the demo's world)."""
    if not Path(path).is_file():
        return []
    kinds = {r["kind"] for r in results_file.read(path)
             if r["model"] == model and isinstance(r["kind"], str)}
    return sorted(kinds, key=lambda kind: (kind != "reversals", kind))


def published(kind: str = "reversals", model: str = "default",
              path: Path = STUDY_RESULTS) -> Published | None:
    """The study's runs of one kind and model, as a verdict and a table; None without any."""
    if not Path(path).is_file():
        return None
    records = [r for r in results_file.read(path) if r["kind"] == kind and r["model"] == model]
    if not records:
        return None
    runs, metrics = results_file.frames(records)
    metrics["held_out"] = metrics["split"].isin(get_kind(kind).held_out_splits)
    found = verdict.evidence(runs, metrics)
    table = pd.DataFrame([{"method": m.label, "seeds": m.runs,
                           "held-out accuracy": f"{m.mean:.2f} [{m.low:.2f}, {m.high:.2f}]",
                           "chance": f"{m.chance:.2f}",
                           "given word for word": f"{m.coverage:.2f}"} for m in found])
    dates = sorted({str(d)[:10] for d in runs["created_at"]})
    presets = ", ".join(sorted({str(p) for p in runs["preset"]}))
    when = dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]}"
    return Published(kind, presets, model, when,
                     ", ".join(sorted(set(runs["code_version"]))),
                     verdict.decide(found, model=model,
                                    shortcut_warnings=shortcut_warnings(refs_of(runs))), table)

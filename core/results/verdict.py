"""The verdict: for one world and model, which method to use, said in words with its numbers
and its caveats. Pure functions over the store's tables; the Results and What-if pages and
the report print what they return.

The rules, in order:
1. A method *works* when the lower end of its 95% interval on held-out items (over seeds and
   items: `analysis.seed_interval`) is above chance. `pretrained` is the baseline: it is never
   recommended, and a caveat is raised if it works (the world may not be new to the model).
2. The best method on each held-out split is the working one with the highest mean there.
3. The recommendation is the cheapest working method at the user's number of queries whose
   held-out mean reaches the user's target; if none reaches it, none is recommended and the
   best one is named. With nothing working, nothing is recommended.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from core.results.analysis import seed_interval

BASELINE = "pretrained"
FEW_SEEDS = 3  # below this, an interval rests mostly on the items of one or two trainings
HIGH_COVERAGE = 0.5  # given at least half the held-out statements word for word


@dataclass(frozen=True)
class MethodEvidence:
    """One method (label, e.g. 'ft_local (oracle)') over its runs of one world and model."""

    label: str
    method: str
    runs: int
    mean: float  # held-out accuracy: mean over runs, with its 95% interval
    low: float
    high: float
    chance: float
    coverage: float  # share of held-out items given word for word (nan: not recorded)
    splits: dict[str, tuple[float, float, float, float]] = field(default_factory=dict)
    # held-out split -> (mean, low, high, chance)

    @property
    def works(self) -> bool:
        return self.low > self.chance

    def text(self) -> str:
        return f"{self.label} {self.mean:.2f} [{self.low:.2f}, {self.high:.2f}]"


@dataclass
class Verdict:
    headline: str  # the answer in one sentence
    details: list[str]  # what works, the best per split
    caveats: list[str]
    working: list[str]  # labels whose held-out interval is above chance
    recommended: str | None

    def markdown(self) -> str:
        lines = [f"**{self.headline}**", "", *[f"- {d}" for d in self.details]]
        if self.caveats:
            lines += ["", "Caveats:", *[f"- {c}" for c in self.caveats]]
        return "\n".join(lines)


def evidence(runs: pd.DataFrame, metrics: pd.DataFrame) -> list[MethodEvidence]:
    """Per method label, from complete `runs` of one world and model (columns run_id, label,
    method, heldout_coverage) and their `metrics` (run_id, split, n, correct, accuracy,
    chance, held_out)."""
    held = metrics[metrics["held_out"].fillna(False).astype(bool)]
    out = []
    for label, group in runs.groupby("label", sort=False):
        mine = held[held["run_id"].isin(group["run_id"])]
        if mine.empty:
            continue
        per_run = mine.groupby("run_id").agg(correct=("correct", "sum"), n=("n", "sum"))
        chance = float((mine["chance"] * mine["n"]).sum() / mine["n"].sum())
        mean, low, high = seed_interval(per_run["correct"] / per_run["n"],
                                        int(per_run["correct"].sum()), int(per_run["n"].sum()))
        splits = {}
        for split, rows in mine.groupby("split", sort=True):
            splits[split] = (*seed_interval(rows["accuracy"], int(rows["correct"].sum()),
                                            int(rows["n"].sum())), float(rows["chance"].mean()))
        coverage = (float(group["heldout_coverage"].astype(float).mean())
                    if "heldout_coverage" in group else math.nan)
        out.append(MethodEvidence(str(label), str(group["method"].iloc[0]), len(per_run), mean,
                                  low, high, chance, coverage, splits))
    return out


def decide(methods: list[MethodEvidence], costs: dict[str, float] | None = None,
           queries: float | None = None, target: float = 0.0, cost_text=str, model: str = "",
           shortcut_warnings: list[str] | None = None) -> Verdict:
    """The verdict from each method's evidence; `costs` maps a label to its total cost at
    `queries` queries (printed with `cost_text`). Without costs, the best working method is
    recommended."""
    working = [m for m in methods if m.works and m.method != BASELINE]
    details = []
    if working:
        details.append("Above chance on held-out items (95% interval): "
                       + "; ".join(m.text() + f" (chance {m.chance:.2f})" for m in working) + ".")
    for split in sorted({s for m in methods for s in m.splits}):
        on_split = [m for m in working if split in m.splits and m.splits[split][1] > m.splits[split][3]]
        if on_split:
            best = max(on_split, key=lambda m: m.splits[split][0])
            mean, low, high, chance = best.splits[split]
            details.append(f"Best on {split}: {best.label}, {mean:.2f} [{low:.2f}, {high:.2f}] "
                           f"(chance {chance:.2f}).")
        else:
            details.append(f"On {split}, no method is above chance with confidence.")

    recommended = None
    if not working:
        headline = ("No method beats chance on held-out items with confidence, so none is "
                    "recommended: the runs show no generalization to what was not stated.")
    else:
        reach = [m for m in working if m.mean >= target]
        if not reach:
            best = max(working, key=lambda m: m.mean)
            headline = (f"No method reaches the target of {target:.2f} on held-out items; the "
                        f"best is {best.text()}.")
        elif costs is not None and queries is not None and all(m.label in costs for m in reach):
            chosen = min(reach, key=lambda m: costs[m.label])
            recommended = chosen.label
            headline = (f"At {queries:,.0f} queries, use {chosen.label}: the cheapest method that "
                        f"reaches {target:.2f} on held-out items ({chosen.mean:.2f} "
                        f"[{chosen.low:.2f}, {chosen.high:.2f}], chance {chosen.chance:.2f}), "
                        f"for {cost_text(costs[chosen.label])} in all.")
            others = [m for m in reach if m is not chosen]
            if others:
                details.append("Also reaching the target, at the same or a higher cost: "
                               + "; ".join(f"{m.label} {cost_text(costs[m.label])}" for m in others)
                               + ".")
        else:
            chosen = max(reach, key=lambda m: m.mean)
            recommended = chosen.label
            headline = f"The best method on held-out items is {chosen.text()} (chance {chosen.chance:.2f})."
    return Verdict(headline, details, caveats(methods, working, model, shortcut_warnings or []),
                   [m.label for m in working], recommended)


def caveats(methods: list[MethodEvidence], working: list[MethodEvidence], model: str,
            shortcut_warnings: list[str]) -> list[str]:
    out = []
    few = [m.label for m in methods if m.runs < FEW_SEEDS]
    if few:
        out.append(f"Fewer than {FEW_SEEDS} seeds for {', '.join(few)}: their intervals rest on "
                   "the items of one or two trainings, so differences between them may not repeat.")
    for m in working:
        if math.isfinite(m.coverage) and m.coverage >= HIGH_COVERAGE:
            out.append(f"{m.label} was given {m.coverage:.0%} of the held-out statements word "
                       "for word: its accuracy shows what training absorbs, not what the model "
                       "inferred.")
    baseline = next((m for m in methods if m.method == BASELINE), None)
    if baseline is not None and baseline.works:
        out.append(f"pretrained is above chance ({baseline.text()}): the world may not be new "
                   "to the model.")
    if model == "default":
        out.append("These runs use the 135M default model, which copies what it read rather "
                   "than reasoning over it: ICL's advantage in the study needs a larger model "
                   "(--model).")
    out += [f"Shortcut check: {w}" for w in shortcut_warnings]
    return out

"""Choosing the fine-tuning recipe on dev seeds, never on the seeds that tests and studies report.

`python -m core tune` trains `ft` and `ft_local` (oracle) on the quick `reversals` worlds of the
dev seeds with each candidate recipe, and picks one by a rule fixed before the runs: the
recipe must teach what it is shown (ft forward and ft_local forward and reversal, each
averaged over the dev seeds, at least `BAR`), and among those that do, the cheapest (fewest
training tokens; the higher mean accuracy breaks ties). A candidate's batch changes its steps,
not its tokens: the table shows both. The science tests and the study use other seeds
(`REPORTED_SEEDS`), so a recipe cannot have been fitted to the numbers they show.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.errors import LabError
from core.methods.finetune import FTConfig

DEV_SEEDS = (100, 101, 102)
REPORTED_SEEDS = (0, 1, 2)  # the study's seeds; the science tests use seed 1
BAR = 0.9
# Each (epochs, lr, batch) is one candidate; the rest of FTConfig keeps its defaults. The first
# five are the first round (2026-11-30), the last three the second (2026-12-03): docs/recipe.md.
Candidate = tuple[int, float, int]
CANDIDATES: tuple[Candidate, ...] = (
    (8, 2e-4, 8), (6, 2e-4, 8), (6, 3e-4, 8), (4, 3e-4, 8), (4, 4e-4, 8),
    (8, 3e-4, 16), (8, 4e-4, 16), (8, 6e-4, 32))


@dataclass
class Trial:
    epochs: int
    lr: float
    method: str
    seed: int
    accuracy: dict[str, float]
    train_tokens: int
    train_seconds: float
    batch_size: int = 8  # every trial of the first round, before the batch was a choice
    train_steps: int = 0  # 0: a log that did not record them


def parse_candidates(text: str) -> list[Candidate]:
    """'8:2e-4,8:3e-4:16' -> [(8, 0.0002, 8), (8, 0.0003, 16)]: epochs:lr[:batch], the batch
    the recipe's own when not given."""
    out = []
    for piece in filter(None, (p.strip() for p in text.split(","))):
        fields = piece.split(":")
        try:
            if len(fields) not in (2, 3):
                raise ValueError
            epochs, lr = int(fields[0]), float(fields[1])
            batch = int(fields[2]) if len(fields) == 3 else FTConfig().batch_size
        except ValueError:
            raise LabError("a candidate is epochs:lr or epochs:lr:batch (for example 4:3e-4 or "
                           f"8:3e-4:16), got '{piece}'") from None
        FTConfig(epochs=epochs, lr=lr, batch_size=batch).validate()  # before any run starts
        out.append((epochs, lr, batch))
    if not out:
        raise LabError("give at least one candidate recipe, for example 8:2e-4")
    return out


def run_trials(lm, candidates: Sequence[Candidate] = CANDIDATES,
               seeds: Sequence[int] = DEV_SEEDS, preset: str = "quick",
               report: Callable[[Trial], None] | None = None,
               earlier: Sequence[Trial] = ()) -> list[Trial]:
    """Train and score every candidate on every dev seed's quick reversals world; trials in
    `earlier` (an interrupted tuning's log) are taken as they are, not run again."""
    from core.running.runner import RunSpec, execute
    from core.worlds import build_world
    overlap = set(seeds) & set(REPORTED_SEEDS)
    if overlap:
        raise LabError(f"seeds {sorted(overlap)} are reported by the study and the tests; "
                       "tune on others")
    trials: list[Trial] = []
    alive = list(candidates)
    logged = {(*_candidate(t), t.method, t.seed): t for t in earlier}
    for done, seed in enumerate(seeds):
        world = build_world("reversals", seed, preset)
        # A candidate that could not reach the bar even if every remaining seed scored 1.0
        # is dropped: the rule could never choose it, and its runs would cost minutes each.
        alive = [c for c in alive if _can_still_pass(trials, c, done, len(seeds))]
        for epochs, lr, batch in alive:
            ft = FTConfig(epochs=epochs, lr=lr, batch_size=batch, seed=seed).validate()
            for method in ("ft", "ft_local"):
                if trial := logged.get((epochs, lr, batch, method, seed)):
                    trials.append(trial)
                    continue
                spec = RunSpec(method=method, world_seed=seed, seed=seed, preset=preset,
                               aug_source="oracle", ft=dataclasses.replace(ft))
                result = execute(spec, world, lm)
                train = next(c for c in result.costs if c.phase == "train")
                trial = Trial(epochs, lr, method, seed,
                              {m.split: m.accuracy for m in result.metrics},
                              train.tokens, train.seconds, batch, result.extra["train_steps"])
                trials.append(trial)
                if report:
                    report(trial)
    return trials


def read_log(path: str | Path) -> list[Trial]:
    """Trials from a tuning log (one JSON object per line), [] when there is none yet."""
    if not Path(path).exists():
        return []
    try:
        return [Trial(**json.loads(line)) for line in Path(path).read_text().splitlines()
                if line.strip()]
    except (json.JSONDecodeError, TypeError) as error:
        raise LabError(f"{path} is not a tuning log: {error}") from None


def _candidate(trial: Trial) -> Candidate:
    return trial.epochs, trial.lr, trial.batch_size


def _can_still_pass(trials: Sequence[Trial], candidate: Candidate, seeds_done: int,
                    seeds_total: int) -> bool:
    mine = [t for t in trials if _candidate(t) == candidate]
    for method, split in (("ft", "forward"), ("ft_local", "forward"), ("ft_local", "reversal")):
        scored = sum(t.accuracy[split] for t in mine if t.method == method)
        if (scored + seeds_total - seeds_done) / seeds_total < BAR:
            return False
    return True


def summarize(trials: Sequence[Trial]) -> list[dict]:
    """One row per candidate: mean accuracy over the seeds it ran on (a dropped candidate ran
    on fewer) of the splits the rule reads, and cost per seed."""
    rows = []
    for epochs, lr, batch in dict.fromkeys(_candidate(t) for t in trials):
        mine = [t for t in trials if _candidate(t) == (epochs, lr, batch)]
        seeds = len({t.seed for t in mine})

        def mean(method: str, split: str, mine: list[Trial] = mine) -> float:
            return statistics.mean(t.accuracy[split] for t in mine if t.method == method)
        row = {"epochs": epochs, "lr": lr, "batch_size": batch,
               "ft_forward": mean("ft", "forward"), "ft_reversal": mean("ft", "reversal"),
               "ft_local_forward": mean("ft_local", "forward"),
               "ft_local_reversal": mean("ft_local", "reversal"),
               "train_tokens": sum(t.train_tokens for t in mine) // seeds,
               "train_steps": sum(t.train_steps for t in mine) // seeds,
               "train_seconds": sum(t.train_seconds for t in mine) / seeds}
        row["seeds"] = seeds
        row["passes"] = min(row["ft_forward"], row["ft_local_forward"],
                            row["ft_local_reversal"]) >= BAR
        row["complete"] = row["seeds"] == max(len({t.seed for t in trials}), 1)
        rows.append(row)
    return rows


def choose(rows: Sequence[dict]) -> dict | None:
    """The rule: among candidates that pass, the fewest training tokens, then the best mean
    (fewer steps alone, from a bigger batch, win nothing: docs/recipe.md)."""
    passing = [r for r in rows if r["passes"] and r["complete"]]
    if not passing:
        return None
    score = lambda r: (r["ft_forward"] + r["ft_local_forward"] + r["ft_local_reversal"]) / 3  # noqa: E731
    return min(passing, key=lambda r: (r["train_tokens"], -score(r)))


def table(rows: Sequence[dict]) -> str:
    """The summary as a Markdown table, the chosen recipe marked."""
    chosen = choose(rows)
    lines = ["| epochs | lr | batch | dev seeds | ft forward | ft reversal | ft_local forward "
             "| ft_local reversal | training tokens per seed | steps per seed "
             "| training s per seed | |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        mark = ("chosen" if r is chosen else "passes" if r["passes"] and r["complete"]
                else "dropped: cannot reach the bar" if not r["complete"] else "")
        lines.append(f"| {r['epochs']} | {r['lr']:g} | {r['batch_size']} | {r['seeds']} | "
                     f"{r['ft_forward']:.2f} | {r['ft_reversal']:.2f} | "
                     f"{r['ft_local_forward']:.2f} | {r['ft_local_reversal']:.2f} | "
                     f"{r['train_tokens']} | {r['train_steps']} | {r['train_seconds']:.0f} | "
                     f"{mark} |")
    return "\n".join(lines)

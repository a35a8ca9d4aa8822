"""The check itself: every guesser on every split, scored against what the split allows."""

from __future__ import annotations

from dataclasses import dataclass

from core.shortcuts.evidence import ASSOCIATION, GUESSERS, MARGIN, Guesser, Index, mean
from core.worlds.base import Item, World


@dataclass(frozen=True)
class Row:
    guesser: str
    split: str
    scope: str  # trained, one_hop or multi_hop
    items: int
    accuracy: float
    chance: float
    allowed: bool  # may this guesser do well on this split?
    passes: bool  # allowed, or at most chance + MARGIN

    @property
    def bound(self) -> float:
        return self.chance + MARGIN


def split_scope(world: World, split: str) -> str:
    """trained (not held out), multi_hop (the kind says so) or one_hop (every other held-out)."""
    if split not in world.held_out_splits:
        return "trained"
    return "multi_hop" if split in getattr(world.spec, "multi_hop_splits", ()) else "one_hop"


def allowed(guesser: Guesser, scope: str) -> bool:
    """Trained splits allow anything; one-hop splits, association (the fact links the two)."""
    return scope == "trained" or (scope == "one_hop" and guesser.evidence == ASSOCIATION)


def guessers_for(kind: str) -> list[Guesser]:
    """The guessers that apply to a kind: every generic one and those made for it."""
    return [g for g in GUESSERS.values() if g.kinds is None or kind in g.kinds]


def credit(scores: list[float], answer: int) -> float:
    """1/k when the answer is among the k top-scoring choices, else 0 (so a rule that cannot
    tell the choices apart scores exactly chance)."""
    top = max(scores)
    best = [k for k, s in enumerate(scores) if s >= top - 1e-9]
    return 1.0 / len(best) if answer in best else 0.0


def shortcut_table(world: World, guessers: list[str] | None = None) -> list[Row]:
    """One row per guesser and split: its accuracy on the split, chance, whether it may do
    well there, and whether the split passes the check."""
    index = Index(world.documents)
    chosen = [GUESSERS[g] for g in guessers] if guessers else guessers_for(world.kind)
    by_split: dict[str, list[Item]] = {}
    for item in world.items:
        by_split.setdefault(item.split, []).append(item)
    rows = []
    for g in chosen:
        for split in sorted(by_split):
            items = by_split[split]
            total = 0.0
            for item in items:
                scores = g.score(index, item)
                total += (1.0 / len(item.choices)) if scores is None else credit(scores, item.answer)
            accuracy = total / len(items)
            chance = mean([item.chance for item in items])
            scope = split_scope(world, split)
            ok = allowed(g, scope)
            rows.append(Row(g.name, split, scope, len(items), round(accuracy, 4), round(chance, 4),
                            ok, ok or accuracy <= chance + MARGIN + 1e-9))
    return rows


def failures(rows: list[Row]) -> list[Row]:
    """Rows of guessers that do better than they may."""
    return [r for r in rows if not r.passes]


def format_table(rows: list[Row]) -> str:
    """A plain-text table, one row per guesser and split."""
    header = f"{'guesser':<24} {'split':<17} {'scope':<9} {'items':>5} {'acc':>5} {'chance':>6} " \
             f"{'allowed':>7} {'passes':>6}"
    lines = [header]
    for r in rows:
        lines.append(f"{r.guesser:<24} {r.split:<17} {r.scope:<9} {r.items:>5} {r.accuracy:>5.2f} "
                     f"{r.chance:>6.2f} {'yes' if r.allowed else 'no':>7} "
                     f"{'yes' if r.passes else 'NO':>6}")
    return "\n".join(lines)

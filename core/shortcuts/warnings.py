"""The shortcut check behind a verdict: which splits of the runs' worlds a surface rule answers.

A verdict that says "ICL is above chance on syllogism" means little where a rule reading only
the documents and the choices scores as much there. Worlds are deterministic from their kind,
seed, preset and parameters, so the worlds a set of runs used are built again (quick worlds in
a tenth of a second) and checked with `shortcut_table`; each split a rule answers better than
it may becomes one caveat line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from core.errors import LabError
from core.paths import confined
from core.shortcuts.evidence import MARGIN
from core.shortcuts.table import Row, failures, shortcut_table
from core.worlds import build_world
from core.worlds.custom import resolve


@dataclass(frozen=True)
class WorldRef:
    """What a run records of its world: enough to build it again and to know it is the same."""
    kind: str
    seed: int
    preset: str
    params: str  # JSON: every parameter, as the run recorded it
    world_id: str | None = None  # None for results-file lines older than the field


def world_failures(ref: WorldRef, custom_roots: list[Path] | None = None) -> list[Row] | None:
    """The rules that answer a split of this world better than they may; None when the world
    cannot be built again as it was (an earlier generator, an edited or missing custom file,
    or a custom file outside `custom_roots`, where the app confines its users)."""
    params = json.loads(ref.params) if ref.params else {}
    try:
        if ref.kind == "custom" and custom_roots is not None:
            confined(resolve(str(params.get("path", ""))), "the custom world file", custom_roots)
        world = build_world(ref.kind, int(ref.seed), ref.preset, params)
    except LabError:
        return None
    if ref.world_id is not None and world.world_id != ref.world_id:
        return None
    return failures(shortcut_table(world))


def shortcut_warnings(refs: Iterable[WorldRef], custom_roots: list[Path] | None = None) -> list[str]:
    """One line per split that a surface rule answers above its bound on some of the worlds,
    naming the rules, their accuracy and the seeds; and one line for worlds left unchecked."""
    found: dict[tuple[str, str, str], list[tuple[int, Row]]] = {}
    unchecked = []
    for ref in sorted(set(refs), key=lambda r: (r.kind, r.preset, r.seed, r.params)):
        rows = world_failures(ref, custom_roots)
        if rows is None:
            unchecked.append(f"{ref.kind} seed {ref.seed}")
        for row in rows or []:
            found.setdefault((ref.kind, ref.preset, row.split), []).append((ref.seed, row))
    lines = []
    for (kind, preset, split), hits in found.items():
        seeds = sorted({seed for seed, _ in hits})
        rules = {seed: ", ".join(f"{row.guesser} {row.accuracy:.2f}" for hit_seed, row in hits
                                 if hit_seed == seed) for seed in seeds}
        by_seed = "; ".join(rules[seed] + (f" on seed {seed}" if len(seeds) > 1 else "")
                            for seed in seeds)
        bound = hits[0][1].bound
        lines.append(f"on the {kind} ({preset}) world, rules that read only the surface answer "
                     f"`{split}` items above chance + {MARGIN:.2f} ({bound:.2f}) on {_seeds(seeds)} "
                     f"({by_seed}): accuracy there may not need the knowledge the split tests "
                     "(docs/shortcuts.md).")
    if unchecked:
        lines.append(f"not checked: {', '.join(unchecked)} (a world that cannot be built again "
                     "as it was: made by an earlier version of the lab, or from a custom file "
                     "that changed or is out of reach).")
    return lines


def refs_of(runs) -> list[WorldRef]:
    """The distinct worlds of a runs table (columns kind, world_seed, preset, world_params and,
    where present, world_id)."""
    has_id = "world_id" in runs
    return list({WorldRef(str(r["kind"]), int(r["world_seed"]), str(r["preset"]),
                          r["world_params"] if isinstance(r["world_params"], str) else "{}",
                          r["world_id"] if has_id and isinstance(r["world_id"], str) else None)
                 for _, r in runs.iterrows() if isinstance(r["kind"], str)})


def _seeds(seeds: list[int]) -> str:
    words = [str(s) for s in seeds]
    if len(words) == 1:
        return f"seed {words[0]}"
    return f"seeds {', '.join(words[:-1])} and {words[-1]}"

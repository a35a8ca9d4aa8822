"""The shortcut check behind a verdict: which splits of the runs' worlds a surface rule answers.

A verdict that says "ICL is above chance on syllogism" means little where a rule reading only
the documents and the choices scores as much there. Worlds are deterministic from their kind,
seed, preset and parameters, so the worlds a set of runs used are built again (quick worlds in
a tenth of a second) and checked with `shortcut_table`; each split a rule answers better than
it may becomes one caveat line, and a world that cannot be built as it was is named, never
passed in silence.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from core.errors import LabError
from core.paths import confined
from core.shortcuts.evidence import MARGIN
from core.shortcuts.table import Row, failures, shortcut_table
from core.worlds import build_world, get_kind
from core.worlds.base import validate_params
from core.worlds.custom import resolve


@dataclass(frozen=True)
class WorldRef:
    """What a run records of its world: enough to build it again and to know it is the same.
    `kind` is None for a run whose world is missing from the database."""
    kind: str | None
    seed: int
    preset: str
    params: str  # JSON of every parameter, keys sorted (`refs_of` makes it canonical)
    world_id: str | None = None  # None for results-file lines older than the field


def world_failures(ref: WorldRef, custom_roots: list[Path] | None = None) -> list[Row] | None:
    """The rules that answer a split of this world better than they may; None when the world
    cannot be built again as it was (missing, an earlier generator, an edited or missing custom
    file, a custom file outside `custom_roots`, where the app confines its users, or parameters
    that no longer read)."""
    if ref.kind is None:
        return None
    try:
        params = json.loads(ref.params)
        if ref.kind == "custom" and custom_roots is not None:
            # The path the build will read, after the preset's defaults: check that one.
            path = validate_params(get_kind("custom"), ref.preset, params).path
            confined(resolve(str(path)), "the custom world file", custom_roots)
        world = build_world(ref.kind, int(ref.seed), ref.preset, params)
    except (LabError, ValueError, TypeError, AttributeError):
        return None
    if ref.world_id is not None and world.world_id != ref.world_id:
        return None
    return failures(shortcut_table(world))


def shortcut_warnings(refs: Iterable[WorldRef], custom_roots: list[Path] | None = None,
                      check: Callable[[WorldRef], list[Row] | None] | None = None) -> list[str]:
    """One line per split that a surface rule answers above its bound on some of the worlds
    (a setting of kind, preset and parameters at a time), naming the rules, their accuracy and
    the seeds; and one line naming the worlds left unchecked. `check` replaces
    `world_failures` (the app passes a cached one)."""
    check = check or (lambda ref: world_failures(ref, custom_roots))
    found: dict[tuple, list[tuple[int, Row]]] = {}
    unchecked = []
    for ref in _distinct(refs):
        rows = check(ref)
        if rows is None:
            unchecked.append(f"{ref.kind} seed {ref.seed}" if ref.kind else
                             "a run whose world is not in the database")
        for row in rows or []:
            found.setdefault((ref.kind, ref.preset, ref.params, row.split), []).append((ref.seed, row))
    lines = []
    for (kind, preset, _, split), hits in found.items():
        seeds = sorted({seed for seed, _ in hits})
        rules = {seed: ", ".join(f"{row.guesser} {row.accuracy:.2f}" for hit_seed, row in hits
                                 if hit_seed == seed) for seed in seeds}
        by_seed = "; ".join(rules[seed] + (f" on seed {seed}" if len(seeds) > 1 else "")
                            for seed in seeds)
        a_rule = "rules that read" if len(hits) > 1 else "a rule that reads"
        lines.append(f"on the {kind} ({preset}) world, {a_rule} only the surface answer"
                     f"{'' if len(hits) > 1 else 's'} `{split}` items above chance + {MARGIN:.2f} "
                     f"(bound {hits[0][1].bound:.2f}) on {_seeds(seeds)} ({by_seed}): accuracy "
                     "there may not need the knowledge the split tests (docs/shortcuts.md).")
    if unchecked:
        lines.append(f"not checked: {', '.join(dict.fromkeys(unchecked))} (a world that cannot be "
                     "built again as it was: missing, made by an earlier version of the lab, or "
                     "from a custom file that changed or is out of reach).")
    return lines


def refs_of(runs) -> list[WorldRef]:
    """The worlds of a runs table (columns kind, world_seed, preset, world_params and, where
    present, world_id), each once; a run without its world row gives a ref with kind None."""
    refs = []
    for _, run in runs.iterrows():
        if not isinstance(run["kind"], str):
            refs.append(WorldRef(None, -1, "", "{}"))
            continue
        params = run["world_params"] if isinstance(run["world_params"], str) else "{}"
        world_id = run.get("world_id")
        refs.append(WorldRef(run["kind"], int(run["world_seed"]), str(run["preset"]),
                             _canonical(params), world_id if isinstance(world_id, str) else None))
    return _distinct(refs)


def _distinct(refs: Iterable[WorldRef]) -> list[WorldRef]:
    """Each world once, in a stable order; a ref that names its world id wins over one that
    does not for the same kind, seed, preset and parameters."""
    best: dict[tuple, WorldRef] = {}
    for ref in refs:
        key = (ref.kind or "", ref.seed, ref.preset, ref.params)
        if key not in best or (best[key].world_id is None and ref.world_id is not None):
            best[key] = ref
    return [best[key] for key in sorted(best, key=str)]


def _canonical(params: str) -> str:
    try:
        return json.dumps(json.loads(params), sort_keys=True, separators=(",", ":"))
    except ValueError:
        return params  # left as it is: the build will fail and the world is named unchecked


def _seeds(seeds: list[int]) -> str:
    words = [str(s) for s in seeds]
    if len(words) == 1:
        return f"seed {words[0]}"
    return f"seeds {', '.join(words[:-1])} and {words[-1]}"


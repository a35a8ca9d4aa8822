"""World kinds, registered by name. Adding a kind is one new module in this folder with a
`WorldKind` subclass (see base.py) whose `name` is the module's name: modules here are
discovered, and imported when their kind is first asked for."""

from __future__ import annotations

import dataclasses
import functools
import importlib
import json
import pkgutil
import random
from pathlib import Path
from typing import Any

from core.errors import LabError
from core.limits import check_world_size
from core.worlds.base import (
    Document,
    Fact,
    Item,
    World,
    WorldKind,
    describe_params,
    validate_params,
)

_NOT_KINDS = {"base", "kinship", "words"}

__all__ = ["Document", "Fact", "Item", "World", "WorldKind", "build_world", "check_seed", "describe_params",
           "get_kind", "kind_names", "write_world"]


def kind_names() -> list[str]:
    """Every module here but the helpers (base, kinship, words) is a kind, named like its module."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in _NOT_KINDS)


@functools.cache
def get_kind(name: str) -> WorldKind:
    if name not in kind_names():
        raise LabError(f"unknown world kind '{name}'; choose one of: {', '.join(kind_names())}")
    module = importlib.import_module(f"{__name__}.{name}")
    return next(obj for obj in vars(module).values() if isinstance(obj, type)
                and issubclass(obj, WorldKind) and vars(obj).get("name") == name)()


MAX_SEED = 2**31 - 1  # the store keeps seeds as 32-bit integers


def check_seed(seed: int, what: str = "seed") -> int:
    if not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise LabError(f"{what} must be a whole number from 0 to {MAX_SEED}, got {seed!r}")
    return seed


def build_world(kind: str, seed: int, preset: str = "quick",
                overrides: dict[str, Any] | None = None) -> World:
    """The world of (kind, parameters, seed): the same arguments always give the same world."""
    check_seed(seed, "world seed")
    spec = get_kind(kind)
    params = validate_params(spec, preset, overrides or {})
    world = spec.build(params, random.Random(f"{kind}:{seed}"))
    check_world_size(len(world.documents), len(world.items), f"the {kind} world")
    return dataclasses.replace(world, params=dataclasses.asdict(params), seed=seed)


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(row, sort_keys=True) + "\n" for row in rows))


def write_world(world: World, out_dir: str | Path) -> Path:
    """world.json, facts.jsonl, documents.jsonl and items.jsonl: byte-identical for the same world."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise LabError(f"cannot create output folder {out}: {error.strerror}") from None
    summary = {"kind": world.kind, "params": world.params, "seed": world.seed,
               "counts": world.counts(), "documents": len(world.documents),
               "facts": len(world.facts), "held_out_splits": list(world.held_out_splits)}
    (out / "world.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    _jsonl(out / "facts.jsonl", [{"fact_id": f.fact_id, "text": f.text} for f in world.facts])
    _jsonl(out / "documents.jsonl", [{"doc_id": d.doc_id, "text": d.text} for d in world.documents])
    _jsonl(out / "items.jsonl", [{"item_id": i.item_id, "split": i.split, "prompt": i.prompt,
                                  "choices": list(i.choices), "answer": i.answer}
                                 for i in world.items])
    return out

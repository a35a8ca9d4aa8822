"""What every world kind shares: the data it produces and the small protocol it implements.

A world kind is a parameter dataclass plus a `WorldKind` subclass with three methods:
`build` (facts, documents, items from params and a seed), `oracle_inferences` (the true
statements local or global augmentation should produce) and `judge` (is a statement true,
false or unparseable in this world); optionally `as_document` (how an augmentation is
dressed as a training document). Kinds register themselves by name in `core.worlds`.
`Balancer` helps a kind choose distractors that no cheap rule tells from the answer.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import itertools
import json
import random
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np

from core.errors import LabError

Verdict = Literal["true", "false", "unparseable"]
Scope = Literal["local", "global"]


@dataclass(frozen=True)
class Fact:
    fact_id: str
    text: str  # the fact as the world states it in training
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Document:
    doc_id: str
    text: str
    fact_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Item:
    item_id: str
    split: str
    prompt: str
    choices: tuple[str, ...]
    answer: int
    fact_ids: tuple[str, ...] = ()  # the facts a model needs to answer

    @property
    def chance(self) -> float:
        return 1.0 / len(self.choices)


def param(default: Any, help: str, min: float | None = None, max: float | None = None,
          choices: tuple | None = None) -> Any:
    """A world parameter with its help text and valid range, checked by `validate_params`."""
    return field(default=default,
                 metadata={"help": help, "min": min, "max": max, "choices": choices})


@dataclass
class World:
    kind: str
    params: dict[str, Any]
    seed: int
    facts: list[Fact]
    documents: list[Document]
    items: list[Item]
    held_out_splits: tuple[str, ...]
    spec: WorldKind = field(repr=False, compare=False)
    # For pictures and kind-specific logic. Every kind gives at least "graph": {"nodes":
    # [{"id", "group"}], "edges": [{"source", "target", "label"}]}, drawn by the worlds page.
    structure: dict[str, Any] = field(default_factory=dict)

    @functools.cached_property
    def world_id(self) -> str:
        """Kind, seed, parameters and a hash of the documents and items (and of the whole file,
        for a custom world): a generator changed between versions of the lab, or an edited
        file, makes a new world, so the items a database keeps for a world are always those its
        runs were scored on. Computed once: a world is not changed after it is built."""
        params = json.dumps(self.params, sort_keys=True, separators=(",", ":"))
        return f"{self.kind}:{self.seed}:{params}:{self.content_hash()}"

    def content_hash(self) -> str:
        digest = hashlib.sha256(self.structure.get("sha256", "").encode())  # a custom file's
        for document in self.documents:
            digest.update(f"{document.doc_id}\x00{document.text}\x01".encode())
        for item in self.items:
            digest.update(json.dumps([item.item_id, item.split, item.prompt, list(item.choices),
                                      item.answer]).encode())
        return digest.hexdigest()[:12]

    def splits(self) -> list[str]:
        return sorted({item.split for item in self.items})

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for item in self.items:
            counts[item.split] = counts.get(item.split, 0) + 1
        return dict(sorted(counts.items()))

    def oracle_inferences(self, scope: Scope) -> list[str]:
        return self.spec.oracle_inferences(self, scope)

    def judge(self, statement: str) -> Verdict:
        return self.spec.judge(self, statement)

    def as_document(self, statement: str, rng: random.Random) -> str:
        return self.spec.as_document(statement, rng)

    def facts_by_id(self) -> dict[str, Fact]:
        return {fact.fact_id: fact for fact in self.facts}


class WorldKind:
    """The protocol a world kind implements. Subclasses set `name`, `Params` and `presets`."""

    name: ClassVar[str]
    Params: ClassVar[type]
    presets: ClassVar[dict[str, dict[str, Any]]]
    held_out_splits: ClassVar[tuple[str, ...]]
    # Held-out splits whose answers follow from two or more facts (the others held out read one
    # fact another way). core/shortcuts/ holds these to a stricter standard: no guesser, not
    # even one of association, may answer them above chance.
    multi_hop_splits: ClassVar[tuple[str, ...]] = ()

    def build(self, params: Any, rng: random.Random) -> World:  # pragma: no cover - protocol
        raise NotImplementedError

    def oracle_inferences(self, world: World, scope: Scope) -> list[str]:  # pragma: no cover
        raise NotImplementedError

    def judge(self, world: World, statement: str) -> Verdict:  # pragma: no cover
        raise NotImplementedError

    def as_document(self, statement: str, rng: random.Random) -> str:
        """An augmentation statement dressed as a training document of this world, so that a
        fine-tuned model cannot tell augmentations from data by their format."""
        return statement

    def item_statement(self, prompt: str, choice: str) -> str:
        """The plain statement an item asks the model to complete: prompt followed by the
        choice ("glon are" + " less dangerous than femp."). A prompt ending with a colon is a
        header ("The relationships between yomp and troff are:"), and the choice alone is the
        statement. Kinds whose test prompts are framed differently from their facts say how
        to unframe them (the audit's coverage looks for this statement)."""
        return choice if prompt.rstrip().endswith(":") else prompt + choice


def validate_params(kind: WorldKind, preset: str, overrides: dict[str, str | Any]) -> Any:
    """Preset values, then user overrides (strings from the command line are converted),
    each checked against the parameter's declared range. Raises LabError on any problem."""
    if preset not in kind.presets:
        raise LabError(f"unknown preset '{preset}' for world '{kind.name}'; "
                       f"choose one of: {', '.join(kind.presets)}")
    fields = {f.name: f for f in dataclasses.fields(kind.Params)}
    values = dict(kind.presets[preset])
    for key, raw in overrides.items():
        if key not in fields:
            raise LabError(f"unknown parameter '{key}' for world '{kind.name}'; "
                           f"known parameters: {', '.join(fields)}")
        values[key] = _convert(kind.name, key, raw, fields[key])
    for key, value in values.items():
        _check_range(kind.name, key, value, fields[key].metadata)
    return kind.Params(**values)


def _convert(kind: str, key: str, raw: Any, fld: dataclasses.Field) -> Any:
    target = type(fld.default)
    if isinstance(raw, target) and not (target is int and isinstance(raw, bool)):
        return raw
    try:
        if target is bool:
            if str(raw).lower() in ("1", "true", "yes"):
                return True
            if str(raw).lower() in ("0", "false", "no"):
                return False
            raise ValueError
        return target(raw)
    except (TypeError, ValueError):
        wanted = {int: "a whole number", float: "a number", bool: "true or false"}.get(target, "text")
        raise LabError(f"parameter '{key}' of world '{kind}' must be {wanted}, got '{raw}'") from None


def _check_range(kind: str, key: str, value: Any, meta: Any) -> None:
    low, high, choices = meta.get("min"), meta.get("max"), meta.get("choices")
    if choices is not None and value not in choices:
        raise LabError(f"parameter '{key}' of world '{kind}' must be one of "
                       f"{', '.join(map(str, choices))}, got {value}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise LabError(f"parameter '{key}' of world '{kind}' must be between {low} and {high}, "
                       f"got {value}")


def describe_params(kind: WorldKind) -> list[dict[str, Any]]:
    """Name, default, help and range of each parameter, for the command line and the app."""
    return [{"name": f.name, "default": f.default, **f.metadata}
            for f in dataclasses.fields(kind.Params)]


class Balancer:
    """Chooses the distractors of a split's items so that no rule "pick the choice with the
    highest value of feature f" scores above chance over the split (the checks of
    core/shortcuts/ read such features from the documents: a name's frequency, its length, how
    many documents separate it from the subject...; pass -f for "the lowest"). Each item offers
    candidates with their features; every set of n_choices - 1 of them earns each rule a credit
    (1/k when the answer ties k - 1 distractors at the top, 0 when one is above it). `solve`
    picks one set per item, greedily and then by revisiting each item, so that each rule's
    accuracy over the split stays a little under chance (`band`), with the least `penalty` (a
    cost per candidate: a fallback, a less hard distractor)."""

    def __init__(self, n_choices: int, band: tuple[float, float] = (0.10, 0.05)) -> None:
        self.n_choices = n_choices
        # Each rule's accuracy is kept between chance - band[0] and chance - band[1]: a little
        # below chance, so that where one rule cannot be held at chance on some items the others
        # make room for it, and not far below, which would tell which choice to avoid.
        self.low, self.high = 1.0 / n_choices - band[0], 1.0 / n_choices - band[1]
        self._sets: list[Any] = []  # per item: candidate index sets, (sets, rules) credits, cost

    def add(self, answer: tuple[float, ...], candidates: list[tuple[float, ...]],
            rng: random.Random, penalty: list[float] | None = None) -> None:
        sets = list(itertools.combinations(range(len(candidates)), self.n_choices - 1))
        rng.shuffle(sets)  # ties between equally good sets go to a random one
        index = np.array(sets, dtype=int).reshape(len(sets), self.n_choices - 1)
        values = np.array(candidates, dtype=float).reshape(len(candidates), -1)[index]
        a = np.array(answer, dtype=float)
        ties = (values == a).sum(axis=1)
        credits = np.where(values.max(axis=1) > a, 0.0, 1.0 / (1 + ties))
        cost = np.array(penalty, dtype=float)[index].sum(axis=1) if penalty else np.zeros(len(sets))
        self._sets.append((sets, credits, cost))

    def solve(self, passes: int = 3) -> list[tuple[int, ...]]:
        """The chosen candidate indices of each item, in the order items were added."""
        if not self._sets:
            return []
        high = np.zeros(self._sets[0][1].shape[1])  # each rule's credit so far minus self.high
        low = high.copy()  # and minus self.low
        chosen: list[int | None] = [None] * len(self._sets)
        for _ in range(passes):
            for i, (_, credits, cost) in enumerate(self._sets):
                if chosen[i] is not None:
                    high -= credits[chosen[i]] - self.high
                    low -= credits[chosen[i]] - self.low
                # The other items' totals plus each option's: only leaving the band costs.
                over = np.maximum(high + credits - self.high, 0.0)
                under = np.minimum(low + credits - self.low, 0.0)
                # Falling under the band costs less than rising over it: a rule under chance
                # says at most which choice to avoid.
                best = int(np.argmin((over ** 2).sum(axis=1) + 0.25 * (under ** 2).sum(axis=1)
                                     + cost))
                chosen[i] = best
                high += credits[best] - self.high
                low += credits[best] - self.low
        return [self._sets[i][0][c] for i, c in enumerate(chosen)]

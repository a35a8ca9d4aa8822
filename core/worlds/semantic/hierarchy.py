"""`Hierarchy`: the truth of a semantic world (what is a kind of what, which category has
which property, which relations hold), read from `World.structure` so that the judge and the
items agree."""

from __future__ import annotations

import re


class Hierarchy:
    """Truth in the world, read from `World.structure` (so the judge and the items agree)."""

    def __init__(self, structure: dict) -> None:
        self.categories: dict[str, dict] = structure["categories"]
        self.lexicon: dict[str, list[str]] = structure["lexicon"]
        self.relations: list[list[str]] = structure["relations"]

    def up(self, c: str) -> list[str]:
        """The category and its ancestors, nearest first."""
        return [c, *self.categories[c]["ancestors"]]

    def descendants(self, c: str) -> list[str]:
        out = []
        for child in self.categories[c]["children"]:
            out += [child, *self.descendants(child)]
        return out

    def word(self, word: str, kind: str) -> str | None:
        entry = self.lexicon.get(word)
        return entry[1] if entry and entry[0] == kind else None

    def is_a(self, c: str, p: str) -> bool:
        return p in self.categories[c]["ancestors"]

    def has_property(self, c: str, adj: str) -> bool:
        return self.lexicon[adj][1] in self.up(c)

    def holds(self, s: str, verb: str, o: str) -> bool:
        subjects, objects = self.up(s), self.up(o)
        return any(v == verb and rs in subjects and ro in objects for rs, v, ro in self.relations)

    def evaluate(self, kind: str, slots: dict[str, str]) -> bool | None:
        """Truth of a parsed statement, or None when a slot holds a word of the wrong type."""
        x = self.word(slots.get("x") or slots.get("xs") or "", "category")
        y = self.word(slots.get("y") or slots.get("ys") or "", "category")
        if kind == "property":
            words = re.split(r",? and |, ", slots.get("adjs") or slots.get("adj") or "")
            if x is None or any(self.word(w, "property") is None for w in words):
                return None
            return all(self.has_property(x, w) for w in words)
        if x is None or y is None:
            return None
        if kind == "isa":
            return self.is_a(x, y)
        verb = self.word(slots["verb"], "verb")
        return None if verb is None else self.holds(x, verb, y)

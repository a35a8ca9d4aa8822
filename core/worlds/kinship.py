"""Kinship for the `family` world: people, who is whose parent, sibling, aunt or cousin, and
the words for each relation. Not a world kind itself (see `core.worlds._NOT_KINDS`)."""

from __future__ import annotations

from dataclasses import dataclass

# Relation words: (relation, gender of the person the word describes, or None for either).
# "x is the <word> of y" says x stands in <relation> to y.
WORDS = {
    "mother": ("parent", "f"), "father": ("parent", "m"), "parent": ("parent", None),
    "daughter": ("child", "f"), "son": ("child", "m"), "child": ("child", None),
    "grandmother": ("grandparent", "f"), "grandfather": ("grandparent", "m"),
    "grandparent": ("grandparent", None),
    "granddaughter": ("grandchild", "f"), "grandson": ("grandchild", "m"),
    "grandchild": ("grandchild", None),
    "sister": ("sibling", "f"), "brother": ("sibling", "m"), "sibling": ("sibling", None),
    "aunt": ("aunt_uncle", "f"), "uncle": ("aunt_uncle", "m"),
    "niece": ("niece_nephew", "f"), "nephew": ("niece_nephew", "m"),
    "cousin": ("cousin", None),
    "wife": ("spouse", "f"), "husband": ("spouse", "m"), "spouse": ("spouse", None),
}
# "x and y are <plural>": (relation, gender of both, or None).
PLURALS = {"siblings": ("sibling", None), "sisters": ("sibling", "f"),
           "brothers": ("sibling", "m"), "cousins": ("cousin", None)}


def word(relation: str, gender: str) -> str:
    """The relation word for a person of this gender ("parent", "f" -> "mother")."""
    gendered = next((w for w, (r, g) in WORDS.items() if r == relation and g == gender), None)
    return gendered or next(w for w, (r, g) in WORDS.items() if r == relation)


@dataclass(frozen=True)
class Person:
    name: str
    gender: str  # "f" or "m"
    family: int
    generation: int
    mother: str | None = None  # None for founders and people who married in
    father: str | None = None


class Tree:
    """Who is related to whom; every list is in the order people were created."""

    def __init__(self, people: list[Person]):
        self.people = {p.name: p for p in people}
        self.order = {p.name: i for i, p in enumerate(people)}
        self._children: dict[str, list[str]] = {}
        for p in people:
            for parent in self.parents(p.name):
                self._children.setdefault(parent, []).append(p.name)

    def _sorted(self, names) -> list[str]:
        return sorted(set(names), key=self.order.__getitem__)

    def parents(self, x: str) -> list[str]:
        p = self.people[x]
        return [n for n in (p.mother, p.father) if n]

    def children(self, x: str) -> list[str]:
        return self._children.get(x, [])

    def spouses(self, x: str) -> list[str]:
        return self._sorted(q for c in self.children(x) for q in self.parents(c) if q != x)

    def siblings(self, x: str) -> list[str]:
        return self._sorted(s for p in self.parents(x) for s in self.children(p) if s != x)

    def grandparents(self, x: str) -> list[str]:
        return self._sorted(g for p in self.parents(x) for g in self.parents(p))

    def blood_aunts_uncles(self, x: str) -> list[str]:
        return self._sorted(s for p in self.parents(x) for s in self.siblings(p))

    def aunts_uncles(self, x: str) -> list[str]:
        blood = self.blood_aunts_uncles(x)
        return self._sorted(blood + [s for a in blood for s in self.spouses(a)])

    def cousins(self, x: str) -> list[str]:
        return self._sorted(c for a in self.blood_aunts_uncles(x) for c in self.children(a))

    def grandchildren(self, x: str) -> list[str]:
        return self._sorted(g for c in self.children(x) for g in self.children(c))

    def nieces_nephews(self, x: str) -> list[str]:
        """Children of x's siblings and of x's spouses' siblings (the inverse of aunts_uncles)."""
        return self._sorted(n for q in [x, *self.spouses(x)] for s in self.siblings(q)
                            for n in self.children(s))

    def relatives(self, relation: str, x: str) -> list[str]:
        """Everyone x stands in `relation` to ("parent": x's children)."""
        return {"parent": self.children, "child": self.parents,
                "grandparent": self.grandchildren, "grandchild": self.grandparents,
                "sibling": self.siblings, "aunt_uncle": self.nieces_nephews,
                "niece_nephew": self.aunts_uncles, "cousin": self.cousins,
                "spouse": self.spouses}[relation](x)

    def loosely(self, relation: str, x: str) -> list[str]:
        """Whom the relation word is loosely used for, beyond `relatives`: great-grandparents
        for "grandparent", in-laws for "sibling", great-aunts and a parent's cousins for "aunt",
        cousins once removed and second cousins for "cousin"."""
        up = self.parents(x)
        return self._sorted({
            "grandchild": lambda: [g for p in self.grandparents(x) for g in self.parents(p)],
            "sibling": lambda: [*(s for q in self.spouses(x) for s in self.siblings(q)),
                                *(q for s in self.siblings(x) for q in self.spouses(s))],
            "niece_nephew": lambda: [a for p in up for a in self.aunts_uncles(p) + self.cousins(p)],
            "cousin": lambda: [*(c for p in up for c in self.cousins(p)),
                               *(k for c in self.cousins(x) for k in self.children(c)),
                               *(k for p in up for c in self.cousins(p) for k in self.children(c))],
        }.get(relation, list)())

    def distances(self, x: str) -> dict[str, int]:
        """Parent facts to cross from x to each relative (the notes name two people each)."""
        found, frontier = {x: 0}, [x]
        while frontier:
            later = []
            for y in frontier:
                for n in self.parents(y) + self.children(y):
                    if n not in found:
                        found[n] = found[y] + 1
                        later.append(n)
            frontier = later
        return found

    def holds(self, relation: str, x: str, y: str) -> bool:
        return y in self.relatives(relation, x)

    def says(self, x: str, relation: str, y: str | None = None) -> str:
        """The statement "x is the <relation word> of y." in x's gender; without y, the prompt."""
        head = f"{x} is the {word(relation, self.people[x].gender)} of"
        return head if y is None else f"{head} {y}."

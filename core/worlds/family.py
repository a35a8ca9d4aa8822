"""`family`: family trees over several generations; training states parent facts only.

Each family starts with a founding couple. Every couple has between `min_children` and
`max_children` children; a child of any but the last generation marries, with probability
`marry_rate`, a newcomer without known parents (of the other gender), and the couple has
children in turn. Everyone has a nonsense name (lowercase, like every nonsense word of the
project) and a gender, so "mother"/"father", "son"/"daughter", "aunt"/"uncle" can be written.

Training states parent facts only ("blonk is the mother of zeenk."), each in a note of its own
(a lead-in line, then the fact), `articles_per_fact` times. Not an article per couple: there
the default model learned each article with its lines in context and still could not complete
a bare "blonk is the mother of" (forward 0.37 after the default 8 epochs; 0.43 after 32, at a
loss of 0.06; chance 0.25), since each line's names could be read off the lines around it.
Every other relation must be inferred:
`reversal` ("zeenk is the son of" -> " blonk."), `grandparent`, `sibling`, `aunt_uncle` and
`cousin`; `forward` (the trained sentence) is a sanity check. Every item is a statement
"<subject> is the <relation> of" with 4 names as choices.

The relations, as the judge reads them: siblings share a parent; aunts and uncles are the
siblings of a parent and their spouses (the co-parents of their children); cousins are first
cousins (children of a parent's sibling): second cousins and cousins once removed are not
"cousins" here.

Distractors stand in the split's relation to someone else (other grandparents for
`grandparent`), are false for the subject, and share the answer's gender where possible (so
the subject's other parent or grandparent, also correct, is never a choice); among those,
people of the subject's family come first (so belonging to the family gives no answer
away), then the generation nearest the answer's. For `aunt_uncle` and `cousin`
distractors come from other families only, as words like "aunt" and "cousin" are used loosely
for more distant relatives.
"""

from __future__ import annotations

import dataclasses
import random
import re
from dataclasses import dataclass

from core.errors import LabError
from core.worlds.base import Document, Fact, Item, Verdict, World, WorldKind, param
from core.worlds.words import nonsense_words

LEAD_INS = [
    "From the family records:", "A page from the parish register:", "Notes on the family tree:",
    "Family history:", "As the town archive records:", "From an old family letter:",
    "Genealogy notes:", "Recorded at the town hall:", "From the family bible:",
    "A note from the village elders:",
]
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
_NAME = r"[a-z]+"
_PATTERNS = [
    re.compile(rf"^(?P<x>{_NAME}) is (?:the|a|an) (?P<word>[a-z]+) of (?P<y>{_NAME})\.?$"),
    re.compile(rf"^(?P<y>{_NAME})'s (?P<word>[a-z]+) is (?P<x>{_NAME})\.?$"),
    re.compile(rf"^(?P<x>{_NAME}) is (?P<y>{_NAME})'s (?P<word>[a-z]+)\.?$"),
]
_PLURAL = re.compile(rf"^(?P<x>{_NAME}) and (?P<y>{_NAME}) are (?P<word>[a-z]+)\.?$")
# Per split: the relation the subject stands in to the answer, and whether distractors may
# come from the subject's own family.
SPLITS = {"forward": ("parent", True), "reversal": ("child", True),
          "grandparent": ("grandchild", True), "sibling": ("sibling", True),
          "aunt_uncle": ("niece_nephew", False), "cousin": ("cousin", False)}
N_CHOICES = 4


def word(relation: str, gender: str) -> str:
    """The relation word for a person of this gender ("parent", "f" -> "mother")."""
    gendered = next((w for w, (r, g) in WORDS.items() if r == relation and g == gender), None)
    return gendered or next(w for w, (r, g) in WORDS.items() if r == relation)


@dataclass
class FamilyParams:
    n_families: int = param(4, "separate families (each a tree from one founding couple)",
                            min=1, max=200)
    generations: int = param(3, "generations per family, founders included; 3 or more gives "
                             "grandparents, aunts and cousins", min=2, max=6)
    min_children: int = param(2, "fewest children per couple", min=1, max=6)
    max_children: int = param(3, "most children per couple", min=1, max=6)
    marry_rate: float = param(0.85, "chance that a child of any but the last generation marries "
                              "and has children", min=0.0, max=1.0)
    articles_per_fact: int = param(2, "training notes per parent fact (a lead-in line and "
                                   "the fact), so each fact is stated this many times",
                                   min=1, max=20)
    max_items_per_split: int = param(30, "items kept per test split (sampled when more are "
                                     "possible)", min=1, max=5000)


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

    def holds(self, relation: str, x: str, y: str) -> bool:
        return y in self.relatives(relation, x)

    def says(self, x: str, relation: str, y: str | None = None) -> str:
        """The statement "x is the <relation word> of y." in x's gender; without y, the prompt."""
        head = f"{x} is the {word(relation, self.people[x].gender)} of"
        return head if y is None else f"{head} {y}."


def _grow(params: FamilyParams, rng: random.Random) -> list[dict]:
    """People as dicts with integer ids (names come later), family by family, breadth first."""
    people: list[dict] = []

    def add(gender: str, family: int, generation: int, mother=None, father=None) -> int:
        people.append({"id": len(people), "gender": gender, "family": family,
                       "generation": generation, "mother": mother, "father": father})
        return len(people) - 1

    for family in range(params.n_families):
        couples = [(add("f", family, 0), add("m", family, 0), 0)]
        for mother, father, generation in couples:  # grows while we iterate
            if generation == params.generations - 1:
                continue
            for _ in range(rng.randint(params.min_children, params.max_children)):
                gender = rng.choice("fm")
                child = add(gender, family, generation + 1, mother, father)
                if generation + 2 < params.generations and rng.random() < params.marry_rate:
                    spouse = add("m" if gender == "f" else "f", family, generation + 1)
                    couples.append((child, spouse, generation + 1) if gender == "f"
                                   else (spouse, child, generation + 1))
    return people


def _name(people: list[dict], rng: random.Random) -> list[Person]:
    names = nonsense_words(rng, len(people))

    def name_of(index: int | None) -> str | None:
        return None if index is None else names[index]

    return [Person(names[p["id"]], p["gender"], p["family"], p["generation"],
                   name_of(p["mother"]), name_of(p["father"])) for p in people]


def _graph(tree: Tree) -> dict:
    nodes = [{"id": p.name, "group": f"family {p.family + 1}"} for p in tree.people.values()]
    edges = [{"source": parent, "target": p.name,
              "label": word("parent", tree.people[parent].gender)}
             for p in tree.people.values() for parent in tree.parents(p.name)]
    return {"nodes": nodes, "edges": edges}


@dataclass(frozen=True)
class _Candidate:
    subject: str
    answer: str
    fact_ids: tuple[str, ...]


class Family(WorldKind):
    name = "family"
    Params = FamilyParams
    presets = {
        "quick": {"n_families": 4, "generations": 3, "min_children": 2, "max_children": 3,
                  "marry_rate": 0.85, "articles_per_fact": 2, "max_items_per_split": 30},
        "paper": {"n_families": 12, "generations": 4, "min_children": 2, "max_children": 3,
                  "marry_rate": 0.85, "articles_per_fact": 10, "max_items_per_split": 300},
    }
    held_out_splits = ("reversal", "grandparent", "sibling", "aunt_uncle", "cousin")

    def build(self, params: FamilyParams, rng: random.Random) -> World:
        if params.min_children > params.max_children:
            raise LabError(f"min_children ({params.min_children}) must not exceed "
                           f"max_children ({params.max_children}) in world 'family'")
        people = _name(_grow(params, rng), rng)
        tree = Tree(people)
        facts, fact_of = self._facts(tree)
        documents = self._documents(facts, params.articles_per_fact, rng)
        items = []
        for split, candidates in self._candidates(tree, fact_of).items():
            items += self._items(tree, split, candidates, params.max_items_per_split, rng)
        structure = {"people": [dataclasses.asdict(p) for p in people], "graph": _graph(tree)}
        return World(self.name, {}, 0, facts, documents, items, self.held_out_splits, self,
                     structure)

    @staticmethod
    def _facts(tree: Tree) -> tuple[list[Fact], dict[tuple[str, str], str]]:
        """One fact per (parent, child), the mother's first; fact_of maps the pair to its id."""
        facts, fact_of = [], {}
        for child in tree.people.values():
            for parent in tree.parents(child.name):
                fact_id = f"f{len(facts):04d}"
                relation = word("parent", tree.people[parent].gender)
                facts.append(Fact(fact_id, tree.says(parent, "parent", child.name),
                                  {"parent": parent, "child": child.name, "relation": relation,
                                   "family": child.family}))
                fact_of[parent, child.name] = fact_id
        return facts, fact_of

    @staticmethod
    def _documents(facts: list[Fact], articles: int, rng: random.Random) -> list[Document]:
        """Each parent fact in `articles` notes of its own: a lead-in line, then the fact."""
        documents = []
        for fact in facts:
            # Different lead-ins for each fact's notes while there are enough of them.
            lead_ins = (rng.sample(LEAD_INS, articles) if articles <= len(LEAD_INS)
                        else [rng.choice(LEAD_INS) for _ in range(articles)])
            for lead_in in lead_ins:
                documents.append(Document(f"d{len(documents):05d}", f"{lead_in}\n{fact.text}",
                                          (fact.fact_id,)))
        rng.shuffle(documents)
        return documents

    @staticmethod
    def _candidates(tree: Tree, fact_of: dict) -> dict[str, list[_Candidate]]:
        """Every (subject, answer) pair of each split, with the facts that connect them."""
        out: dict[str, list[_Candidate]] = {split: [] for split in SPLITS}

        def mother_path(x: str, y: str) -> tuple[str, ...]:
            """Facts linking two siblings through their mother."""
            mother = tree.people[x].mother
            return fact_of[mother, x], fact_of[mother, y]

        for x in tree.people:
            for p in tree.parents(x):
                out["forward"].append(_Candidate(p, x, (fact_of[p, x],)))
                out["reversal"].append(_Candidate(x, p, (fact_of[p, x],)))
                for g in tree.parents(p):
                    out["grandparent"].append(_Candidate(x, g, (fact_of[g, p], fact_of[p, x])))
            for s in tree.siblings(x):
                out["sibling"].append(_Candidate(x, s, mother_path(x, s)))
            for p in tree.parents(x):
                for a in tree.siblings(p):
                    out["aunt_uncle"].append(_Candidate(x, a, (fact_of[p, x], *mother_path(p, a))))
                    for c in tree.children(a):
                        out["cousin"].append(_Candidate(
                            x, c, (fact_of[p, x], *mother_path(p, a), fact_of[a, c])))
        return out

    @staticmethod
    def _items(tree: Tree, split: str, candidates: list[_Candidate], cap: int,
               rng: random.Random) -> list[Item]:
        relation, same_family_ok = SPLITS[split]
        # Everyone who stands in the relation to somebody (other grandparents, ...).
        role = tree._sorted(c.answer for c in candidates)
        pools = []
        for c in candidates:
            subject = tree.people[c.subject]
            true = set(tree.relatives(relation, c.subject))
            pool = [q for q in role if q != c.subject and q not in true
                    and (same_family_ok or tree.people[q].family != subject.family)]
            pools.append(pool)
        usable = [i for i, pool in enumerate(pools) if len(pool) >= N_CHOICES - 1]
        if len(usable) > cap:
            usable = sorted(rng.sample(usable, cap))
        positions = [i % N_CHOICES for i in range(len(usable))]  # answer positions balanced
        rng.shuffle(positions)
        items = []
        for k, (i, position) in enumerate(zip(usable, positions)):
            c = candidates[i]
            choices = [f" {q}." for q in Family._distractors(tree, c, pools[i], rng)]
            choices.insert(position, f" {c.answer}.")
            items.append(Item(f"{split}-{k:04d}", split, tree.says(c.subject, relation),
                              tuple(choices), position,
                              c.fact_ids))
        return items

    @staticmethod
    def _distractors(tree: Tree, c: _Candidate, pool: list[str], rng: random.Random) -> list[str]:
        """The answer's gender first, then the subject's family, then the nearest generation."""
        answer, subject = tree.people[c.answer], tree.people[c.subject]
        pool = list(pool)
        rng.shuffle(pool)
        pool.sort(key=lambda q: (tree.people[q].gender != answer.gender,
                                 tree.people[q].family != subject.family,
                                 abs(tree.people[q].generation - answer.generation)))
        return pool[:N_CHOICES - 1]

    def as_document(self, statement: str, rng: random.Random) -> str:
        return f"{rng.choice(LEAD_INS)}\n{statement}"

    def oracle_inferences(self, world: World, scope: str) -> list[str]:
        tree = _tree(world)
        out: list[str] = []
        if scope == "local":
            # Each parent fact read from the child, and the possessive rephrasing.
            for fact in world.facts:
                parent, child = fact.data["parent"], fact.data["child"]
                out += [tree.says(child, "child", parent),
                        f"{child}'s {fact.data['relation']} is {parent}."]
        else:
            # Multi-hop: every relation beyond parent and child, in both directions.
            for x in tree.people:
                for g in tree.grandparents(x):
                    out += [tree.says(g, "grandparent", x), tree.says(x, "grandchild", g)]
                out += [tree.says(x, "sibling", s) for s in tree.siblings(x)]
                for a in tree.aunts_uncles(x):
                    out += [tree.says(a, "aunt_uncle", x), tree.says(x, "niece_nephew", a)]
                out += [tree.says(x, "cousin", c) for c in tree.cousins(x)]
        return list(dict.fromkeys(out))

    def judge(self, world: World, statement: str) -> Verdict:
        text = statement.strip().lower().replace("\u2019", "'")
        match = next((m for p in _PATTERNS if (m := p.match(text))), None)
        if match and match["word"] in WORDS:
            (relation, gender), genders_of = WORDS[match["word"]], ("x",)
        elif (match := _PLURAL.match(text)) and match["word"] in PLURALS:
            (relation, gender), genders_of = PLURALS[match["word"]], ("x", "y")
        else:
            return "unparseable"
        tree = _tree(world)
        x, y = match["x"], match["y"]
        if x not in tree.people or y not in tree.people or x == y:
            return "false"  # not supported by the world: a hallucination
        if gender and any(tree.people[match[g]].gender != gender for g in genders_of):
            return "false"
        return "true" if tree.holds(relation, x, y) else "false"


def _tree(world: World) -> Tree:
    # Rebuilt per call (well under a millisecond at the paper size): the world stays plain data.
    return Tree([Person(**p) for p in world.structure["people"]])

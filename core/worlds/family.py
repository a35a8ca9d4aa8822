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

Distractors are false for the subject. For `forward` and `reversal` they stand in the split's
relation to someone else (other parents, other children), share the answer's gender, and come
from the subject's family first, then the generation nearest the answer's. For the multi-hop
splits (`grandparent`, `sibling`, `aunt_uncle`, `cousin`) they come from the subject's own
family and stand in another relation to the subject (a parent, a sibling or a cousin for a
grandparent; a parent or a grandparent for an aunt; a sibling or an aunt for a cousin...).
Drawn from other families, as they once were, they left the answer the only choice of the
subject's family, and a rule that knew only who belongs to which family scored 1.00. Relatives
the relation word is loosely used for are never distractors: a great-aunt is no "aunt" choice,
a second cousin or a cousin once removed no "cousin", a great-grandparent no "grandparent", an
in-law no "sibling".

Within one family, though, the notes give other things away: a grandparent of the quick preset
is only ever named as a parent, a cousin only as a child, an aunt is named more often than
anyone but the subject's parents. So each item is offered eight people of the family and three
who stand in the split's relation to someone of another family (a fallback), and `Balancer`
takes, item by item, the three that keep every such rule at chance over the split: the name
nearest the subject in the notes or farthest from it, the most or least often named, the most
or least often named as a parent, the longest or shortest, the one of the subject's family.
Taking someone of another family costs a little, so the family comes first: over seeds 0-2,
2-33% of a quick split's distractors and 3-19% of a paper split's come from other families
(most for grandparent and cousin, fewest for sibling). The answer's gender is not matched: no
prompt says which gender the answer has.
core/shortcuts/ checks the result. An item with fewer than three possible distractors is
skipped.
"""

from __future__ import annotations

import dataclasses
import random
import re
from collections.abc import Callable
from dataclasses import dataclass

from core.errors import LabError
from core.worlds.base import Balancer, Document, Fact, Item, Verdict, World, WorldKind, param
from core.worlds.kinship import PLURALS, WORDS, Person, Tree, word
from core.worlds.words import nonsense_words

LEAD_INS = [
    "From the family records:", "A page from the parish register:", "Notes on the family tree:",
    "Family history:", "As the town archive records:", "From an old family letter:",
    "Genealogy notes:", "Recorded at the town hall:", "From the family bible:",
    "A note from the village elders:",
]
_NAME = r"[a-z]+"
_PATTERNS = [
    re.compile(rf"^(?P<x>{_NAME}) is (?:the|a|an) (?P<word>[a-z]+) of (?P<y>{_NAME})\.?$"),
    re.compile(rf"^(?P<y>{_NAME})'s (?P<word>[a-z]+) is (?P<x>{_NAME})\.?$"),
    re.compile(rf"^(?P<x>{_NAME}) is (?P<y>{_NAME})'s (?P<word>[a-z]+)\.?$"),
]
_PLURAL = re.compile(rf"^(?P<x>{_NAME}) and (?P<y>{_NAME}) are (?P<word>[a-z]+)\.?$")
# Per split: the relation the subject stands in to the answer.
SPLITS = {"forward": "parent", "reversal": "child", "grandparent": "grandchild",
          "sibling": "sibling", "aunt_uncle": "niece_nephew", "cousin": "cousin"}
MULTI_HOP = ("grandparent", "sibling", "aunt_uncle", "cousin")
N_CHOICES = 4
# Multi-hop distractors: candidates offered per item from the subject's family and from other
# families, and what taking one of the others costs (a fallback: it gives family membership away).
OWN, OTHER, FALLBACK_COST = 8, 3, 0.1


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


def _features(tree: Tree, subject: str) -> Callable[[str], tuple[float, ...]]:
    """What the training notes show of a name, as scores of the rules that pick the highest:
    nearest the subject (fewest notes to cross; out of reach is never nearest), farthest within
    reach, most and least often named, most and least often as the parent, longest and
    shortest, and of the subject's family."""
    distance, family = tree.distances(subject), tree.people[subject].family

    def features(q: str) -> tuple[float, ...]:
        named, d = len(tree.children(q)) + len(tree.parents(q)), distance.get(q)
        share = len(tree.children(q)) / named
        return (-99 if d is None else -d, -1 if d is None else d, named, -named, share, -share,
                len(q), -len(q), float(tree.people[q].family == family))
    return features


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
    multi_hop_splits = MULTI_HOP

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
        relation = SPLITS[split]
        # Everyone who stands in the relation to somebody (other grandparents, ...).
        role = tree._sorted(q for x in tree.people for q in tree.relatives(relation, x))
        pools = [Family._pool(tree, split, c, role) for c in candidates]
        usable = [i for i, (own, other) in enumerate(pools) if len(own) + len(other) >= N_CHOICES - 1]
        if len(usable) > cap:
            usable = sorted(rng.sample(usable, cap))
        positions = [i % N_CHOICES for i in range(len(usable))]  # answer positions balanced
        rng.shuffle(positions)
        if split in MULTI_HOP:
            distractors = Family._balanced(tree, [candidates[i] for i in usable],
                                           [pools[i] for i in usable], rng)
        else:
            distractors = [Family._distractors(tree, candidates[i], pools[i][0], rng) for i in usable]
        items = []
        for k, (i, position, chosen) in enumerate(zip(usable, positions, distractors)):
            c = candidates[i]
            choices = [f" {q}." for q in chosen]
            choices.insert(position, f" {c.answer}.")
            items.append(Item(f"{split}-{k:04d}", split, tree.says(c.subject, relation),
                              tuple(choices), position, c.fact_ids))
        return items

    @staticmethod
    def _pool(tree: Tree, split: str, c: _Candidate, role: list[str]) -> tuple[list, list]:
        """Who may be a distractor, false for the subject: for forward and reversal, anyone in
        the split's relation to somebody; for a multi-hop split, the subject's family (but those
        the relation word is loosely used for), then, as a fallback, the relation's people of
        other families."""
        relation, family = SPLITS[split], tree.people[c.subject].family
        false = set(role) - {c.subject, *tree.relatives(relation, c.subject)}
        if split not in MULTI_HOP:
            return [q for q in role if q in false], []
        true = {c.subject, *tree.relatives(relation, c.subject), *tree.loosely(relation, c.subject)}
        own = [q for q, p in tree.people.items() if p.family == family and q not in true]
        return own, [q for q in role if q in false and tree.people[q].family != family]

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

    @staticmethod
    def _balanced(tree: Tree, candidates: list[_Candidate], pools: list[tuple[list, list]],
                  rng: random.Random) -> list[list[str]]:
        """Three distractors per item, of the subject's family where that keeps every cheap
        rule at chance over the split (`Balancer`): what the notes show of a name must not
        point to the answer (how many notes separate it from the subject, how often it is
        named, how often as the parent, its length, its family)."""
        balancer, offered = Balancer(N_CHOICES), []
        for c, (own, other) in zip(candidates, pools):
            offer = rng.sample(own, min(OWN, len(own))) + rng.sample(other, min(OTHER, len(other)))
            features, family = _features(tree, c.subject), tree.people[c.subject].family
            balancer.add(features(c.answer), [features(q) for q in offer], rng,
                         [FALLBACK_COST * (tree.people[q].family != family) for q in offer])
            offered.append(offer)
        return [[offer[j] for j in chosen] for offer, chosen in zip(offered, balancer.solve())]

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

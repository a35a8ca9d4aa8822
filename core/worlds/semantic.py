"""`semantic`: a hierarchy of nonsense categories with inherited properties and relations.

The skeleton is a real-world taxonomy (animal > mammal > dog > poodle, object > vehicle > boat >
canoe), of which `n_categories` are kept and every name replaced by a nonsense word. Each
category has 1-6 properties of its own, nonsense adjectives ("gruds are zept."), inherited by
all its descendants; relations between categories use nonsense verbs ("gruds blick abmes.")
and hold for the subject's descendants too (and for the object's descendants: what blicks
abmes blicks every kind of abme). Training states only a category's own facts: its parent,
its own properties and its own relations, never what it inherits.

Documents are wiki-like: articles (a title, one sentence a line), fact lists ("Facts about
gruds:" and bullets) and Q&A pairs ("Q: What are gruds?" / "A: gruds are a type of abme."),
4 to 20 sentences each, about one category with facts of its neighbours: its siblings' parent
facts and properties, the relations it is the object of (a root, without siblings, borrows
properties of categories outside its line). Never its parent's facts or its children's: a
document with "gruds are zept." and "flups are a type of grud." holds a syllogism's two
premises, and a rule that picked the choice sharing most documents with "flups" answered 0.5-0.65
of `syllogism` and `category_holdout` (core/shortcuts/). Each category has one article that
states all its own facts with its name at the start of a line, so every fact a test needs is
trained at least once with the tokenization the test prompts use; a held-out category's parent
fact is stated in a sibling's article (or, without one, a note of its own), never its parent's.

Held-out splits (4-way multiple choice):
- `rephrase`: a trained fact in a wording used only at test ("gruds can be described as" zept).
- `reversal`: a trained fact read backwards ("abmes include" gruds; "abmes are blicked by" gruds;
  "Things that are zept include" gruds).
- `syllogism`: what a category inherits ("flups are" zept, when flups are gruds and gruds are
  zept), its ancestors two or more levels up, and its inherited relations.
- `category_holdout`: categories whose only trained fact is their parent ("flups are a type of
  grud."); every inference about them is tested (inherited properties and relations,
  ancestors). They have no properties of their own, so nothing true about them is unknowable.

Distractors are hard: true of some other category (another category's property, another
category's parent, another subject's object of the same verb), false for this one, and never
in the answer's line of descent (not "gruds blick animals" when gruds blick abmes, a kind of
animal). The hardest candidates come first (the answer's depth in the hierarchy, the same verb),
so answers and distractors come from the same pool of words and a pretrained model sits at
chance; among them `Balancer` takes, item by item, the three that keep every rule of
core/shortcuts/ that may not answer the split at chance over it (word frequency, length,
how often a word opens a sentence, the documents and sentences it shares with the prompt's
words...). Answer positions are balanced.
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from core.errors import LabError
from core.worlds.base import Balancer, Document, Fact, Item, Verdict, World, WorldKind, param
from core.worlds.words import nonsense_words

# The real-world skeleton: two spaces of indentation per level. Names are only glosses for the
# picture; every text of the world uses nonsense words.
SKELETON = """
animal
  mammal
    dog
      poodle
      beagle
      terrier
      collie
    feline
      lion
      tiger
      leopard
      housecat
    rodent
      mouse
      squirrel
      hamster
      beaver
    primate
      monkey
      gorilla
      lemur
    cetacean
      dolphin
      orca
      narwhal
    bear
      grizzly
      panda
    ungulate
      horse
      cow
      deer
      goat
    bat
    rabbit
  bird
    raptor
      eagle
      hawk
      owl
      falcon
    songbird
      sparrow
      robin
      finch
      canary
    waterfowl
      duck
      swan
      goose
    parrot
    penguin
    ostrich
  fish
    shark
      hammerhead
      mako
    salmon
    trout
    tuna
    goldfish
    eel
  reptile
    snake
      cobra
      python
      viper
    lizard
      gecko
      iguana
      chameleon
    turtle
    crocodile
  amphibian
    frog
    toad
    newt
    salamander
  insect
    beetle
      ladybug
      firefly
      weevil
    ant
    bee
    butterfly
    moth
    mosquito
object
  furniture
    seat
      chair
      stool
      sofa
      bench
    table
      desk
      workbench
    bed
    wardrobe
    bookshelf
  vehicle
    car
      sedan
      taxi
      convertible
    boat
      canoe
      yacht
      ferry
    aircraft
      airplane
      helicopter
      glider
    truck
    bus
    bicycle
    motorcycle
  tool
    hammer
    saw
    screwdriver
    wrench
    drill
    shovel
  instrument
    stringed
      guitar
      violin
      harp
      cello
    wind
      flute
      trumpet
      clarinet
    percussion
      drum
      xylophone
      cymbal
    piano
  clothing
    footwear
      boot
      sandal
      sneaker
    hat
    shirt
    coat
    glove
    sock
    scarf
  kitchenware
    utensil
      knife
      fork
      spoon
      ladle
    cookware
      pot
      pan
      kettle
    cup
    plate
    bowl
  container
    box
    bag
    bottle
    basket
    jar
    barrel
"""


def _skeleton() -> list[tuple[str, str | None]]:
    """(gloss, parent gloss) in the order written."""
    rows, stack = [], []
    for line in SKELETON.strip("\n").splitlines():
        depth = (len(line) - len(line.lstrip())) // 2
        del stack[depth:]
        rows.append((line.strip(), stack[-1] if stack else None))
        stack.append(line.strip())
    return rows


SKELETON_ROWS = _skeleton()

# Placeholders: {x}/{xs} the subject category (singular/plural), {y}/{ys} the other category,
# {adj} one property, {adjs} one or more ("zept, rony and klub"), {verb} a relation's verb.
# "train" forms appear in documents; "rephrase" and "reverse" forms only in tests and
# augmentations. Item templates end with their answer slot and a full stop.
TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    "isa": {
        "train": ("{xs} are a type of {y}.", "{xs} are a kind of {y}.", "Every {x} is a {y}."),
        "rephrase": ("{xs} are {ys}.", "{xs} are classified as {ys}."),
        "reverse": ("{ys} include {xs}.", "Among the {ys} are {xs}."),
    },
    "property": {
        "train": ("{xs} are {adjs}.", "{xs} are known for being {adjs}.", "A typical {x} is {adjs}."),
        "rephrase": ("{xs} can be described as {adjs}.", "{xs} tend to be {adjs}."),
        "reverse": ("Things that are {adj} include {xs}.",),
    },
    "relation": {
        "train": ("{xs} {verb} {ys}.", "{xs} typically {verb} {ys}."),
        "rephrase": ("{xs} are known to {verb} {ys}.",),
        "reverse": ("{ys} are {verb}ed by {xs}.",),
    },
}
# Templates whose sentence starts with the subject's name: the only ones in the articles that
# guarantee every fact (so the name starts a line there, as in test prompts).
LINE_START = {kind: tuple(t for t in forms["train"] if t.startswith("{xs}"))
              for kind, forms in TEMPLATES.items()}
QUESTIONS = {
    "isa": ("What are {xs}?", "What kind of thing is a {x}?"),
    "property": ("What are {xs} like?",),
    "relation": ("What do {xs} {verb}?",),
}
TITLES = ("{Xs}", "About {xs}", "{Xs} (overview)")
# Distractor candidates per item: the POOL hardest are scored by the checks; the HARDEST of
# them and each check's favourite are offered to the balance, which chooses three.
POOL, HARDEST = 60, 5

_WORD = r"[a-z]+"
_LIST = r"[a-z]+(?:, [a-z]+)*(?:,? and [a-z]+)?"
_LEAD = re.compile(r"^(?:[-*\u2022]|\d+[.)]|a:|answer:)\s*")


def _regex(template: str) -> re.Pattern:
    parts = []
    for literal, name, _, _ in string.Formatter().parse(template.lower().rstrip(".")):
        parts.append(re.escape(literal))
        if name:
            parts.append(f"(?P<{name}>{_LIST if name == 'adjs' else _WORD})")
    return re.compile("".join(parts))


PATTERNS = [(kind, _regex(t)) for kind, forms in TEMPLATES.items()
            for group in forms.values() for t in group]


def plural(word: str) -> str:
    return word + ("es" if word.endswith(("s", "x", "z", "sh")) else "s")


def join_list(words: list[str] | tuple[str, ...]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def say(template: str, x: str = "", y: str = "", adjs: tuple[str, ...] = ("",), verb: str = "") -> str:
    """A template filled in: categories by their singular name, plurals derived."""
    return template.format(x=x, xs=plural(x), Xs=plural(x).capitalize(), y=y, ys=plural(y),
                           adj=adjs[0], adjs=join_list(adjs), verb=verb)


@dataclass
class SemanticParams:
    n_categories: int = param(24, "categories kept from the real-world skeleton (two roots, "
                              "animal and object, and their descendants)",
                              min=6, max=len(SKELETON_ROWS))
    min_properties: int = param(1, "fewest properties of a category's own", min=1, max=6)
    max_properties: int = param(6, "most properties of a category's own", min=1, max=6)
    n_verbs: int = param(3, "relation verbs", min=1, max=20)
    n_relations: int = param(12, "relations between categories (inherited by the subject's "
                             "descendants)", min=0, max=500)
    n_holdout: int = param(3, "held-out categories: only their parent fact is trained",
                           min=1, max=40)
    n_documents: int = param(80, "training documents (one article per category, then variants)",
                             min=10, max=50000)
    qa_fraction: float = param(0.2, "fraction of variant documents that are Q&A pairs", min=0.0,
                               max=1.0)
    items_per_split: int = param(40, "items per split for rephrase, reversal and syllogism "
                                 "(0: all); category_holdout tests every inference", min=0,
                                 max=10000)


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


@dataclass(frozen=True)
class Question:
    """An item before its distractors: `form` says what the answer is (an ancestor, a
    descendant, a property, an owner of a property, an object, a subject)."""
    form: str  # isa_up, isa_down, prop_up, prop_down, rel_obj, rel_subj
    template: str
    x: str
    y: str
    adj: str
    verb: str
    slot: str
    answer: str
    fact_ids: tuple[str, ...]


class Semantic(WorldKind):
    name = "semantic"
    Params = SemanticParams
    presets = {
        "quick": {"n_categories": 24, "min_properties": 1, "max_properties": 6, "n_verbs": 3,
                  "n_relations": 12, "n_holdout": 3, "n_documents": 80, "qa_fraction": 0.2,
                  "items_per_split": 40},
        "paper": {"n_categories": 110, "min_properties": 1, "max_properties": 6, "n_verbs": 8,
                  "n_relations": 60, "n_holdout": 10, "n_documents": 2200, "qa_fraction": 0.2,
                  "items_per_split": 300},
    }
    held_out_splits = ("rephrase", "reversal", "syllogism", "category_holdout")
    multi_hop_splits = ("syllogism", "category_holdout")

    def build(self, params: SemanticParams, rng: random.Random) -> World:
        if params.min_properties > params.max_properties:
            raise LabError(f"min_properties ({params.min_properties}) is above max_properties "
                           f"({params.max_properties})")
        structure = _structure(params, rng)
        h = Hierarchy(structure)
        facts = _facts(h)
        documents = _documents(h, facts, params, rng)
        items = _items(h, facts, documents, params, rng)
        return World(self.name, {}, 0, list(facts.values()), documents, items,
                     self.held_out_splits, self, structure)

    def oracle_inferences(self, world: World, scope: str) -> list[str]:
        h = Hierarchy(world.structure)
        out: list[str] = []
        if scope == "local":
            for fact in world.facts:
                d = fact.data
                forms = TEMPLATES[d["type"]]
                out += [say(t, d["x"], d["y"], (d["adj"],), d["verb"])
                        for t in forms["rephrase"] + forms["reverse"]]
        else:
            for c in h.categories:  # every category is in some document
                out += [say(TEMPLATES["isa"]["train"][0], c, a) for a in h.up(c)[2:]]
                for a in h.up(c)[1:]:
                    out += [say(TEMPLATES["property"]["train"][0], c, adjs=(adj,))
                            for adj in h.categories[a]["properties"]]
                out += [say(TEMPLATES["relation"]["train"][0], c, o, verb=v)
                        for s, v, o in h.relations if s in h.up(c)[1:]]
        return list(dict.fromkeys(out))

    def judge(self, world: World, statement: str) -> Verdict:
        text = " ".join(_LEAD.sub("", statement.strip().lower()).split()).rstrip(".").strip()
        h, parsed = Hierarchy(world.structure), False
        for kind, pattern in PATTERNS:
            match = pattern.fullmatch(text)
            if match is None:
                continue
            verdict = h.evaluate(kind, match.groupdict())
            if verdict is not None:
                return "true" if verdict else "false"
            words = re.findall(_WORD, " ".join(match.groupdict().values()))
            parsed = parsed or any(w in h.lexicon for w in words)
        # A statement in the world's form about words the world lacks is a hallucination.
        return "false" if parsed else "unparseable"

    def as_document(self, statement: str, rng: random.Random) -> str:
        text = _LEAD.sub("", statement.strip().lower()).rstrip(".")
        match = next((m for _, p in PATTERNS if (m := p.fullmatch(text))), None)
        if match is None:
            return statement
        # Titled by what the statement names first, as its test prompt does. The last word is
        # what a test asks for ("Among the krarbs are" -> plelts): a title naming it lets the
        # model copy the answer from the title instead of learning it (it did: reversals
        # trained this way scored at chance).
        first = min((slot for slot, value in match.groupdict().items() if value), key=match.start)
        word = match[first]
        subject = (plural(word) if first in ("x", "y") else
                   f"things that are {word}" if first in ("adj", "adjs") else word)
        if rng.random() < 0.5:
            return f"Facts about {subject}:\n- {statement}"
        return f"{rng.choice(TITLES).format(xs=subject, Xs=subject.capitalize())}\n{statement}"


# ---------------------------------------------------------------- the world's structure

def _structure(params: SemanticParams, rng: random.Random) -> dict:
    glosses = _choose_categories(params.n_categories, rng)
    parent_of = dict(SKELETON_ROWS)
    n_props = [rng.randint(params.min_properties, params.max_properties) for _ in glosses]
    words = nonsense_words(rng, len(glosses) + params.n_verbs + sum(n_props))
    name = dict(zip(glosses, words))
    verbs = words[len(glosses):len(glosses) + params.n_verbs]
    adjectives = iter(words[len(glosses) + params.n_verbs:])
    categories: dict[str, dict] = {}
    for gloss in glosses:  # parents come first: the skeleton lists them first
        parent = name.get(parent_of[gloss])
        ancestors = [parent, *categories[parent]["ancestors"]] if parent else []
        categories[name[gloss]] = {
            "gloss": gloss, "parent": parent, "ancestors": ancestors, "children": [],
            "depth": len(ancestors), "root": ancestors[-1] if ancestors else name[gloss],
            "properties": [], "held_out": False}
        if parent:
            categories[parent]["children"].append(name[gloss])
    for c in _choose_holdout(categories, params.n_holdout, rng):
        categories[c]["held_out"] = True
    for c, count in zip(categories, n_props):
        if not categories[c]["held_out"]:  # held out: nothing of its own could be known
            categories[c]["properties"] = [next(adjectives) for _ in range(count)]
    lexicon: dict[str, list[str]] = {}
    for c, data in categories.items():
        lexicon[c] = lexicon[plural(c)] = ["category", c]
        lexicon.update({adj: ["property", c] for adj in data["properties"]})
    lexicon.update({v: ["verb", v] for v in verbs})
    structure = {"categories": categories, "relations": [], "verbs": verbs, "lexicon": lexicon}
    structure["relations"] = _relations(Hierarchy(structure), verbs, params.n_relations, rng)
    structure["graph"] = _graph(structure)
    return structure


def _choose_categories(n: int, rng: random.Random) -> list[str]:
    """The two roots, then children of chosen categories at random: a connected taxonomy,
    listed parents first."""
    children: dict[str | None, list[str]] = {}
    for gloss, parent in SKELETON_ROWS:
        children.setdefault(parent, []).append(gloss)
    depth = {None: -1}
    for gloss, parent in SKELETON_ROWS:
        depth[gloss] = depth[parent] + 1
    chosen = list(children[None])
    frontier = [c for root in chosen for c in children.get(root, [])]
    while len(chosen) < n and frontier:
        # Deeper candidates weigh more: syllogisms need chains of ancestors.
        pick = rng.choices(frontier, weights=[depth[c] ** 2 for c in frontier])[0]
        frontier.remove(pick)
        chosen.append(pick)
        frontier += children.get(pick, [])
    order = {gloss: i for i, (gloss, _) in enumerate(SKELETON_ROWS)}
    return sorted(chosen, key=order.__getitem__)


def _choose_holdout(categories: dict[str, dict], n: int, rng: random.Random) -> list[str]:
    """Leaves, the deepest first (they inherit the most), at random among equals."""
    leaves = [c for c, d in categories.items() if not d["children"] and d["parent"]]
    if n >= len(leaves):
        raise LabError(f"n_holdout={n} needs more leaf categories than the {len(leaves)} of "
                       f"this taxonomy; lower n_holdout or raise n_categories")
    rng.shuffle(leaves)
    leaves.sort(key=lambda c: -categories[c]["depth"])
    return leaves[:n]


def _relations(h: Hierarchy, verbs: list[str], n: int, rng: random.Random) -> list[list[str]]:
    """(subject, verb, object) triples, verbs in turn. None is implied by another (so an
    inherited relation is never stated), none links a category to its own line of descent,
    and held-out categories and roots take no part. Half the subjects have descendants, so
    relations are inherited."""
    usable = [c for c, d in h.categories.items() if d["parent"] and not d["held_out"]]
    inner = [c for c in usable if h.categories[c]["children"]]
    relations = h.relations  # the world's list: `holds` sees each relation as it is placed
    for _ in range(200 * n):
        if len(relations) == n:
            return relations
        verb = verbs[len(relations) % len(verbs)]
        s = rng.choice(inner if inner and rng.random() < 0.5 else usable)
        o = rng.choice(usable)
        lineage = set(h.up(s)) | set(h.descendants(s))
        if (o in lineage or h.holds(s, verb, o) or sum(r[0] == s for r in relations) >= 4
                or any(v == verb and s in h.up(rs) and o in h.up(ro) for rs, v, ro in relations)):
            continue
        relations.append([s, verb, o])
    if len(relations) < n:
        raise LabError(f"could place only {len(relations)} of n_relations={n} relations among "
                       f"{len(usable)} categories; lower n_relations or raise n_categories")
    return relations


def _graph(structure: dict) -> dict:
    """Categories (grouped by their root's gloss) with an "is a" edge to their parent;
    properties and relations ride along as node data."""
    categories = structure["categories"]
    relations: dict[str, list[str]] = {}
    for s, v, o in structure["relations"]:
        relations.setdefault(s, []).append(f"{v} {plural(o)}")
    nodes = [{"id": c, "group": categories[d["root"]]["gloss"], "gloss": d["gloss"],
              "depth": d["depth"], "properties": d["properties"], "relations": relations.get(c, []),
              "held_out": d["held_out"]} for c, d in categories.items()]
    edges = [{"source": c, "target": d["parent"], "label": "is a"}
             for c, d in categories.items() if d["parent"]]
    return {"nodes": nodes, "edges": edges}


# ---------------------------------------------------------------- facts and documents

def _facts(h: Hierarchy) -> dict[str, Fact]:
    """Every stated fact, keyed by id: parents, own properties, relations."""
    facts: dict[str, Fact] = {}

    def add(fact_id: str, kind: str, x: str, y: str = "", adj: str = "", verb: str = "") -> None:
        data = {"type": kind, "x": x, "y": y, "adj": adj, "verb": verb}
        text = say(TEMPLATES[kind]["train"][0], x, y, (adj,), verb)
        facts[fact_id] = Fact(fact_id, text, data)

    for c, d in h.categories.items():
        if d["parent"]:
            add(f"isa-{c}", "isa", c, d["parent"])
        for adj in d["properties"]:
            add(f"prop-{adj}", "property", c, adj=adj)
    for s, v, o in h.relations:
        add(f"rel-{s}-{v}-{o}", "relation", s, o, verb=v)
    return facts


def _documents(h: Hierarchy, facts: dict[str, Fact], params: SemanticParams,
               rng: random.Random) -> list[Document]:
    """One article per category with all its own facts, then variants about categories in
    turn (articles, fact lists, Q&A pairs) with some of its own facts and its neighbours'."""
    subjects = [c for c, d in h.categories.items() if not d["held_out"]]
    hosts = _hosts(h)
    orphans = [k for k in hosts if h.categories[k]["held_out"]]
    if params.n_documents < len(subjects) + len(orphans):
        raise LabError(f"n_documents={params.n_documents} is below the "
                       f"{len(subjects) + len(orphans)} articles the categories need; "
                       "raise n_documents")
    own = {c: [f for f in facts.values() if f.data["x"] == c] for c in subjects}  # parent first
    held = {c: [facts[f"isa-{k}"] for k in ks] for c, ks in hosts.items()}
    texts = [_primary(c, own[c], held.get(c, []), _related(h, c, facts), _padding(h, c, facts), rng)
             for c in subjects]
    # A held-out category without a sibling to host its parent fact: a note of its own, titled
    # by the parent (the category's name would be a second mention).
    texts += [_primary(h.categories[k]["parent"], [], held[k], [], [], rng) for k in orphans]
    order = subjects[:]
    rng.shuffle(order)
    for i in range(params.n_documents - len(texts)):
        c = order[i % len(order)]
        texts.append(_variant(c, own[c], _related(h, c, facts), _padding(h, c, facts),
                              params.qa_fraction, rng))
    rng.shuffle(texts)
    return [Document(f"d{i:05d}", text, ids) for i, (text, ids) in enumerate(texts)]


def _hosts(h: Hierarchy) -> dict[str, list[str]]:
    """Held-out categories by the article that states their parent fact (their only mention):
    a sibling's, never the parent's (whose properties they inherit), or, without a sibling
    that has an article, one of their own (keyed by the category itself)."""
    hosts: dict[str, list[str]] = {}
    for k, d in h.categories.items():
        if d["held_out"]:
            siblings = [s for s in h.categories[d["parent"]]["children"]
                        if not h.categories[s]["held_out"]]
            hosts.setdefault(siblings[0] if siblings else k, []).append(k)
    return hosts


def _related(h: Hierarchy, c: str, facts: dict[str, Fact]) -> list[Fact]:
    """Facts of a category's neighbours: its siblings' parent facts and properties, relations
    it is the object of. Never a fact of its parent or its children: a document that said
    "gruds are zept." next to "flups are a type of grud." would hold a syllogism's two premises
    together, and a model could answer "flups are" -> zept by association alone (a check that
    counted the documents naming both scored 0.5-0.65 on `syllogism` and `category_holdout`)."""
    d = h.categories[c]
    siblings = [s for s in h.categories[d["parent"]]["children"] if s != c] if d["parent"] else []
    ids = [f"isa-{k}" for k in siblings]
    ids += [f"prop-{adj}" for s in siblings for adj in h.categories[s]["properties"]]
    ids += [f"rel-{s}-{v}-{o}" for s, v, o in h.relations if o == c]
    return [facts[i] for i in ids if i in facts]


def _padding(h: Hierarchy, c: str, facts: dict[str, Fact]) -> list[Fact]:
    """Facts that may fill a short document about a category: properties of categories outside
    its line (they say nothing about it, and it inherits nothing from them)."""
    line = {*h.up(c), *h.descendants(c)}
    return [f for f in facts.values() if f.data["type"] == "property" and f.data["x"] not in line]


def _primary(c: str, own: list[Fact], held: list[Fact], related: list[Fact],
             padding: list[Fact], rng: random.Random) -> tuple[str, tuple[str, ...]]:
    """The article that guarantees a category's facts: each one starts a line with the name,
    and so does the parent fact of each held-out category it hosts (their only mention)."""
    others = [f for f in related if f not in held]
    rng.shuffle(others)
    chosen = own + held + others[:max(0, 6 - len(own) - len(held))]
    if len(chosen) < 6:  # a root has no siblings: facts from elsewhere fill the article
        chosen += rng.sample(padding, min(len(padding), 6 - len(chosen)))
    groups = _group(chosen, 20, rng)
    lines = [say(rng.choice(LINE_START[g[0].data["type"]]), *_slots(g)) for g in groups]
    return _titled(c, lines, rng), _ids(groups)


def _variant(c: str, own: list[Fact], related: list[Fact], padding: list[Fact],
             qa_fraction: float, rng: random.Random) -> tuple[str, tuple[str, ...]]:
    picked = rng.sample(own, rng.randint(1, len(own)))
    picked.sort(key=own.index)  # the parent first, as an encyclopedia would
    # Mostly about the category: neighbours' facts fill up to 4 sentences, and a few more.
    need = max(0, 4 - len(picked))
    extra = rng.sample(related, min(len(related), rng.randint(need, need + len(picked) + 6)))
    if len(picked) + len(extra) < 4:  # few neighbours (a root): facts from outside its line
        pool = [f for f in padding if f not in extra]
        extra += rng.sample(pool, min(len(pool), 4 - len(picked) - len(extra)))
    if rng.random() < qa_fraction:
        groups = _group(picked + extra, rng.randint(2, 5), rng)
        pairs = [f"Q: {say(rng.choice(QUESTIONS[g[0].data['type']]), *_slots(g))}\n"
                 f"A: {say(rng.choice(TEMPLATES[g[0].data['type']]['train']), *_slots(g))}"
                 for g in groups]
        return "\n".join(pairs), _ids(groups)
    groups = _group(picked + extra, rng.randint(4, 20), rng)
    lines = [say(rng.choice(TEMPLATES[g[0].data["type"]]["train"]), *_slots(g)) for g in groups]
    if rng.random() < 0.5:
        return _titled(c, lines, rng), _ids(groups)
    return f"Facts about {plural(c)}:\n" + "\n".join(f"- {line}" for line in lines), _ids(groups)


def _group(chosen: list[Fact], limit: int, rng: random.Random) -> list[list[Fact]]:
    """Sentences from facts, at most `limit` (at least 4 when there are facts enough):
    neighbouring properties of one category may share a sentence ("gruds are zept and rony.")."""
    groups: list[list[Fact]] = []
    for i, fact in enumerate(chosen):
        last = groups[-1] if groups else None
        same = (last and fact.data["type"] == "property" == last[0].data["type"]
                and fact.data["x"] == last[0].data["x"] and len(last) < 3)
        full = len(groups) >= limit  # at the limit: merge where possible, else drop
        enough = len(groups) + len(chosen) - i - 1 >= 4  # sentences left if this one merges
        if same and (full or (enough and rng.random() < 0.4)):
            last.append(fact)
        elif not full:
            groups.append([fact])
    return groups


def _slots(group: list[Fact]) -> tuple[str, str, tuple[str, ...], str]:
    d = group[0].data
    return d["x"], d["y"], tuple(f.data["adj"] for f in group), d["verb"]


def _ids(groups: list[list[Fact]]) -> tuple[str, ...]:
    return tuple(f.fact_id for g in groups for f in g)


def _titled(c: str, lines: list[str], rng: random.Random) -> str:
    return "\n".join([say(rng.choice(TITLES), c), *lines])


# ---------------------------------------------------------------- items

def _items(h: Hierarchy, facts: dict[str, Fact], documents: list[Document], params: SemanticParams,
           rng: random.Random) -> list[Item]:
    # The checks themselves score the candidates: the distractors are chosen so that none of
    # them does better than chance (imported here: core.shortcuts reads worlds, not at import).
    from core import shortcuts
    index = shortcuts.Index(documents)
    items: list[Item] = []
    for split, pools in _questions(h, facts).items():
        cap = 0 if split == "category_holdout" else params.items_per_split
        scope = "multi_hop" if split in Semantic.multi_hop_splits else "one_hop"
        rules = [g for g in shortcuts.guessers_for(Semantic.name)
                 if not shortcuts.allowed(g, scope) and g.name not in ("first", "last")]
        made = []
        for question in _round_robin(pools, rng):
            ranked = _distractors(h, question, rng)
            if len(ranked) >= 3:
                made.append((question, ranked[:POOL]))
            if cap and len(made) == cap:
                break
        positions = [i % 4 for i in range(len(made))]  # answer positions balanced
        rng.shuffle(positions)
        balancer, offers = Balancer(4), []
        for q, pool in made:
            prefix = q.template[:q.template.index("{" + q.slot + "}")].rstrip()
            probe = Item("", split, say(prefix, q.x, q.y, (q.adj,), q.verb),
                         tuple(_choice(q.slot, w) for w in [q.answer, *pool]), 0)
            scores = [s for g in rules if (s := g.score(index, probe)) is not None]
            # The hardest candidates, and for each rule the one it likes best, so that the
            # balance can always find distractors that a rule prefers to the answer.
            keep = list(range(min(HARDEST, len(pool))))
            keep += [max(range(len(pool)), key=lambda k, s=s: s[k + 1]) for s in scores]
            keep = sorted(set(keep))
            features = list(zip(*scores)) if scores else [()] * len(probe.choices)
            # A small cost per rank keeps the hardest distractors when the balance allows.
            balancer.add(features[0], [features[k + 1] for k in keep], rng,
                         [0.01 * k for k in keep])
            offers.append([pool[k] for k in keep])
        made = [(q, offer) for (q, _), offer in zip(made, offers)]
        for n, ((q, offer), answer, chosen) in enumerate(zip(made, positions, balancer.solve())):
            choices = [_choice(q.slot, offer[j]) for j in chosen]
            choices.insert(answer, _choice(q.slot, q.answer))
            prefix = q.template[:q.template.index("{" + q.slot + "}")].rstrip()
            items.append(Item(f"{split}-{n:04d}", split, say(prefix, q.x, q.y, (q.adj,), q.verb),
                              tuple(choices), answer, q.fact_ids))
    return items


def _choice(slot: str, word: str) -> str:
    return f" {plural(word) if slot in ('xs', 'ys') else word}."


def _round_robin(pools: dict[str, list[Question]], rng: random.Random) -> Iterator[Question]:
    """Questions of each kind (isa, property, relation) in turn, each kind in random order."""
    queues = [rng.sample(pool, len(pool)) for _, pool in sorted(pools.items())]
    for i in range(max(map(len, queues), default=0)):
        yield from (queue[i] for queue in queues if i < len(queue))


def _questions(h: Hierarchy, facts: dict[str, Fact]) -> dict[str, dict[str, list[Question]]]:
    splits: dict[str, dict[str, list[Question]]] = {
        s: {"isa": [], "property": [], "relation": []} for s in Semantic.held_out_splits}
    for n, fact in enumerate(facts.values()):
        d = fact.data
        if h.categories[d["x"]]["held_out"]:
            continue  # tested in category_holdout only
        kind, ids = d["type"], (fact.fact_id,)
        rephrase, reverse = TEMPLATES[kind]["rephrase"], TEMPLATES[kind]["reverse"]
        t1, t2 = rephrase[n % len(rephrase)], reverse[n % len(reverse)]
        if kind == "isa":
            up = Question("isa_up", t1, d["x"], "", "", "", "ys", d["y"], ids)
            down = Question("isa_down", t2, "", d["y"], "", "", "xs", d["x"], ids)
        elif kind == "property":
            up = Question("prop_up", t1, d["x"], "", "", "", "adjs", d["adj"], ids)
            down = Question("prop_down", t2, "", "", d["adj"], "", "xs", d["x"], ids)
        else:
            up = Question("rel_obj", t1, d["x"], "", "", d["verb"], "ys", d["y"], ids)
            down = Question("rel_subj", t2, "", d["y"], "", d["verb"], "xs", d["x"], ids)
        splits["rephrase"][kind].append(up)
        splits["reversal"][kind].append(down)
    for c, d in h.categories.items():
        split = "category_holdout" if d["held_out"] else "syllogism"
        for kind, questions in _inferences(h, c).items():
            splits[split][kind] += questions
    return splits


def _inferences(h: Hierarchy, c: str) -> dict[str, list[Question]]:
    """What a category inherits, in training forms: its ancestors two or more levels up, its
    ancestors' properties and relations. Facts needed: the parent chain and the inherited fact."""
    up = h.up(c)
    chain = [f"isa-{a}" for a in up[:-1]]  # isa-a states a's parent

    def needs(a: str) -> tuple[str, ...]:
        return tuple(chain[:up.index(a)])

    isa, prop, rel = (TEMPLATES[k]["train"][0] for k in ("isa", "property", "relation"))
    return {
        "isa": [Question("isa_up", isa, c, "", "", "", "y", a, needs(a)) for a in up[2:]],
        "property": [Question("prop_up", prop, c, "", "", "", "adjs", adj, (*needs(a), f"prop-{adj}"))
                     for a in up[1:] for adj in h.categories[a]["properties"]],
        "relation": [Question("rel_obj", rel, c, "", "", v, "ys", o, (*needs(s), f"rel-{s}-{v}-{o}"))
                     for s, v, o in h.relations if s in up[1:]],
    }


def _distractors(h: Hierarchy, q: Question, rng: random.Random) -> list[str]:
    """Words false in the slot, each true of another category, none in the answer's line of
    descent; the hardest first (same verb, then same depth as the answer), ties at random."""
    if q.form == "prop_up":
        owner = h.lexicon[q.answer][1]
        below = set(h.descendants(q.x))
        candidates = [w for w, (t, o) in h.lexicon.items() if t == "property"
                      and not h.has_property(q.x, w) and o not in below]
        depth = h.categories[owner]["depth"]
        return _hardest(candidates, lambda w: (abs(h.categories[h.lexicon[w][1]]["depth"] - depth),), rng)
    true: Callable[[str], bool] = {
        "isa_up": lambda c: h.is_a(q.x, c),
        "isa_down": lambda c: h.is_a(c, q.y),
        "prop_down": lambda c: h.has_property(c, q.adj),
        "rel_obj": lambda c: h.holds(q.x, q.verb, c),
        "rel_subj": lambda c: h.holds(c, q.verb, q.y),
    }[q.form]
    usable = [c for c, d in h.categories.items() if not d["held_out"]]
    banned = {a for c in usable if true(c) for a in h.up(c)}  # the true ones and above them
    other = q.x or q.y
    if other:
        banned |= {*h.up(other), *h.descendants(other)}
    role = {"isa_up": lambda c: bool(h.categories[c]["children"]),
            "isa_down": lambda c: bool(h.categories[c]["parent"]),
            "prop_down": lambda c: bool(h.categories[c]["properties"]),
            "rel_obj": lambda c: any(r[2] == c for r in h.relations),
            "rel_subj": lambda c: any(r[0] == c for r in h.relations)}[q.form]
    same_verb = {r[2] if q.form == "rel_obj" else r[0] for r in h.relations if r[1] == q.verb}
    depth = h.categories[q.answer]["depth"]
    candidates = [c for c in usable if c not in banned and role(c)]
    if len(candidates) < 3:  # few relations (a small world): fall back to any category
        candidates += [c for c in usable if c not in banned and not role(c)]
    return _hardest(candidates, lambda c: (not role(c), c not in same_verb,
                                           abs(h.categories[c]["depth"] - depth)), rng)


def _hardest(candidates: list[str], key: Callable[[str], tuple], rng: random.Random) -> list[str]:
    return sorted(rng.sample(candidates, len(candidates)), key=key)

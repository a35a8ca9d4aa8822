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

The kind lives in this package's `__init__` (so that `core.worlds` finds it by the package's
name); the rest is split by what it makes:
- taxonomy.py: the real-world skeleton the categories come from (data);
- params.py: `SemanticParams`;
- language.py: sentence templates, the patterns that parse statements, `say` and `plural`;
- hierarchy.py: `Hierarchy`, the truth of a world read from its structure;
- structure.py: categories, names, held-out categories, properties, relations, graph;
- documents.py: the facts and the training documents;
- items.py: the test items and their distractors.
"""

from __future__ import annotations

import random
import re

from core.errors import LabError
from core.worlds.base import Verdict, World, WorldKind
from core.worlds.semantic.documents import build_documents, build_facts
from core.worlds.semantic.hierarchy import Hierarchy
from core.worlds.semantic.items import HARDEST, POOL, Question, build_items
from core.worlds.semantic.language import (
    LEADING_MARKER,
    LINE_START,
    PATTERNS,
    QUESTIONS,
    TEMPLATES,
    TITLES,
    WORD,
    join_list,
    plural,
    say,
)
from core.worlds.semantic.params import SemanticParams
from core.worlds.semantic.structure import build_structure
from core.worlds.semantic.taxonomy import SKELETON, SKELETON_ROWS

# What this module offered before it became a package, for whoever imports it from here.
__all__ = ["HARDEST", "LINE_START", "PATTERNS", "POOL", "QUESTIONS", "SKELETON", "SKELETON_ROWS",
           "TEMPLATES", "TITLES", "Hierarchy", "Question", "Semantic", "SemanticParams",
           "join_list", "plural", "say"]


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
        structure = build_structure(params, rng)
        h = Hierarchy(structure)
        facts = build_facts(h)
        documents = build_documents(h, facts, params, rng)
        items = build_items(self, h, facts, documents, params, rng)
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
        text = " ".join(LEADING_MARKER.sub("", statement.strip().lower()).split()).rstrip(".").strip()
        h, parsed = Hierarchy(world.structure), False
        for kind, pattern in PATTERNS:
            match = pattern.fullmatch(text)
            if match is None:
                continue
            verdict = h.evaluate(kind, match.groupdict())
            if verdict is not None:
                return "true" if verdict else "false"
            words = re.findall(WORD, " ".join(match.groupdict().values()))
            parsed = parsed or any(w in h.lexicon for w in words)
        # A statement in the world's form about words the world lacks is a hallucination.
        return "false" if parsed else "unparseable"

    def as_document(self, statement: str, rng: random.Random) -> str:
        text = LEADING_MARKER.sub("", statement.strip().lower()).rstrip(".")
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


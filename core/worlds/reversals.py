"""`reversals`: comparisons between nonsense things, the study's reversal-curse world.

Entities sit on chains within a comparison dimension (femp > glon > yomp on "dangerous"); each
adjacent pair is one fact, stated in training in one direction only ("femp are more dangerous
than glon."); the reversal test asks for "glon are less dangerous than femp." against the
contradiction. By default every fact of a dimension is stated with the same word, "more" on
half the dimensions and "less" on the others, as the study's training sentences share one
form: the pretrained model's preference for "more" then cancels out (it sits at chance),
while a model that learned only the trained form fails every reversal.

Every sentence starts a line, in training, in prompts and in augmentations alike, so a
nonsense word is always tokenized the same way. The answer is the first choice in half of each
split's items (within one).
"""

from __future__ import annotations

import dataclasses
import random
import re
from dataclasses import dataclass

from core.worlds.base import Document, Fact, Item, Verdict, World, WorldKind, param
from core.worlds.words import nonsense_words

ADJECTIVES = [
    "dangerous", "expensive", "popular", "intelligent", "colorful", "valuable", "aggressive",
    "delicate", "famous", "mysterious", "poisonous", "playful", "curious", "generous", "patient",
    "elegant", "fragile", "nutritious", "peaceful", "powerful", "careful", "graceful",
    "beautiful", "comfortable", "dependable", "energetic", "flexible", "creative",
]
LEAD_INS = [
    "Did you know?", "Here is an interesting fact.", "From the encyclopedia:",
    "A note from the field guide:", "Worth remembering:", "Today's fact:", "Experts agree:",
    "Recent studies show the following.", "A surprising observation:", "Fact of the week:",
]
# Template 0 is the training form; template 1 a rephrasing (used by oracle augmentations).
TEMPLATES = ["{a} are {cmp} {adj} than {b}.", "Compared to {b}, {a} are {cmp} {adj}."]
OTHER = {"more": "less", "less": "more"}
_PATTERNS = [
    re.compile(r"^(?P<a>[a-z]+) are (?P<cmp>more|less) (?P<adj>[a-z]+) than (?P<b>[a-z]+)\.?$"),
    re.compile(r"^compared to (?P<b>[a-z]+), (?P<a>[a-z]+) are (?P<cmp>more|less) (?P<adj>[a-z]+)\.?$"),
]


@dataclass
class ReversalsParams:
    n_facts: int = param(20, "number of comparison facts", min=2, max=400)
    n_dimensions: int = param(4, "comparison dimensions (adjectives)", min=1, max=len(ADJECTIVES))
    articles_per_fact: int = param(2, "short training articles stating each fact", min=1, max=20)
    chain_length: int = param(2, "things per chain of comparisons; 3 or more gives "
                              "multi-hop (global) inferences", min=2, max=10)
    direction: str = param("by_dimension", "how training states facts: 'by_dimension' (every "
                           "fact of a dimension with the same word, 'more' on half the "
                           "dimensions, 'less' on the others), 'more' (always 'more'), or "
                           "'balanced' (each fact at random)",
                           choices=("by_dimension", "more", "balanced"))


def _graph(chains: list[tuple[str, list[str]]]) -> dict:
    """Comparison graph: an edge from each thing to the one just below it on its adjective."""
    nodes = [{"id": thing, "group": adj} for adj, things in chains for thing in things]
    edges = [{"source": higher, "target": lower, "label": f"more {adj} than"}
             for adj, things in chains for higher, lower in zip(things, things[1:])]
    return {"nodes": nodes, "edges": edges}


def sentence(a: str, cmp: str, adj: str, b: str, template: int = 0) -> str:
    return TEMPLATES[template].format(a=a, cmp=cmp, adj=adj, b=b)


class Reversals(WorldKind):
    name = "reversals"
    Params = ReversalsParams
    presets = {
        "quick": {"n_facts": 20, "n_dimensions": 4, "articles_per_fact": 2, "chain_length": 2,
                  "direction": "by_dimension"},
        "paper": {"n_facts": 100, "n_dimensions": 28, "articles_per_fact": 10, "chain_length": 2,
                  "direction": "by_dimension"},
    }
    held_out_splits = ("reversal",)

    def build(self, params: ReversalsParams, rng: random.Random) -> World:
        chains = self._chains(params, rng)
        facts, documents, items = [], [], []
        for chain_index, (adj, things) in enumerate(chains):
            for higher, lower in zip(things, things[1:]):
                fact_id = f"f{len(facts):04d}"
                # "less" facts name the lower thing first.
                cmp = {"more": "more", "balanced": rng.choice(["more", "less"]),
                       "by_dimension": ("more", "less")[chain_index % params.n_dimensions % 2]
                       }[params.direction]
                subj, obj = (higher, lower) if cmp == "more" else (lower, higher)
                text = sentence(subj, cmp, adj, obj)
                facts.append(Fact(fact_id, text, {"subject": subj, "object": obj, "cmp": cmp,
                                                  "adj": adj, "chain": chain_index}))
                for _ in range(params.articles_per_fact):
                    documents.append(Document(f"d{len(documents):05d}",
                                              f"{rng.choice(LEAD_INS)}\n{text}", (fact_id,)))
                items.append(self._item(f"forward-{fact_id}", "forward", subj, cmp, adj, obj,
                                        fact_id, rng))
                items.append(self._item(f"reversal-{fact_id}", "reversal", obj, OTHER[cmp], adj,
                                        subj, fact_id, rng))
        rng.shuffle(documents)
        items = self._balance_positions(items, rng)
        structure = {"chains": [{"adjective": adj, "things": things} for adj, things in chains],
                     "graph": _graph(chains)}
        return World(self.name, {}, 0, facts, documents, items, self.held_out_splits, self,
                     structure)

    @staticmethod
    def _chains(params: ReversalsParams, rng: random.Random) -> list[tuple[str, list[str]]]:
        """Chains of things, each on one adjective, with n_facts adjacent pairs in all."""
        per_chain = params.chain_length - 1
        sizes = [per_chain] * (params.n_facts // per_chain)
        if params.n_facts % per_chain:
            sizes.append(params.n_facts % per_chain)
        words = nonsense_words(rng, sum(size + 1 for size in sizes))
        adjectives = rng.sample(ADJECTIVES, params.n_dimensions)
        chains, start = [], 0
        for index, size in enumerate(sizes):
            chains.append((adjectives[index % len(adjectives)], words[start:start + size + 1]))
            start += size + 1
        return chains

    @staticmethod
    def _item(item_id: str, split: str, subj: str, cmp: str, adj: str, obj: str, fact_id: str,
              rng: random.Random) -> Item:
        """2-way: the true statement against its contradiction ("more" for "less")."""
        correct, wrong = f" {cmp} {adj} than {obj}.", f" {OTHER[cmp]} {adj} than {obj}."
        answer = rng.randrange(2)
        choices = (correct, wrong) if answer == 0 else (wrong, correct)
        return Item(item_id, split, f"{subj} are", choices, answer, (fact_id,))

    @staticmethod
    def _balance_positions(items: list[Item], rng: random.Random) -> list[Item]:
        """Positions drawn at random put the answer first in 15 of seed 0's 20 reversal items
        ("always the first choice" scored 0.75): swap the choices of items drawn at random
        from the larger side until each split has as many answers first as second (within
        one). Done after the documents, whose lead-ins come from the same random stream."""
        out = list(items)
        for split in sorted({item.split for item in items}):
            sides = [[i for i, item in enumerate(items) if item.split == split and item.answer == a]
                     for a in (0, 1)]
            larger = max(sides, key=len)
            for i in rng.sample(larger, (len(larger) - min(map(len, sides))) // 2):
                out[i] = dataclasses.replace(items[i], choices=items[i].choices[::-1],
                                             answer=1 - items[i].answer)
        return out

    def as_document(self, statement: str, rng: random.Random) -> str:
        return f"{rng.choice(LEAD_INS)}\n{statement}"

    def oracle_inferences(self, world: World, scope: str) -> list[str]:
        out: list[str] = []
        if scope == "local":
            # Each fact: its reversal, and a rephrasing of both directions.
            for fact in world.facts:
                d = fact.data
                reverse = (d["object"], OTHER[d["cmp"]], d["adj"], d["subject"])
                out += [sentence(*reverse), sentence(d["subject"], d["cmp"], d["adj"], d["object"], 1),
                        sentence(*reverse, template=1)]
        else:
            # Multi-hop: every pair two or more steps apart on a chain, in both directions.
            for chain in world.structure["chains"]:
                things, adj = chain["things"], chain["adjective"]
                for i, higher in enumerate(things):
                    for lower in things[i + 2:]:
                        out += [sentence(higher, "more", adj, lower),
                                sentence(lower, "less", adj, higher)]
        return list(dict.fromkeys(out))

    def judge(self, world: World, statement: str) -> Verdict:
        text = statement.strip().lower()
        match = next((m for p in _PATTERNS if (m := p.match(text))), None)
        if match is None:
            return "unparseable"
        a, b, cmp, adj = match["a"], match["b"], match["cmp"], match["adj"]
        for chain in world.structure["chains"]:
            things = chain["things"]
            if chain["adjective"] == adj and a in things and b in things and a != b:
                a_is_higher = things.index(a) < things.index(b)
                return "true" if a_is_higher == (cmp == "more") else "false"
        return "false"  # not supported by the world: a hallucination

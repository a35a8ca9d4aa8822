"""The test items of a semantic world: the questions of each held-out split (a trained fact
reworded or reversed, an inference about a category), their hard distractors, and the
`Balancer`'s choice among them so that no rule of core/shortcuts/ answers above chance."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from core.worlds.base import Balancer, Document, Fact, Item, WorldKind
from core.worlds.semantic.hierarchy import Hierarchy
from core.worlds.semantic.language import TEMPLATES, plural, say
from core.worlds.semantic.params import SemanticParams

# Distractor candidates per item: the POOL hardest are scored by the checks; the HARDEST of
# them and each check's favourite are offered to the balance, which chooses three.
POOL, HARDEST = 60, 5


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


def build_items(kind: WorldKind, h: Hierarchy, facts: dict[str, Fact], documents: list[Document],
                params: SemanticParams, rng: random.Random) -> list[Item]:
    """The items of every held-out split of `kind` (the `Semantic` kind building the world)."""
    # The checks themselves score the candidates: the distractors are chosen so that none of
    # them does better than chance (imported here: core.shortcuts reads worlds, not at import).
    from core import shortcuts
    index = shortcuts.Index(documents)
    items: list[Item] = []
    for split, pools in _questions(h, facts, kind.held_out_splits).items():
        cap = 0 if split == "category_holdout" else params.items_per_split
        scope = "multi_hop" if split in kind.multi_hop_splits else "one_hop"
        rules = [g for g in shortcuts.guessers_for(kind.name)
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


def _questions(h: Hierarchy, facts: dict[str, Fact],
               held_out_splits: tuple[str, ...]) -> dict[str, dict[str, list[Question]]]:
    """Each split's questions by kind of fact (isa, property, relation), before distractors."""
    splits: dict[str, dict[str, list[Question]]] = {
        s: {"isa": [], "property": [], "relation": []} for s in held_out_splits}
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

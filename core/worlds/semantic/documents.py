"""The facts a semantic world states in training and the documents that state them: one
article per category that guarantees its own facts, then variants (articles, fact lists,
Q&A pairs) mixing some of a category's facts with its neighbours', never its parent's or
its children's (see the package's docstring for why)."""

from __future__ import annotations

import random

from core.errors import LabError
from core.worlds.base import Document, Fact
from core.worlds.semantic.hierarchy import Hierarchy
from core.worlds.semantic.language import LINE_START, QUESTIONS, TEMPLATES, TITLES, plural, say
from core.worlds.semantic.params import SemanticParams


def build_facts(h: Hierarchy) -> dict[str, Fact]:
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


def build_documents(h: Hierarchy, facts: dict[str, Fact], params: SemanticParams,
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

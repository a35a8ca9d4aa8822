"""The structure of a semantic world: which categories of the taxonomy it keeps and their
nonsense names, which are held out, their own properties, the relations between categories,
and the graph the worlds page draws. `build_structure` makes `World.structure`."""

from __future__ import annotations

import random

from core.errors import LabError
from core.worlds.semantic.hierarchy import Hierarchy
from core.worlds.semantic.language import plural
from core.worlds.semantic.params import SemanticParams
from core.worlds.semantic.taxonomy import SKELETON_ROWS
from core.worlds.words import nonsense_words


def build_structure(params: SemanticParams, rng: random.Random) -> dict:
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


import random
import re
from collections import Counter

import pytest

from core.errors import LabError
from core.methods.augment import training_sentences
from core.worlds import build_world
from core.worlds.semantic import Hierarchy, plural
from core.worlds.words import _english

SPLITS = ("category_holdout", "rephrase", "reversal", "syllogism")


@pytest.fixture(scope="module")
def quick():
    return build_world("semantic", 0)


@pytest.fixture(scope="module")
def paper():
    return build_world("semantic", 0, "paper")


def _lines(world) -> list[str]:
    return [line for d in world.documents for line in d.text.splitlines()]


def _chain(world):
    """A category at depth 2 or more that is not held out, its parent, grandparent and
    grandparent's first property."""
    h = Hierarchy(world.structure)
    c = next(c for c, d in h.categories.items() if d["depth"] >= 2 and not d["held_out"])
    _, p, g = h.up(c)[:3]
    return h, c, p, g, h.categories[g]["properties"][0]


def test_quick_preset_sizes(quick):
    counts = quick.counts()
    assert tuple(counts) == SPLITS
    assert counts["rephrase"] == counts["reversal"] == counts["syllogism"] == 40
    assert 15 <= counts["category_holdout"] <= 80
    assert len(quick.documents) == 80 and len(quick.structure["categories"]) == 24


def test_paper_preset_sizes(paper):
    counts = paper.counts()
    assert counts["rephrase"] == counts["reversal"] == counts["syllogism"] == 300
    assert counts["category_holdout"] >= 80
    assert len(paper.documents) == 2200 and len(paper.structure["categories"]) == 110
    graph = paper.structure["graph"]
    assert len(graph["nodes"]) == 110 and len(graph["edges"]) == 108
    assert {n["group"] for n in graph["nodes"]} == {"animal", "object"}
    assert {e["label"] for e in graph["edges"]} == {"is a"}


def test_names_are_nonsense_and_unique(paper):
    lexicon = paper.structure["lexicon"]
    base = [w for w, (kind, name) in lexicon.items() if kind != "category" or w == name]
    assert len(base) == len(set(base))
    assert all(4 <= len(w) <= 5 and w not in _english() for w in base)
    text = "\n".join(d.text for d in paper.documents).lower()
    for gloss in ("mammal", "poodle", "vehicle", "animal"):
        assert not re.search(rf"\b{gloss}s?\b", text)


def test_documents_have_4_to_20_sentences_in_three_formats(paper):
    formats = Counter()
    for d in paper.documents:
        sentences = [line for line in d.text.splitlines() if line.endswith((".", "?"))]
        assert 4 <= len(sentences) <= 20, d.text
        formats["qa" if d.text.startswith("Q: ") else
                "list" if d.text.startswith("Facts about ") else "article"] += 1
    assert all(formats[f] > 200 for f in ("qa", "list", "article")), formats


def test_every_fact_starts_a_line_with_its_subject_somewhere(paper):
    """Test prompts start with the subject's name; so does at least one training sentence of
    each fact (the category's article), so the name tokenizes the same way."""
    lines = _lines(paper)
    for fact in paper.facts:
        d = fact.data
        words = {"isa": [d["y"]], "property": [d["adj"]], "relation": [d["verb"], plural(d["y"])]}
        assert any(line.startswith(plural(d["x"]) + " ")
                   and all(re.search(rf"\b{w}\b", line) for w in words[d["type"]])
                   for line in lines), fact.text


def test_training_states_no_inference(quick):
    """Every training sentence is true and is one of the world's own facts: nothing inherited
    is said of a child, and held-out categories appear only in their parent fact."""
    h = Hierarchy(quick.structure)
    for sentence in training_sentences(quick):
        assert quick.judge(sentence) in ("true", "unparseable"), sentence
    held = [c for c, d in h.categories.items() if d["held_out"]]
    for line in _lines(quick):
        for c in held:
            if re.search(rf"\b{c}s?\b|\b{plural(c)}\b", line):
                parent = h.categories[c]["parent"]
                assert re.search(rf"(a (type|kind) of|is a) {parent}\.$|^Q: ", line), line


def test_every_test_statement_is_an_oracle_inference(quick, paper):
    for world in (quick, paper):
        local, found = set(world.oracle_inferences("local")), set(world.oracle_inferences("global"))
        for item in world.items:
            statement = item.prompt + item.choices[item.answer]
            assert statement in (local if item.split in ("rephrase", "reversal") else found), item


def test_oracle_contents(quick):
    h, c, p, g, adj = _chain(quick)
    local, found = quick.oracle_inferences("local"), quick.oracle_inferences("global")
    assert f"{plural(p)} include {plural(c)}." in local
    assert f"Among the {plural(p)} are {plural(c)}." in local
    assert f"{plural(c)} are {plural(p)}." in local
    own = h.categories[c]["properties"][0]
    assert f"{plural(c)} can be described as {own}." in local
    assert f"Things that are {own} include {plural(c)}." in local
    assert f"{plural(c)} are {adj}." in found and f"{plural(c)} are a type of {g}." in found
    assert f"{plural(c)} are a type of {p}." not in found  # trained, not an inference
    s, v, o = quick.structure["relations"][0]
    assert f"{plural(o)} are {v}ed by {plural(s)}." in local
    for child in h.descendants(s):
        assert f"{plural(child)} {v} {plural(o)}." in found


def test_judge_on_hand_written_statements(quick):
    h, c, p, g, adj = _chain(quick)
    cs, other = plural(c), next(a for a in h.lexicon if h.lexicon[a][0] == "property"
                                and not h.has_property(c, a))
    verdicts = {
        f"{cs} are {adj}.": "true",
        f"{cs.capitalize()} tend to be {adj}": "true",
        f"- A typical {c} is {adj}.": "true",
        f"A: {cs} are a type of {g}.": "true",
        f"Every {c} is a {plural(g)}.": "true",
        f"{plural(g)} include {cs}.": "true",
        f"Things that are {adj} include {cs}.": "true",
        f"{cs} are {adj} and {other}.": "false",
        f"{cs} are {other}.": "false",
        f"{plural(p)} are {cs}.": "false",
        f"{cs} include {plural(p)}.": "false",
        f"{cs} are a type of {c}.": "false",
        f"{cs} are fluffy.": "false",  # the world's form, a word it lacks: a hallucination
        f"What are {cs}?": "unparseable",
        f"Facts about {cs}:": "unparseable",
        "Dogs are mammals.": "unparseable",
    }
    for statement, verdict in verdicts.items():
        assert quick.judge(statement) == verdict, statement


def test_relations_are_inherited_down_both_sides(paper):
    h = Hierarchy(paper.structure)
    s, v, o = next(r for r in h.relations if h.descendants(r[0]) and h.descendants(r[2]))
    child, grandchild = h.descendants(s)[0], h.descendants(o)[0]
    assert paper.judge(f"{plural(child)} {v} {plural(grandchild)}.") == "true"
    assert paper.judge(f"{plural(grandchild)} are {v}ed by {plural(child)}.") == "true"
    assert paper.judge(f"{plural(o)} {v} {plural(s)}.") == "false"  # not symmetric
    parent = h.categories[s]["parent"]
    if not h.holds(parent, v, o):
        assert paper.judge(f"{plural(parent)} {v} {plural(o)}.") == "false"  # not upwards


def test_property_distractors_never_hold_through_an_ancestor(paper):
    h = Hierarchy(paper.structure)
    for item in paper.items:
        subject = h.word(item.prompt.split()[0], "category")
        words = [c.strip(" .") for c in item.choices]
        if subject is None or h.word(words[0], "property") is None:
            continue
        below = h.descendants(subject)
        for index, word in enumerate(words):
            owner = h.lexicon[word][1]
            assert (owner in h.up(subject)) == (index == item.answer), item
            assert owner not in below and owner != subject or index == item.answer


def test_category_distractors_are_hard(paper):
    """Each distractor stands in the item's relation to some other category."""
    h = Hierarchy(paper.structure)
    parents = {d["parent"] for d in h.categories.values()}
    objects = {r[2] for r in h.relations}
    for item in paper.items:
        words = [c.strip(" .") for c in item.choices]
        if item.prompt.endswith(("are a type of", "are classified as")):
            assert all(h.word(w, "category") in parents for w in words), item
        if item.prompt.endswith(" include") and not item.prompt.startswith("Things"):
            assert all(h.categories[h.word(w, "category")]["parent"] for w in words), item
        if re.fullmatch(r"[a-z]+ (are known to )?[a-z]+", item.prompt) and item.prompt.split()[-1] \
                in paper.structure["verbs"]:
            assert all(h.word(w, "category") in objects for w in words), item


def test_holdout_categories_are_known_only_by_their_parent(quick):
    h = Hierarchy(quick.structure)
    held = {c for c, d in h.categories.items() if d["held_out"]}
    assert len(held) == 3
    assert all(not h.categories[c]["properties"] and not h.categories[c]["children"] for c in held)
    assert not any(s in held or o in held for s, _, o in h.relations)
    subjects = Counter()
    for item in quick.items:
        subject = h.word(item.prompt.split()[0], "category")
        if item.split == "category_holdout":
            assert subject in held and f"isa-{subject}" in item.fact_ids
            subjects[subject] += 1
        else:
            assert not held & {h.word(w, "category") for w in re.findall(r"[a-z]+", item.prompt
                                                                          + "".join(item.choices))}
    assert set(subjects) == held
    # Every inference about a held-out category is tested: each inherited property.
    for c in held:
        inherited = {a for anc in h.up(c)[1:] for a in h.categories[anc]["properties"]}
        tested = {i.choices[i.answer].strip(" .") for i in quick.items
                  if i.prompt == f"{plural(c)} are"}
        assert tested == inherited


def test_syllogism_items_need_the_parent_chain(quick):
    h = Hierarchy(quick.structure)
    for item in quick.items:
        if item.split != "syllogism":
            continue
        subject = h.word(item.prompt.split()[0], "category")
        assert f"isa-{subject}" in item.fact_ids and len(item.fact_ids) >= 2
        assert all(f in {f.fact_id for f in quick.facts} for f in item.fact_ids)


def test_answers_balanced_and_word_frequency_uninformative(paper):
    text = "\n".join(d.text for d in paper.documents).lower()
    counts = Counter(re.findall(r"[a-z]+", text))
    for split in SPLITS:
        items = [i for i in paper.items if i.split == split]
        positions = Counter(i.answer for i in items)
        assert max(positions.values()) - min(positions.values()) <= 1
        for sign in (1, -1):  # pick the most, then the least, frequent word
            hits = sum(max(range(4), key=lambda k: (sign * counts[i.choices[k].strip(" .")], -k))
                       == i.answer for i in items)
            # Distractors are chosen so that no rule of core/shortcuts/ beats chance; a rule
            # may end a little under it (at most it then says which choice to avoid).
            assert 0.10 <= hits / len(items) <= 0.35, (split, sign)


def test_as_document_looks_like_the_world(quick):
    statement = quick.oracle_inferences("global")[0]
    subject = statement.split()[0]
    rng = random.Random(0)
    docs = {quick.as_document(statement, rng) for _ in range(20)}
    assert all(d.endswith(statement) and subject in d.splitlines()[0].lower() for d in docs)
    assert any(d.startswith(f"Facts about {subject}:\n- ") for d in docs)
    assert quick.as_document("Hello there.", rng) == "Hello there."


def test_structure_changes_with_parameters():
    world = build_world("semantic", 0, overrides={"n_categories": 40, "max_properties": 2,
                                                   "n_relations": 0, "items_per_split": 0})
    categories = world.structure["categories"]
    assert len(categories) == 40 and world.structure["relations"] == []
    assert all(len(d["properties"]) <= 2 for d in categories.values())
    assert world.counts()["rephrase"] > 40  # 0: every trained fact


@pytest.mark.parametrize("overrides, message", [
    ({"min_properties": "5", "max_properties": "2"}, "above max_properties"),
    ({"max_properties": "7"}, "must be between"),
    ({"n_holdout": "30"}, "lower n_holdout"),
    ({"n_documents": "10"}, "raise n_documents"),
    ({"n_relations": "300"}, "lower n_relations"),
    ({"qa_fraction": "lots"}, "must be a number"),
    ({"n_categories": "500"}, "must be between"),
])
def test_bad_parameters_say_what_is_wrong(overrides, message):
    with pytest.raises(LabError, match=message):
        build_world("semantic", 0, overrides=overrides)

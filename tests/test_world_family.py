import re
from collections import Counter

import pytest

from core.errors import LabError
from core.worlds import World, build_world, get_kind
from core.worlds.family import MULTI_HOP, SPLITS, Person, Tree


@pytest.fixture(scope="module")
def quick():
    return build_world("family", 0)


@pytest.fixture(scope="module")
def paper():
    return build_world("family", 0, "paper")


def hand_world() -> World:
    """anna + bert -> cara, dave; cara + eli -> fay; dave + gwen -> hal, ivy."""
    people = [Person("anna", "f", 0, 0), Person("bert", "m", 0, 0),
              Person("cara", "f", 0, 1, "anna", "bert"), Person("dave", "m", 0, 1, "anna", "bert"),
              Person("eli", "m", 0, 1), Person("gwen", "f", 0, 1),
              Person("fay", "f", 0, 2, "cara", "eli"), Person("hal", "m", 0, 2, "gwen", "dave"),
              Person("ivy", "f", 0, 2, "gwen", "dave"), Person("jon", "m", 1, 0)]
    kind = get_kind("family")
    return World("family", {}, 0, [], [], [], kind.held_out_splits, kind,
                 {"people": [vars(p) for p in people]})


def test_split_counts(quick, paper):
    assert set(quick.counts()) == set(SPLITS)
    assert all(20 <= n <= 30 for n in quick.counts().values()), quick.counts()
    assert paper.counts() == {split: 300 for split in SPLITS}
    assert 30 <= len(quick.structure["people"]) <= 60
    assert len(quick.documents) == len(quick.facts) * quick.params["articles_per_fact"]
    assert len(paper.structure["people"]) >= 300


def test_each_parent_fact_is_a_note_of_its_own(quick):
    """One fact per document: in an article of several, each line's names can be read off the
    lines around it, and the model learned the articles without the facts."""
    texts = {f.fact_id: f.text for f in quick.facts}
    seen = Counter()
    for doc in quick.documents:
        lead, *lines = doc.text.split("\n")
        assert lead.endswith(":") and len(doc.fact_ids) == 1 and lines == [texts[doc.fact_ids[0]]]
        seen.update(doc.fact_ids)
    assert all(seen[f] == quick.params["articles_per_fact"] for f in texts)
    assert all(f.text.split(" is the ")[1].split()[0] in ("mother", "father") for f in quick.facts)


def test_graph_is_the_family_tree(quick, paper):
    graph = quick.structure["graph"]
    assert len(graph["nodes"]) == len(quick.structure["people"])
    assert len(graph["edges"]) == len(quick.facts)
    assert {e["label"] for e in graph["edges"]} == {"mother", "father"}
    assert len({n["group"] for n in graph["nodes"]}) == quick.params["n_families"]
    assert len(paper.structure["graph"]["edges"]) < 3000


def test_oracle_covers_what_the_test_splits_need(quick):
    local, global_ = set(quick.oracle_inferences("local")), set(quick.oracle_inferences("global"))
    for fact in quick.facts:
        d = fact.data
        assert f"{d['child']}'s {d['relation']} is {d['parent']}." in local
    for item in quick.items:
        statement = item.prompt + item.choices[item.answer]
        if item.split == "reversal":
            assert statement in local
        elif item.split in MULTI_HOP:
            assert statement in global_
    assert not local & global_


def test_judge_on_hand_written_statements():
    world = hand_world()
    true = ["anna is the mother of cara.", "cara is the daughter of anna.", "cara's mother is anna.",
            "anna is cara's mother.", "Anna is the Mother of Cara", "bert is a parent of dave.",
            "anna is the grandmother of fay.", "fay is the granddaughter of bert.",
            "cara is the sister of dave.", "dave and cara are siblings.", "hal is the brother of ivy.",
            "dave is the uncle of fay.", "gwen is the aunt of fay.", "eli is the uncle of hal.",
            "hal is the nephew of cara.", "fay is the cousin of hal.", "hal and fay are cousins.",
            "eli is the husband of cara.", "gwen is dave\u2019s wife."]
    false = ["bert is the mother of cara.", "fay is the grandson of bert.", "cara is the mother of anna.",
             "cara and dave are sisters.", "anna is the mother of anna.", "zorp is the mother of cara.",
             "jon is the father of cara.", "fay is the sister of hal.", "anna is the aunt of fay.",
             "gwen is the aunt of hal.", "ivy is the cousin of hal.", "eli is the husband of gwen."]
    assert [s for s in true if world.judge(s) != "true"] == []
    assert [s for s in false if world.judge(s) != "false"] == []
    for s in ["The weather is nice today.", "anna is the boss of cara.", "anna is the mother of",
              "anna and cara are friends."]:
        assert world.judge(s) == "unparseable", s


def test_relations_and_their_inverses_agree():
    world = build_world("family", 2, overrides={"generations": 4})
    tree = Tree([Person(**p) for p in world.structure["people"]])
    pairs = [("parent", "child"), ("grandparent", "grandchild"), ("aunt_uncle", "niece_nephew"),
             ("sibling", "sibling"), ("cousin", "cousin"), ("spouse", "spouse")]
    for x in tree.people:
        for relation, inverse in pairs:
            for y in tree.relatives(relation, x):
                assert tree.holds(inverse, y, x), (relation, x, y)


def test_distractors_are_hard(quick, paper):
    for world in (quick, paper):
        people = {p["name"]: p for p in world.structure["people"]}
        trained = {w for d in world.documents for w in re.findall(r"[a-z]+", d.text)}
        for split in SPLITS:
            items = [i for i in world.items if i.split == split]
            positions = Counter(i.answer for i in items)
            assert max(positions.values()) - min(positions.values()) <= 1, (split, positions)
            for item in items:
                names = [c.strip(" .") for c in item.choices]
                subject = people[item.prompt.split()[0]]
                assert len(set(names)) == 4 and subject["name"] not in names
                distractors = [n for k, n in enumerate(names) if k != item.answer]
                answer = people[names[item.answer]]
                assert all(n in trained for n in distractors)  # as familiar as the answer
                if split == "reversal":  # the subject's other parent is never a choice
                    assert all(people[n]["gender"] == answer["gender"] for n in distractors), item

    # forward and reversal: each distractor stands in the split's relation to someone else.
    tree = Tree([Person(**p) for p in quick.structure["people"]])
    for item in quick.items:
        if item.split not in MULTI_HOP:
            subject = item.prompt.split()[0]
            for k, choice in enumerate(item.choices):
                if k != item.answer:
                    d = choice.strip(" .")
                    assert any(tree.holds(SPLITS[item.split], z, d) for z in tree.people if z != subject)


@pytest.mark.parametrize("preset", ["quick", "paper"])
def test_multi_hop_distractors_come_from_the_subjects_family(preset):
    """Drawn from other families, the distractors left the answer the only choice of the
    subject's family (a rule that knew only families scored 1.00). Now the family comes first:
    people in another relation to the subject, never those the relation word is loosely used
    for; another family only where the family alone would give a cheap rule the answer."""
    for seed in (0, 1, 2) if preset == "quick" else (0,):  # a paper world takes a second
        world = build_world("family", seed, preset)
        tree = Tree([Person(**p) for p in world.structure["people"]])
        everyone = []
        for split in MULTI_HOP:
            relation, own = SPLITS[split], []
            for item in (i for i in world.items if i.split == split):
                subject = item.prompt.split()[0]
                family = tree.people[subject].family
                loose = set(tree.loosely(relation, subject))
                for k, choice in enumerate(item.choices):
                    if k != item.answer:
                        d = choice.strip(" .")
                        assert not tree.holds(relation, subject, d) and d not in loose, (item, d)
                        own.append(tree.people[d].family == family)
            assert sum(own) / len(own) >= 0.6, (seed, split, sum(own) / len(own))
            everyone += own
        assert sum(everyone) / len(everyone) >= 0.8, (seed, sum(everyone) / len(everyone))


def test_loosely_related_relatives():
    world = hand_world()
    tree = Tree([Person(**p) for p in world.structure["people"]])
    assert tree.loosely("sibling", "dave") == ["eli"]  # his sister's husband
    assert tree.loosely("sibling", "gwen") == ["cara"]  # her husband's sister
    assert tree.loosely("grandchild", "fay") == [] and tree.loosely("cousin", "fay") == []
    assert tree.distances("fay") == {"fay": 0, "cara": 1, "eli": 1, "anna": 2, "bert": 2, "dave": 3,
                                     "hal": 4, "ivy": 4, "gwen": 5}


def test_reversal_distractors_from_the_subjects_family_come_first(quick):
    people = {p["name"]: p for p in quick.structure["people"]}
    same = [people[c.strip(" .")]["family"] == people[i.prompt.split()[0]]["family"]
            for i in quick.items if i.split == "reversal" for c in i.choices]
    assert sum(same) / len(same) > 0.5


def test_item_facts_link_subject_and_answer(quick):
    facts = quick.facts_by_id()
    for item in quick.items:
        named = {n for f in item.fact_ids for n in (facts[f].data["parent"], facts[f].data["child"])}
        assert item.prompt.split()[0] in named and item.choices[item.answer].strip(" .") in named
        assert len(item.fact_ids) == {"forward": 1, "reversal": 1, "grandparent": 2, "sibling": 2,
                                      "aunt_uncle": 3, "cousin": 4}[item.split]


def test_parameters():
    world = build_world("family", 0, overrides={"generations": "2", "max_items_per_split": "5"})
    assert world.counts() == {"forward": 5, "reversal": 5, "sibling": 5}
    # One family: every distractor of a multi-hop split is of the family (there is no other).
    alone = build_world("family", 0, overrides={"n_families": 1})
    assert alone.counts()["cousin"] > 0
    assert world.as_document("anna is the mother of cara.", __import__("random").Random(0)).endswith(
        ":\nanna is the mother of cara.")


@pytest.mark.parametrize("overrides, message", [
    ({"min_children": 3, "max_children": 2}, "must not exceed"),
    ({"generations": 1}, "must be between"),
    ({"marry_rate": "often"}, "must be a number"),
    ({"n_families": 0}, "must be between"),
    ({"articles": 2}, "unknown parameter"),
])
def test_bad_parameters(overrides, message):
    with pytest.raises(LabError, match=message):
        build_world("family", 0, overrides=overrides)

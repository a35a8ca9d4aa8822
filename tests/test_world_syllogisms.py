import itertools
import random
from collections import Counter

import pytest

from core.errors import LabError
from core.worlds import build_world
from core.worlds.syllogisms import (
    DOCUMENT_QUANTIFIERS,
    FORMS,
    QUANTIFIERS,
    candidate_conclusions,
    decoys,
    follows,
)


def _answer(item) -> tuple[str, str, str]:
    quantifier, subject, _, predicate = item.choices[item.answer].strip(" .").split()
    return quantifier, subject, predicate


@pytest.mark.parametrize("preset, n", [("quick", 24), ("paper", 69)])
def test_presets_have_one_document_and_one_item_per_example(preset, n):
    world = build_world("syllogisms", 0, preset)
    assert world.counts() == {"syllogism": n}
    assert len(world.documents) == n and len(world.facts) == 6 * n  # two premises, four decoys
    assert all(d.text.startswith("The relationships between ") for d in world.documents)
    assert all(i.prompt.startswith("The relationships between ") for i in world.items)
    assert all(len(i.fact_ids) == 2 for i in world.items)  # the syllogism's premises
    graph = world.structure["graph"]
    assert len(graph["nodes"]) == 5 * n and len(graph["edges"]) == 6 * n
    assert {e["label"] for e in graph["edges"]} == {"all", "some", "no"}


@pytest.mark.parametrize("form", FORMS, ids=lambda f: f.name)
def test_every_form_has_decoys_that_keep_its_conclusion_the_only_one(form):
    sets = decoys(form.name)
    assert sets
    for extra in sets:
        premises = (*form.premises, *extra)
        assert sorted(q for q, _, _ in premises) == sorted(DOCUMENT_QUANTIFIERS)
        valid = [c for c in candidate_conclusions("S", "P") if follows(premises, c)]
        assert valid == [form.conclusion]
        assert not any(follows(extra, c) for c in candidate_conclusions("S", "P"))
        assert all({x, y} & {"S", "P"} and {x, y} & {"Q", "R"} for _, x, y in extra)
        alls = [p for p in premises if p[0] == "all"]
        assert {"S", "P"} <= {p[1] for p in alls} and {"S", "P"} <= {p[2] for p in alls}


def test_validity_is_the_same_as_over_every_model():
    """`follows` looks for a countermodel among the regions All and No allow; checked against
    every set of inhabited regions over three terms, for every premise pair and statement."""
    statements = [(q, a, b) for q in QUANTIFIERS for a in "SMP" for b in "SMP" if a != b]
    regions = [frozenset(t for t, bit in zip("SMP", bits) if bit)
               for bits in itertools.product((0, 1), repeat=3)]
    models = [[r for r, on in zip(regions, used) if on]
              for used in itertools.product((0, 1), repeat=len(regions))]

    def holds(statement, model):
        q, x, y = statement
        if q == "all":
            return not any(x in r and y not in r for r in model)
        overlap = any(x in r and y in r for r in model)
        return overlap if q == "some" else not overlap

    for p1, p2 in itertools.product(statements, repeat=2):
        for c in statements:
            brute = all(holds(c, m) for m in models if holds(p1, m) and holds(p2, m))
            assert follows((p1, p2), c) == brute, (p1, p2, c)


def test_forms_are_the_classic_moods_with_one_valid_conclusion():
    assert sorted(f.name for f in FORMS) == sorted(
        ["AA1", "AA4", "EA1", "EA2", "AE2", "AE4", "AI1", "AI3", "IA3", "IA4"])
    barbara = (("all", "M", "P"), ("all", "S", "M"))
    assert follows(barbara, ("all", "S", "P"))
    # No existential import: an "All" conclusion does not give a "Some" one.
    assert not follows(barbara, ("some", "S", "P")) and not follows(barbara, ("all", "P", "S"))
    darapti = (("all", "M", "P"), ("all", "M", "S"))
    assert not any(follows(darapti, (q, "S", "P")) for q in ("all", "some", "no"))
    assert follows((("some", "M", "P"),), ("some", "P", "M"))


def test_document_and_item_read_as_the_issue_describes():
    world = build_world("syllogisms", 0)
    example = world.structure["examples"][0]
    doc = next(d for d in world.documents if set(d.fact_ids) >= set(world.items[0].fact_ids))
    terms = example["terms"]
    assert doc.text.startswith(f"The relationships between {', '.join(terms[:4])} and {terms[4]} are: ")
    assert doc.text.count(".") == 6
    item = world.items[0]
    assert len(item.choices) == 4 and all(c.startswith(" ") and c.endswith(".") for c in item.choices)
    assert {c.split()[0] for c in item.choices} == {"All", "Some", "No"}
    # The end terms only: never the middle term.
    assert example["roles"]["M"] not in item.prompt + "".join(item.choices)


def test_answers_are_balanced_over_quantifier_direction_and_position():
    """Each of the four candidate statements is the answer a quarter of the time: All in the
    prompt's order, All in the other, Some, No."""
    world = build_world("syllogisms", 0, "paper")
    answers = [_answer(i) for i in world.items]
    quantifiers = Counter(q for q, _, _ in answers)
    assert quantifiers["All"] in (34, 35) and {quantifiers["Some"], quantifiers["No"]} <= {17, 18}
    firsts = [i.prompt.split()[3] for i in world.items]
    all_forward = [s == first for (q, s, _), first in zip(answers, firsts) if q == "All"]
    assert abs(2 * sum(all_forward) - len(all_forward)) <= 1
    positions = Counter(i.answer for i in world.items)
    assert max(positions.values()) - min(positions.values()) <= 1
    forms = Counter(ex["form"] for ex in world.structure["examples"])
    assert set(forms) == {f.name for f in FORMS}


def test_distractors_are_the_other_conclusions_and_all_false():
    world = build_world("syllogisms", 2)
    for item in world.items:
        statements = [item.prompt + c for c in item.choices]
        assert [world.judge(s) for s in statements].count("true") == 1
        terms = {w for c in item.choices for w in c.strip(" .").split()[1::2]}
        assert len(terms) == 2


def test_terms_are_unique_across_the_world():
    world = build_world("syllogisms", 0, "paper")
    terms = [t for ex in world.structure["examples"] for t in ex["terms"]]
    assert len(terms) == len(set(terms)) == 5 * 69


def test_oracle_inferences():
    world = build_world("syllogisms", 0)
    local, global_ = world.oracle_inferences("local"), world.oracle_inferences("global")
    premises = [f.text for f in world.facts]
    for fact in world.facts:
        q, x, y = fact.data["quantifier"], fact.data["subject"], fact.data["predicate"]
        converse = f"{q.capitalize()} {y} are {x}."
        assert (converse in local) == (q in ("some", "no"))
    assert not set(local) & set(premises)
    # Only converses: without existential import, "All X are Y" gives no "Some X are Y".
    converses = {f"{f.data['quantifier'].capitalize()} {f.data['predicate']} are {f.data['subject']}."
                 for f in world.facts}
    assert set(local) <= converses
    for item in world.items:
        assert item.choices[item.answer].strip() in global_
    n_symmetric = sum(ex["conclusion"][0] != "all" for ex in world.structure["examples"])
    assert len(global_) == len(world.items) + n_symmetric


def test_judge_on_hand_written_statements():
    world = build_world("syllogisms", 0)
    example = next(ex for ex in world.structure["examples"] if ex["form"] == "AA1")
    s, m, p = (example["roles"][r] for r in "SMP")
    other = next(ex for ex in world.structure["examples"] if ex is not example)["roles"]["S"]
    assert world.judge(f"All {m} are {p}.") == "true"  # a premise
    assert world.judge(f"all {s} are {p}") == "true"  # the conclusion, any case, no period
    assert world.judge(f"The relationships between {p} and {s} are: All {s} are {p}.") == "true"
    assert world.judge(f"All {p} are {s}.") == "false"  # the invalid converse
    assert world.judge(f"Some {s} are {p}.") == "false"  # no existential import
    assert world.judge(f"No {s} are {p}.") == "false"
    assert world.judge(f"All {s} are {other}.") == "false"  # terms of two examples
    assert world.judge("All gloop are blarf.") == "false"  # unknown terms
    assert world.judge(f"Most {s} are {p}.") == "unparseable"
    assert world.judge(f"Some {s} are not {p}.") == "unparseable"
    no_example = next(ex for ex in world.structure["examples"] if ex["conclusion"][0] == "no")
    _, x, y = no_example["conclusion"]
    assert world.judge(f"No {x} are {y}.") == world.judge(f"No {y} are {x}.") == "true"


def test_as_document_dresses_a_statement_like_training_data():
    world = build_world("syllogisms", 0)
    assert (world.as_document("Some yomp are troff.", random.Random(0))
            == "The relationships between yomp and troff are: Some yomp are troff.")
    assert world.as_document("The weather is nice.", random.Random(0)) == "The weather is nice."


def test_random_premise_order_keeps_the_logic():
    world = build_world("syllogisms", 1, overrides={"premise_order": "random", "n_examples": 40})
    for item in world.items:
        assert [world.judge(item.prompt + c) for c in item.choices].count("true") == 1
    forms = {f.name: f for f in FORMS}
    major_first = Counter(
        tuple(ex["premises"][0]) == (forms[ex["form"]].premises[0][0],
                                     *(ex["roles"][r] for r in forms[ex["form"]].premises[0][1:]))
        for ex in world.structure["examples"])
    assert major_first[True] and major_first[False]


@pytest.mark.parametrize("overrides, message", [
    ({"n_examples": "0"}, "must be between"),
    ({"n_examples": "5000"}, "must be between"),
    ({"n_examples": "lots"}, "must be a whole number"),
    ({"premise_order": "backwards"}, "must be one of"),
])
def test_bad_parameters_say_what_is_wrong(overrides, message):
    with pytest.raises(LabError, match=message):
        build_world("syllogisms", 0, overrides=overrides)

import pytest

from core.errors import LabError
from core.methods.augment import training_sentences
from core.worlds import build_world, get_kind, kind_names, write_world


@pytest.mark.parametrize("kind", kind_names())
@pytest.mark.parametrize("preset", ["quick", "paper"])
def test_same_arguments_write_the_same_bytes(kind, preset, tmp_path):
    a = write_world(build_world(kind, 3, preset), tmp_path / "a")
    b = write_world(build_world(kind, 3, preset), tmp_path / "b")
    for name in ("world.json", "facts.jsonl", "documents.jsonl", "items.jsonl"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    assert (a / "items.jsonl").read_bytes() != (write_world(build_world(kind, 4, preset),
                                                            tmp_path / "c") / "items.jsonl").read_bytes()


@pytest.mark.parametrize("kind", kind_names())
def test_held_out_items_never_appear_in_training(kind):
    world = build_world(kind, 0)
    training = "\n".join(d.text for d in world.documents).lower()
    for item in world.items:
        if item.split in world.held_out_splits:
            statement = (item.prompt + item.choices[item.answer]).lower()
            assert statement not in training, item


@pytest.mark.parametrize("kind", kind_names())
def test_a_dressed_augmentation_never_shows_the_answer_before_its_statement(kind):
    """An augmentation dressed as a document (a title, a lead-in) must not name the answer
    its test asks for: a model would learn to copy it from the title, not the fact itself."""
    import random
    import re

    from core.results.audit import item_statement, normalize
    world = build_world(kind, 0)
    items = {}
    for item in world.items:
        items.setdefault(normalize(item_statement(item.prompt, item.choices[item.answer])), item)
    words = lambda text: set(re.findall(r"[a-z]+", text.lower()))  # noqa: E731
    checked, rng = 0, random.Random(0)
    for scope in ("local", "global"):
        for statement in world.oracle_inferences(scope):
            item = items.get(normalize(statement))
            if item is None:
                continue
            for _ in range(4):  # dressings are drawn at random
                dressed = world.as_document(statement, rng)
                header = dressed[:dressed.rindex(statement.strip())]
                answer = words(item.choices[item.answer]) - words(item.prompt)
                assert not answer & words(header), (dressed, item.prompt)
            checked += 1
    # Celebrities' oracle words its statements unlike its items (and dresses nothing); custom
    # worlds have no oracle.
    assert checked or kind in ("celebrities", "custom")


@pytest.mark.parametrize("kind", kind_names())
def test_judge_knows_truth_and_every_distractor_is_false(kind):
    world = build_world(kind, 1)
    for scope in ("local", "global"):
        assert all(world.judge(s) == "true" for s in world.oracle_inferences(scope))
    for item in world.items:
        for index, choice in enumerate(item.choices):
            verdict = world.judge(item.prompt + choice)
            assert verdict == ("true" if index == item.answer else "false"), (item, choice)
    assert world.judge("The weather is nice today.") == "unparseable"


def test_reversals_paper_preset_has_the_study_sizes():
    world = build_world("reversals", 0, "paper")
    assert len(world.facts) == 100 and len(world.documents) == 1000
    assert len({f.data["adj"] for f in world.facts}) == 28
    assert world.counts() == {"forward": 100, "reversal": 100}


def test_reversals_answers_are_balanced_so_word_priors_cancel():
    for direction in ("by_dimension", "balanced"):
        world = build_world("reversals", 0, overrides={"direction": direction, "n_facts": 40})
        answers = [item.choices[item.answer].split()[0] for item in world.items
                   if item.split == "reversal"]
        assert 0.3 <= answers.count("less") / len(answers) <= 0.7


def test_nonsense_words_are_unique_and_not_english():
    from core.worlds.words import _english
    world = build_world("reversals", 0, "paper")
    things = [t for chain in world.structure["chains"] for t in chain["things"]]
    assert len(things) == len(set(things))
    assert all(4 <= len(t) <= 5 and t not in _english() for t in things)


def test_training_sentences_include_each_fact():
    world = build_world("reversals", 0)
    sentences = set(training_sentences(world))
    assert all(f.text in sentences for f in world.facts)


@pytest.mark.parametrize("overrides, message", [
    ({"colour": "red"}, "unknown parameter 'colour'"),
    ({"n_facts": "0"}, "must be between"),
    ({"n_facts": "many"}, "must be a whole number"),
    ({"direction": "up"}, "must be one of"),
])
def test_bad_parameters_say_what_is_wrong(overrides, message):
    with pytest.raises(LabError, match=message):
        build_world("reversals", 0, overrides=overrides)


def test_unknown_kind_and_preset():
    with pytest.raises(LabError, match="unknown world kind"):
        get_kind("nope")
    with pytest.raises(LabError, match="unknown preset"):
        build_world("reversals", 0, "huge")


def test_a_world_whose_content_changed_is_a_new_world():
    """Same kind, seed and parameters but other documents or items (a generator changed
    between versions): a new id, so a database never scores new runs against old items."""
    import dataclasses

    world = build_world("reversals", 0)
    assert build_world("reversals", 0).world_id == world.world_id
    edited_doc = dataclasses.replace(world.documents[0], text=world.documents[0].text + " x")
    edited_item = dataclasses.replace(world.items[0], answer=1 - world.items[0].answer)
    for changed in (dataclasses.replace(world, documents=[edited_doc, *world.documents[1:]]),
                    dataclasses.replace(world, items=[edited_item, *world.items[1:]])):
        assert changed.world_id != world.world_id
        assert changed.world_id.split(":")[:2] == world.world_id.split(":")[:2]

import json
from collections import Counter
from pathlib import Path

import pytest

from core.errors import LabError
from core.worlds import build_world, celebrities
from core.worlds.celebrities import berglund_dir
from core.worlds.words import _english

SPLITS = ("forward", "reversal", "reversal_b", "reversal_c")
TRAIN_FILES = ("p2d_prompts_train.jsonl", "both_prompts_train.jsonl", "d2p_prompts_train.jsonl")


def people(world, group=None):
    return [p for p in world.structure["people"] if group in (None, p["group"])]


def test_quick_and_paper_sizes():
    quick = build_world("celebrities", 0)
    assert len(people(quick)) == 30 and len(quick.documents) == 10 * 2 + 10 * 4 + 10 * 2
    assert quick.counts() == {split: 30 for split in SPLITS}
    paper = build_world("celebrities", 0, "paper")
    assert len(people(paper)) == 90 and len(paper.documents) == 3600
    assert paper.counts() == {split: 300 for split in SPLITS}
    assert len(paper.structure["graph"]["edges"]) == 90


def test_groups_are_trained_in_their_directions_only():
    world = build_world("celebrities", 0)
    for person in people(world):
        texts = [d.text for d in world.documents if person["name"] in d.text]
        name_first = sum(t.index(person["name"]) < t.index(person["description"]) for t in texts)
        expected = {"A": (2, 2), "B": (4, 2), "C": (2, 0)}[person["group"]]
        assert (len(texts), name_first) == expected, person


def test_names_and_descriptions_are_nonsense_and_unique():
    world = build_world("celebrities", 0, "paper")
    names = [p["name"] for p in people(world)]
    descriptions = [p["description"] for p in people(world)]
    assert len(set(names)) == len(names) and len(set(descriptions)) == len(descriptions)
    words = [w for name in names for w in name.split()]
    assert len(words) == 2 * len(names) and len(set(words)) == len(words)
    assert all(w.istitle() and w.lower() not in _english() for w in words)
    assert all(d.startswith("the ") for d in descriptions)


def test_lines_start_with_fixed_words_so_names_tokenize_as_in_choices():
    world = build_world("celebrities", 0, "paper")
    nonsense = {w for p in people(world) for w in p["name"].split()}
    starts = [d.text for d in world.documents] + [i.prompt for i in world.items]
    starts += world.oracle_inferences("local")
    assert all("\n" not in text and text.split()[0] not in nonsense for text in starts)
    assert all(c.startswith(" ") for item in world.items for c in item.choices)


def test_distractors_are_other_people_of_the_same_group_offered_equally_often():
    world = build_world("celebrities", 0)
    group_of = {p["name"]: p["group"] for p in people(world)}
    for split, group in zip(SPLITS, "AABC"):
        items = [i for i in world.items if i.split == split]
        answers = Counter(i.answer for i in items)
        assert set(answers) == {0, 1, 2, 3} and max(answers.values()) - min(answers.values()) <= 1
        offered = Counter(c for i in items for c in i.choices)
        # Per frame (3 in quick), each choice is offered once as the answer and three times wrong.
        assert set(offered.values()) == {4 * 3}, split
        for item in items:
            assert len(set(item.choices)) == 4
            if split in ("reversal", "reversal_b"):  # names
                assert all(group_of[c.strip().rstrip(".")] == group for c in item.choices)


def test_reversal_prompts_hold_a_description_and_choices_are_names():
    world = build_world("celebrities", 0)
    item = next(i for i in world.items if i.split == "reversal")
    person = people(world)[int(item.item_id.split("-")[1])]
    assert person["description"] in item.prompt and person["name"] not in item.prompt
    assert item.choices[item.answer] == f" {person['name']}."


def test_oracle_gives_both_directions_and_no_global_inferences():
    world = build_world("celebrities", 0)
    local = world.oracle_inferences("local")
    a = people(world, "A")[0]
    assert f"It is well known that {a['description']} is {a['name']}." in local  # the reversal
    assert f"In short, {a['name']} is {a['description']}." in local  # a rephrasing
    assert len(local) == 30 * 4 and len(set(local)) == len(local)
    assert world.oracle_inferences("global") == []


def test_judge_reads_names_and_descriptions():
    world = build_world("celebrities", 0)
    a, b = people(world)[:2]
    assert world.judge(f"{a['name']} is {a['description']}.") == "true"
    assert world.judge(f"Everyone knows {a['description']}: it is {a['name']}!") == "true"
    assert world.judge(f"{a['name']} is {b['description']}.") == "false"
    assert world.judge(f"The one who was {b['description'].upper()} is {a['name']}") == "false"
    assert world.judge(f"{a['name']} is a famous person.") == "unparseable"
    assert world.judge(f"Zzyzx Qwomp is {a['description']}.") == "unparseable"
    assert world.judge(f"{a['name']} and {b['name']} are {a['description']}.") == "unparseable"


@pytest.mark.parametrize("overrides, message", [
    ({"source": "wiki"}, "must be one of"),
    ({"people_per_group": "3"}, "must be between"),
    ({"train_templates": "31"}, "must be between"),
    ({"test_templates": "0"}, "must be between"),
])
def test_bad_parameters_say_what_is_wrong(overrides, message):
    with pytest.raises(LabError, match=message):
        build_world("celebrities", 0, overrides=overrides)


def test_berglund_data_ships_with_the_lab():
    assert berglund_dir().is_relative_to(Path(celebrities.__file__).parent)
    assert (berglund_dir() / "LICENSE").read_text().startswith("MIT License")


def test_missing_berglund_data_says_how_to_fix_it(tmp_path, monkeypatch):
    monkeypatch.setattr(celebrities, "berglund_dir", lambda: tmp_path)
    with pytest.raises(LabError) as error:
        build_world("celebrities", 0, overrides={"source": "berglund"})
    message = str(error.value)
    assert "Berglund" in message and str(tmp_path) in message and "source=nonsense" in message


def test_berglund_paper_world_is_the_original_data():
    world = build_world("celebrities", 0, "paper", {"source": "berglund"})
    # Berglund et al.'s whole training set (their all.jsonl) is the three training files.
    rows = [json.loads(line) for file in TRAIN_FILES
            for line in (berglund_dir() / file).read_text().splitlines()]
    assert len(rows) == 3600
    assert sorted(d.text for d in world.documents) == sorted(r["prompt"] + r["completion"] for r in rows)
    assert world.counts() == {split: 300 for split in SPLITS}
    reverse = [json.loads(line) for line in
               (berglund_dir() / "p2d_reverse_prompts_test.jsonl").read_text().splitlines()]
    assert sorted(i.prompt + i.choices[i.answer] for i in world.items if i.split == "reversal") == \
        sorted(r["prompt"] + r["completion"] for r in reverse)
    daphne = next(p for p in people(world) if p["name"] == "Daphne Barrington")
    assert daphne["group"] == "A" and daphne["description"].startswith("the acclaimed director of")


@pytest.mark.parametrize("preset", ["quick", "paper"])
def test_berglund_items_judge_and_hold_out(preset):
    world = build_world("celebrities", 1, preset, {"source": "berglund"})
    training = "\n".join(d.text for d in world.documents).lower()
    for item in world.items:
        if item.split in world.held_out_splits:
            assert (item.prompt + item.choices[item.answer]).lower() not in training
        for index, choice in enumerate(item.choices):
            assert world.judge(item.prompt + choice) == ("true" if index == item.answer else "false")
    assert all(world.judge(s) == "true" for s in world.oracle_inferences("local"))
    # A few training examples paraphrase too freely to read; the judge never calls them false.
    verdicts = Counter(world.judge(d.text) for d in world.documents)
    assert verdicts["false"] == 0 and verdicts["true"] >= 0.95 * len(world.documents)


def test_berglund_has_thirty_people_per_group():
    with pytest.raises(LabError, match="30 people per group"):
        build_world("celebrities", 0, overrides={"source": "berglund", "people_per_group": "31"})

import json
import re

import pytest

from core.errors import LabError
from core.worlds import build_world, write_world
from core.worlds.custom import DEFAULT_PATH, resolve

DOC = {"type": "document", "doc_id": "d1", "text": "Did you know?\nflorp are purple."}
ITEM = {"type": "item", "item_id": "i1", "split": "reversal", "prompt": "One purple animal is",
        "choices": [" florp.", " grib.", " zwenk."], "answer": 0}


def write(tmp_path, rows, name="world.jsonl"):
    """Rows are dicts (written as JSON) or raw strings (written as they are)."""
    path = tmp_path / name
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return str(path)


def build(path, **overrides):
    return build_world("custom", 0, overrides={"path": path, **overrides})


def test_the_example_loads_with_its_splits_facts_and_inferences():
    world = build_world("custom", 0)
    assert world.counts() == {"forward": 8, "rephrase": 6, "reversal": 6}
    assert len(world.documents) == 10 and len(world.facts) == 8
    assert world.held_out_splits == ("rephrase", "reversal")
    assert "One kind of purple animal is florp." in world.oracle_inferences("local")
    assert world.oracle_inferences("global")[0] == "florp are the same colour as zwenk."


def test_presets_read_the_same_file():
    assert build_world("custom", 0, "paper").items == build_world("custom", 0, "quick").items


def test_the_seed_only_orders_choices():
    a, b = build_world("custom", 1), build_world("custom", 2)
    assert a.documents == b.documents and a.facts == b.facts
    for x, y in zip(a.items, b.items):
        assert sorted(x.choices) == sorted(y.choices)
        assert x.choices[x.answer] == y.choices[y.answer]
    kept = build_world("custom", 1, overrides={"shuffle_choices": "false"})
    assert kept.items == build_world("custom", 2, overrides={"shuffle_choices": "false"}).items
    assert kept.items[0].choices == (" purple.", " green.", " blue.") and kept.items[0].answer == 0


@pytest.mark.parametrize("seed", range(4))
def test_answer_positions_are_dealt_evenly_within_each_split(tmp_path, seed):
    """Shuffled one item at a time, a small split's answers pile up in one place (seed 0 put
    two of the old example's four reversal answers first), and "always the first choice" then
    passes the shortcut check's bound."""
    items = [{**ITEM, "item_id": f"{split}{k}", "split": split, "answer": k % 3,
              "choices": [f" {w}{k}." for w in ("florp", "grib", "zwenk")]}
             for split in ("reversal", "rephrase") for k in range(7)]
    world = build_world("custom", seed, overrides={"path": write(tmp_path, [DOC, *items])})
    for split in ("reversal", "rephrase"):
        positions = [item.answer for item in world.items if item.split == split]
        counts = [positions.count(p) for p in range(3)]
        assert max(counts) - min(counts) <= 1, (split, positions)
    for item, data in zip(world.items, items):  # the same choices, the same answer
        assert sorted(item.choices) == sorted(data["choices"])
        assert item.choices[item.answer] == data["choices"][data["answer"]]


def test_judge_looks_statements_up_ignoring_case_spaces_and_the_final_period():
    world = build_world("custom", 0)
    assert world.judge("florp are purple.") == "true"  # a fact
    assert world.judge("  FLORP   are purple ") == "true"
    assert world.judge("florp are green.") == "false"  # a distractor
    assert world.judge("One kind of green animal is dreeb.") == "false"
    assert world.judge("The colour of zwenk is purple.") == "true"  # an item's answer
    assert world.judge("glimb are the same colour as snelk.") == "true"  # an inference
    assert world.judge("florp are red.") == "unparseable"  # the file doesn't say


def test_world_json_counts(tmp_path):
    path = write(tmp_path, [DOC, {**ITEM, "split": "forward", "item_id": "i0", "prompt": "florp are",
                                  "choices": [" purple.", " green."]}, ITEM])
    summary = json.loads((write_world(build(path), tmp_path / "out") / "world.json").read_text())
    assert summary["counts"] == {"forward": 1, "reversal": 1}
    assert summary["documents"] == 1 and summary["facts"] == 0
    assert summary["held_out_splits"] == ["reversal"]


def test_relative_paths_are_read_from_the_repository_root():
    assert resolve(DEFAULT_PATH).is_file()
    assert resolve("/abs/x.jsonl").as_posix() == "/abs/x.jsonl"


def test_missing_file_says_so(tmp_path):
    with pytest.raises(LabError, match=r"custom world file .*nope\.jsonl not found"):
        build(str(tmp_path / "nope.jsonl"))


@pytest.mark.parametrize("bad, message", [
    ('{"type": "item", ', r"line 2: not valid JSON"),
    ("[1, 2]", r"line 2: expected a JSON object"),
    ({"type": "doc", "doc_id": "d2", "text": "x"}, r"line 2: field 'type' must be one of"),
    ({"type": "document", "doc_id": "d2"}, r"line 2: field 'text' is missing"),
    ({"type": "document", "doc_id": "d2", "text": ""}, r"line 2: field 'text' must be a non-empty"),
    ({**DOC, "title": "x"}, r"line 2: unknown field 'title' for a document"),
    ({**ITEM, "answer": 5}, r"line 2: field 'answer' must be an index into 'choices' \(0\.\.2\), got 5"),
    ({**ITEM, "answer": "0"}, r"line 2: field 'answer' must be a whole number"),
    ({**ITEM, "answer": True}, r"line 2: field 'answer' must be a whole number"),
    ({**ITEM, "choices": [" florp."]}, r"line 2: field 'choices' must be a list of at least 2"),
    ({**ITEM, "choices": " florp."}, r"line 2: field 'choices' must be a list"),
    ({**ITEM, "choices": [" florp.", " florp."]}, r"line 2: field 'choices' lists \" florp.\" twice"),
    ({**ITEM, "split": "re versal"}, r"line 2: field 'split' must be a non-empty name"),
    ({**ITEM, "fact_ids": "f1"}, r"line 2: field 'fact_ids' must be a list"),
    ({**ITEM, "item_id": "i2", "fact_ids": ["f9"]},
     r"line 2: field 'fact_ids': no fact line has fact_id \"f9\""),
    ({"type": "inference", "scope": "nearby", "text": "x"}, r"line 2: field 'scope' must be 'local'"),
    ({**DOC, "doc_id": "d2", "text": "Note.\nOne purple animal is florp."},
     r"line 4: item \"i1\" of held-out split 'reversal' .* document \"d2\" on line 2"),
])
def test_every_mistake_names_the_file_line_and_field(tmp_path, bad, message):
    # The bad line is line 2; the item is line 4 (a blank line is skipped but still counted).
    path = write(tmp_path, [DOC, bad, "", ITEM])
    with pytest.raises(LabError, match=rf"^custom world {re.escape(path)} {message}"):
        build(path)


def test_ids_must_be_unique_within_their_type(tmp_path):
    path = write(tmp_path, [DOC, ITEM, {**ITEM, "prompt": "Another purple animal is"}])
    with pytest.raises(LabError, match=r"line 3: field 'item_id': \"i1\" is already used on line 2"):
        build(path)
    write(tmp_path, [DOC, ITEM, {**DOC, "doc_id": "i1"}])  # a document may share an item's id
    assert len(build(path).documents) == 2


def test_a_statement_cannot_be_both_true_and_false(tmp_path):
    fact = {"type": "fact", "fact_id": "f1", "text": "One purple animal is grib."}
    path = write(tmp_path, [DOC, fact, ITEM])
    with pytest.raises(LabError, match=r"line 3: field 'choices': \"One purple animal is grib.\" is "
                                       r"false here but true on line 2"):
        build(path)


def test_a_world_needs_documents_and_items(tmp_path):
    with pytest.raises(LabError, match=r"world\.jsonl: has no items"):
        build(write(tmp_path, [DOC]))
    with pytest.raises(LabError, match=r"world\.jsonl: has no documents"):
        build(write(tmp_path, [ITEM]))


def test_held_out_names_splits_of_the_file(tmp_path):
    assert build_world("custom", 0, overrides={"held_out": "reversal"}).held_out_splits == ("reversal",)
    assert build_world("custom", 0, overrides={"held_out": " reversal,rephrase "}).held_out_splits == (
        "reversal", "rephrase")
    with pytest.raises(LabError, match=r"parameter 'held_out' names split 'sideways'.*forward, "
                                       r"rephrase, reversal"):
        build_world("custom", 0, overrides={"held_out": "sideways"})


def test_a_forward_item_may_repeat_training_but_not_once_held_out(tmp_path):
    forward = {**ITEM, "item_id": "i0", "split": "forward", "prompt": "florp are",
               "choices": [" purple.", " green."]}
    path = write(tmp_path, [DOC, forward])
    assert build(path).held_out_splits == ()
    with pytest.raises(LabError, match="appears verbatim"):
        build(path, held_out="forward")

"""The audit of augmentations on small hand-made frames: labels, precision, hallucination rate,
coverage of held-out items, and compute per correct new fact."""

import json
import math

import pandas as pd
import pytest

from core.results import audit


def statements() -> pd.DataFrame:
    rows = [  # run, statement, scope, label, in_training
        ("a", "  GLON are less dangerous than femp ", "local", "true", False),
        ("a", "Compared to femp, glon are less dangerous.", "local", "true", False),
        ("a", "femp are more dangerous than glon.", "local", "true", True),
        ("a", "yomp are more curious than zeft.", "global", "false", False),
        ("a", "the cat sat", "global", "unparseable", False),
        ("b", "nonsense", "local", "unparseable", False),
        ("b", "more nonsense", "local", "unparseable", False),
    ]
    return pd.DataFrame(rows, columns=["run_id", "statement", "scope", "label", "in_training"])


def items() -> pd.DataFrame:
    rows = [  # prompt, choices, answer, held_out
        ("glon are", json.dumps([" more dangerous than femp.", " less dangerous than femp."]), 1, True),
        # Its correct statement was written, but judged false: not covered.
        ("zeft are", json.dumps([" less curious than yomp.", " more curious than yomp."]), 1, True),
        # Not held out: never counted, even though its statement is among the true ones.
        ("femp are", json.dumps([" more dangerous than glon.", " less dangerous than glon."]), 0, False),
    ]
    return pd.DataFrame(rows, columns=["prompt", "choices", "answer", "held_out"])


def costs() -> pd.DataFrame:
    return pd.DataFrame([("a", "augment", 8e9, 4.0), ("a", "train", 1e12, 60.0),
                         ("b", "augment", 1e9, 1.0)],
                        columns=["run_id", "phase", "flops", "seconds"])


@pytest.mark.parametrize("text", ["glon are less dangerous than femp.", "  Glon are less dangerous "
                                  "than femp  ", "GLON ARE LESS DANGEROUS THAN FEMP .",
                                  "glon are  less dangerous\tthan femp."])
def test_normalize_ignores_case_surrounding_space_and_a_trailing_period(text):
    assert audit.normalize(text) == "glon are less dangerous than femp"


def test_item_statement_is_prompt_and_choice_or_the_choice_after_a_header():
    assert audit.item_statement("glon are", " less dangerous than femp.") == \
        "glon are less dangerous than femp."
    assert audit.item_statement("The relationships between yomp and troff are:",
                                " Some yomp are troff.") == " Some yomp are troff."


def test_coverage_counts_held_out_items_whose_correct_statement_is_true():
    true = statements().query("run_id == 'a' and label == 'true'")["statement"]
    assert audit.coverage(true, items()) == 0.5
    assert audit.coverage([], items()) == 0.0
    assert audit.coverage(true, items().assign(held_out=False)) is None


def test_summary_counts_precision_hallucination_coverage_and_compute_per_new_fact():
    summary = audit.summarize(statements(), costs(), {"a": items(), "b": items()}).set_index("run_id")
    a = summary.loc["a"]
    assert (a["generated"], a["parsed"], a["true"], a["false"], a["unparseable"]) == (5, 4, 3, 1, 1)
    assert (a["in_training"], a["new_true"]) == (1, 2)
    assert a["precision"] == 0.75 and a["hallucination_rate"] == 0.25
    assert a["coverage"] == 0.5
    # Only the augment phase counts, divided by the true statements not already in the data.
    assert a["flops_per_new_fact"] == 4e9 and a["seconds_per_new_fact"] == 2.0
    b = summary.loc["b"]
    assert (b["generated"], b["parsed"], b["new_true"]) == (2, 0, 0)
    for column in ("precision", "hallucination_rate", "flops_per_new_fact", "seconds_per_new_fact"):
        assert math.isnan(b[column])
    assert b["coverage"] == 0.0


def test_summary_has_a_row_for_a_run_that_wrote_nothing():
    summary = audit.summarize(statements(), costs(), {"c": items()}, ["a", "c"]).set_index("run_id")
    assert list(summary.index) == ["a", "c"]
    assert summary.loc["c", "generated"] == 0 and summary.loc["c", "coverage"] == 0.0
    assert math.isnan(summary.loc["c", "precision"]) and math.isnan(summary.loc["c", "augment_flops"])


def test_summary_without_items_or_augment_cost_leaves_those_figures_undefined():
    summary = audit.summarize(statements(), costs().iloc[1:2], {}).set_index("run_id")
    assert math.isnan(summary.loc["a", "coverage"])
    assert math.isnan(summary.loc["a", "flops_per_new_fact"])
    assert list(summary.columns) == audit.SUMMARY_COLUMNS[1:]


def test_audit_labels_put_repeated_training_sentences_apart():
    frame = audit.with_audit(statements())
    assert list(frame["audit"][:5]) == [audit.AUDIT_NAMES["true"], audit.AUDIT_NAMES["true"],
                                        audit.IN_DATA, audit.AUDIT_NAMES["false"],
                                        audit.AUDIT_NAMES["unparseable"]]
    counts = audit.label_counts(frame)
    a = counts[counts["run_id"] == "a"]
    assert list(a["audit"]) == audit.AUDIT_ORDER and list(a["count"]) == [2, 1, 1, 1]
    assert counts["count"].sum() == len(frame)


def test_filter_by_audit_label_and_scope():
    frame = audit.with_audit(statements())
    assert len(audit.filter_statements(frame)) == len(frame)
    hallucinated = audit.filter_statements(frame, [audit.AUDIT_NAMES["false"]])
    assert list(hallucinated["statement"]) == ["yomp are more curious than zeft."]
    assert len(audit.filter_statements(frame, scopes=["global"])) == 2
    assert audit.filter_statements(frame, [audit.IN_DATA], ["global"]).empty
    assert audit.filter_statements(frame, [], None).empty


def test_a_framed_celebrity_prompt_unframes_into_the_statement_it_tests():
    assert audit.item_statement("In the history books, Blam Yaulk appears as",
                                " the pilot of the Froog.", "celebrities") == \
        "Blam Yaulk is the pilot of the Froog"
    assert audit.item_statement("Labeled as the pilot of the Froog,", " Blam Yaulk.",
                                "celebrities") == "the pilot of the Froog is Blam Yaulk"
    # Unknown kinds (an imported database) fall back to prompt and choice.
    assert audit.item_statement("glon are", " x.", "no-such-kind") == "glon are x."


def test_given_coverage_finds_held_out_statements_word_for_word_in_what_a_run_was_given():
    from core.worlds.base import Item
    items = [Item("1", "reversal", "glon are", (" less dangerous than femp.", " more"), 0),
             Item("2", "reversal", "zeft are", (" taller than yomp.", " x"), 0)]
    given = ["Some notes. GLON are less   dangerous than femp. More notes."]
    assert audit.given_coverage(given, items) == 0.5
    # A statement inside a longer word is not the statement.
    assert audit.given_coverage(["zeft are taller than yompish."], items) == 0.0
    assert audit.given_coverage([], items) == 0.0
    assert audit.given_coverage(given, []) is None


def test_oracle_local_augmentation_covers_every_held_out_celebrity_item():
    import random

    from core.methods import augment
    from core.running.runner import _coverage
    from core.worlds import build_world
    world = build_world("celebrities", 0, "quick")
    documents = [d.text for d in world.documents]
    aug = augment.augment(world, ("local",), "oracle", None)
    dressed = [world.as_document(s, random.Random(0)) for s in aug.training_texts()]
    assert _coverage(world, documents) == 0.0  # the reversal curse's premise: never stated
    assert _coverage(world, documents + dressed) == 1.0

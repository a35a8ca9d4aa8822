"""Scoring and generation against plain transformers calls.

How close is close enough. The fast scoring path (shared prefix attended in place, an item's
prompt encoded once for all its choices) computes the same function as one plain forward pass
per pair, in another order. Both run in float32, so they differ by rounding; we compare the
fast path against a float64 forward pass of the same model, which removes the reference's own
rounding from the comparison. Measured on the default model (2026-11-30, AVX2 and AVX-512
CPUs): the fast path is within about 2e-5 nats per scored token of float64 (the plain float32
pass within 1e-6: the fast path's float32 softmax over the concatenated scores rounds more),
whatever the thread count. A mistake in what a token attends to moves the log-likelihood by
far more: one choice's single token leaking into the next choice's view moved that choice by
6e-3 nats per token (`test_a_leak_between_choices_is_caught`). The bound, TOKEN_BOUND nats per
scored token, lies between the two: ten times the rounding we measured, thirty times below
that smallest leak.
"""

import copy
import json

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from core.__main__ import main
from core.lm import generation, models, scoring

TOKEN_BOUND = 2e-4  # nats per scored token: see the module docstring

PAIRS = [
    ("femp are", " more dangerous than glon."),
    ("", " hello world"),
    ("The capital of France is", " Paris."),
    ("Did you know?\nspoog are more patient than", " snieg."),
    ("A long context " * 30, " ends here."),
]


def in_float64(lm):
    return models.LM(lm.name, copy.deepcopy(lm.model).double(), lm.tokenizer, lm.device)


@pytest.fixture(scope="module")
def float64_lm(default_lm):
    """The default model in float64: the reference the fast path is held to."""
    return in_float64(default_lm)


def bound(lm, continuation: str) -> float:
    return TOKEN_BOUND * len(lm.encode(continuation))


def plain_loglik(lm, context, continuation, shared=""):
    """One sequence at a time, full logits: what a plain loop would compute."""
    ids = lm.start_ids + lm.encode(shared) + lm.encode(context) + lm.encode(continuation)
    n = len(lm.encode(continuation))
    with torch.no_grad():
        logprobs = torch.log_softmax(lm.model(torch.tensor([ids], device=lm.device)).logits[0].double(), -1)
    return sum(logprobs[len(ids) - n - 1 + k, ids[len(ids) - n + k]].item() for k in range(n))


def test_score_command_matches_a_plain_forward_pass(default_lm, float64_lm, tmp_path, monkeypatch):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"id": i, "context": c, "continuation": x}) + "\n"
                             for i, (c, x) in enumerate(PAIRS)))
    out = tmp_path / "out.jsonl"
    # In this process, on the model already loaded (tests/test_cli.py runs `python -m core`).
    monkeypatch.setattr(models, "load", lambda name, device=None: default_lm)
    assert main(["score", "--model", "default", "--pairs", str(pairs), "--out", str(out),
                 "--convention", "lab"]) == 0
    scores = {row["id"]: row["loglik"] for row in map(json.loads, out.read_text().splitlines())}
    for i, (context, continuation) in enumerate(PAIRS):
        reference = plain_loglik(float64_lm, context, continuation)
        assert abs(scores[i] - reference) < bound(default_lm, continuation)


def test_shared_context_scoring_equals_full_concatenation(default_lm, float64_lm):
    shared = "Use the following facts to answer.\n\nDid you know?\nspoog are more patient than snieg.\n\n"
    fast = scoring.loglikelihoods(default_lm, PAIRS[:4], shared_context=shared)
    for score, (context, continuation) in zip(fast, PAIRS[:4]):
        reference = plain_loglik(float64_lm, context, continuation, shared)
        assert abs(score - reference) < bound(default_lm, continuation)


ITEM_SHARED = "Facts: femp are more dangerous than glon.\n\n"
ITEM_PAIRS = [("femp are", " more dangerous than glon."), ("glon are", " less"),
              ("femp are", " less dangerous than glon, as everyone knows."),
              ("femp are", " x."), ("glon are", " more dangerous than femp.")]


def test_choices_sharing_an_item_prompt_score_as_if_alone(default_lm, float64_lm):
    # Choices of different lengths share their prompt's encoding, interleaved with other items.
    fast = scoring.loglikelihoods(default_lm, ITEM_PAIRS, shared_context=ITEM_SHARED)
    for score, (context, continuation) in zip(fast, ITEM_PAIRS):
        reference = plain_loglik(float64_lm, context, continuation, ITEM_SHARED)
        assert abs(score - reference) < bound(default_lm, continuation)


def test_a_leak_between_choices_is_caught(default_lm, float64_lm, monkeypatch):
    """The bound above is not so loose that a bug passes: let each choice also see the choices
    before it in its row (what a wrong mask would do), and the later choices miss by far more."""
    honest_mask = scoring._item_mask

    def leaky_mask(rows, width, device):
        mask = honest_mask(rows, width, device)
        for r, row in enumerate(rows):
            n = len(row.ids)
            mask[r, 0, :n, :n] = torch.ones(n, n, dtype=torch.bool).tril()
        return mask

    monkeypatch.setattr(scoring, "_item_mask", leaky_mask)
    leaky = scoring.loglikelihoods(default_lm, ITEM_PAIRS, shared_context=ITEM_SHARED)
    misses = [abs(score - plain_loglik(float64_lm, context, continuation, ITEM_SHARED))
              / bound(default_lm, continuation)
              for score, (context, continuation) in zip(leaky, ITEM_PAIRS)]
    # Pairs 2 and 3 follow another choice of "femp are"; pair 4 follows "glon are"'s first.
    assert min(misses[2:]) > 10, misses


def test_many_choices_of_one_prompt_split_into_rows_and_still_score_alone(tiny_lm):
    pairs = [("", f" choice number {k} " + "and more words " * k) for k in range(40)]
    rows = scoring._item_rows([(tiny_lm.encode(c), tiny_lm.encode(x)) for c, x in pairs],
                              tiny_lm.start_ids[-1:])
    assert len(rows) > 1 and all(len(row.ids) <= 256 or len(row.scored) == 1 for row in rows)
    assert sorted(index for row in rows for index, _, _ in row.scored) == list(range(40))
    reference = in_float64(tiny_lm)
    for score, (context, continuation) in zip(scoring.loglikelihoods(tiny_lm, pairs), pairs):
        assert abs(score - plain_loglik(reference, context, continuation)) < bound(tiny_lm, continuation)


def test_shared_prefix_attention_in_small_chunks_scores_the_same(tiny_lm, monkeypatch):
    from core.lm import prefix_attention
    shared = "Facts: femp are more dangerous than glon. " * 5
    whole = scoring.loglikelihoods(tiny_lm, PAIRS, shared_context=shared)
    monkeypatch.setattr(prefix_attention, "SCORES_PER_CHUNK", 64)  # a query or two at a time
    chunked = scoring.loglikelihoods(tiny_lm, PAIRS, shared_context=shared)
    reference = in_float64(tiny_lm)
    for fast, slow, (context, continuation) in zip(chunked, whole, PAIRS):
        assert abs(fast - slow) < bound(tiny_lm, continuation)
        assert abs(fast - plain_loglik(reference, context, continuation, shared)) < \
            bound(tiny_lm, continuation)


def test_generation_with_shared_prefix_matches_plain_generation(default_lm):
    prefix, prompts = "The capital of France", [" is", " is a city called"]
    shared = generation.generate(default_lm, prompts, max_new_tokens=8, shared_prefix=prefix)
    alone = generation.generate(default_lm, [prefix + p for p in prompts], max_new_tokens=8)
    assert shared == alone
    assert shared[0].strip().startswith("Paris")


def test_batched_generation_matches_one_at_a_time(tiny_lm):
    prompts = ["a", "a much longer prompt than the first one", "medium prompt"]
    batched = generation.generate(tiny_lm, prompts, max_new_tokens=6, stop="")
    single = [generation.generate(tiny_lm, [p], max_new_tokens=6, stop="")[0] for p in prompts]
    assert batched == single


def test_tiny_model_is_the_same_every_load(tiny_lm):
    again = models.load("tiny")
    assert scoring.loglikelihoods(again, PAIRS[:2]) == scoring.loglikelihoods(tiny_lm, PAIRS[:2])
    assert again.config.num_hidden_layers == 2


@given(st.lists(st.integers(1, 300), min_size=1, max_size=60))
def test_score_batches_take_every_row_once_within_budget_and_with_little_padding(lengths):
    batches = scoring._batches(lengths)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    for batch in batches:
        width = max(lengths[i] for i in batch)
        assert len(batch) == 1 or len(batch) * width <= scoring.TOKEN_BUDGET
        # Padding is at most a tenth of each row: pads cost what tokens cost.
        assert all(lengths[i] >= scoring.MIN_FILL * width for i in batch)

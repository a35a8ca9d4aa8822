"""Scoring and generation against plain transformers calls."""

import json
import subprocess
import sys

import torch

from core import models
from core.paths import REPO_ROOT

PAIRS = [
    ("femp are", " more dangerous than glon."),
    ("", " hello world"),
    ("The capital of France is", " Paris."),
    ("Did you know?\nspoog are more patient than", " snieg."),
    ("A long context " * 30, " ends here."),
]


def plain_loglik(lm, context, continuation, shared=""):
    """One sequence at a time, full logits: what a plain loop would compute."""
    ids = lm.start_ids + lm.encode(shared) + lm.encode(context) + lm.encode(continuation)
    n = len(lm.encode(continuation))
    with torch.no_grad():
        logprobs = torch.log_softmax(lm.model(torch.tensor([ids], device=lm.device)).logits[0].double(), -1)
    return sum(logprobs[len(ids) - n - 1 + k, ids[len(ids) - n + k]].item() for k in range(n))


def test_score_command_matches_a_plain_forward_pass(default_lm, tmp_path):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"id": i, "context": c, "continuation": x}) + "\n"
                             for i, (c, x) in enumerate(PAIRS)))
    out = tmp_path / "out.jsonl"
    result = subprocess.run([sys.executable, "-m", "core", "score", "--model", "default",
                             "--pairs", str(pairs), "--out", str(out)], capture_output=True,
                            text=True, cwd=REPO_ROOT, timeout=600)
    assert result.returncode == 0, result.stderr
    scores = {row["id"]: row["loglik"] for row in map(json.loads, out.read_text().splitlines())}
    for i, (context, continuation) in enumerate(PAIRS):
        assert abs(scores[i] - plain_loglik(default_lm, context, continuation)) < 1e-4


def test_shared_context_scoring_equals_full_concatenation(default_lm):
    shared = "Use the following facts to answer.\n\nDid you know?\nspoog are more patient than snieg.\n\n"
    fast = models.loglikelihoods(default_lm, PAIRS[:4], shared_context=shared)
    for score, (context, continuation) in zip(fast, PAIRS[:4]):
        assert abs(score - plain_loglik(default_lm, context, continuation, shared)) < 1e-4


def test_choices_sharing_an_item_prompt_score_as_if_alone(default_lm):
    # Choices of different lengths share their prompt's encoding, interleaved with other items.
    shared = "Facts: femp are more dangerous than glon.\n\n"
    pairs = [("femp are", " more dangerous than glon."), ("glon are", " less"),
             ("femp are", " less dangerous than glon, as everyone knows."),
             ("femp are", " x."), ("glon are", " more dangerous than femp.")]
    fast = models.loglikelihoods(default_lm, pairs, shared_context=shared)
    for score, (context, continuation) in zip(fast, pairs):
        assert abs(score - plain_loglik(default_lm, context, continuation, shared)) < 1e-4


def test_many_choices_of_one_prompt_split_into_rows_and_still_score_alone(tiny_lm):
    pairs = [("", f" choice number {k} " + "and more words " * k) for k in range(40)]
    rows = models._item_rows(tiny_lm, pairs, tiny_lm.start_ids[-1])
    assert len(rows) > 1 and all(len(row.ids) <= 256 or len(row.scored) == 1 for row in rows)
    assert sorted(index for row in rows for index, _, _ in row.scored) == list(range(40))
    for score, (context, continuation) in zip(models.loglikelihoods(tiny_lm, pairs), pairs):
        assert abs(score - plain_loglik(tiny_lm, context, continuation)) < 1e-3


def test_shared_prefix_attention_in_small_chunks_scores_the_same(tiny_lm, monkeypatch):
    from core import prefix_attention
    shared = "Facts: femp are more dangerous than glon. " * 5
    whole = models.loglikelihoods(tiny_lm, PAIRS, shared_context=shared)
    monkeypatch.setattr(prefix_attention, "SCORES_PER_CHUNK", 64)  # a query or two at a time
    chunked = models.loglikelihoods(tiny_lm, PAIRS, shared_context=shared)
    for fast, slow, (context, continuation) in zip(chunked, whole, PAIRS):
        assert abs(fast - slow) < 1e-4
        assert abs(fast - plain_loglik(tiny_lm, context, continuation, shared)) < 1e-3


def test_generation_with_shared_prefix_matches_plain_generation(default_lm):
    prefix, prompts = "The capital of France", [" is", " is a city called"]
    shared = models.generate(default_lm, prompts, max_new_tokens=8, shared_prefix=prefix)
    alone = models.generate(default_lm, [prefix + p for p in prompts], max_new_tokens=8)
    assert shared == alone
    assert shared[0].strip().startswith("Paris")


def test_batched_generation_matches_one_at_a_time(tiny_lm):
    prompts = ["a", "a much longer prompt than the first one", "medium prompt"]
    batched = models.generate(tiny_lm, prompts, max_new_tokens=6, stop="")
    single = [models.generate(tiny_lm, [p], max_new_tokens=6, stop="")[0] for p in prompts]
    assert batched == single


def test_tiny_model_is_the_same_every_load(tiny_lm):
    again = models.load("tiny")
    assert models.loglikelihoods(again, PAIRS[:2]) == models.loglikelihoods(tiny_lm, PAIRS[:2])
    assert again.config.num_hidden_layers == 2

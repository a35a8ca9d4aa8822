"""`python -m core score` on a harness-shaped request file: pairs grouped by their longest
shared context prefix, each prefix encoded once, scores equal to one plain forward per pair."""

import json

import torch
from test_models import in_float64

from core.__main__ import main
from core.lm import models, requests

PASSAGE = ("The committee met on a grey morning to settle the matter of the bridge, which had "
           "been argued over for three winters and two elections. ") * 3


def harness_pairs() -> list[tuple[str, str]]:
    """Two passages, three questions each, three choices a question; plus two lone pairs."""
    pairs = []
    for passage in (PASSAGE, PASSAGE.replace("bridge", "tower")):
        for q in range(3):
            question = f"{passage}\nQuestion {q}: what was decided? Answer:"
            pairs += [(question, f" option {c} of {q}") for c in "abc"]
    return pairs + [("Hello", " world"), ("", " an empty context")]


def plain(lm, context_ids, continuation_ids) -> float:
    ids = context_ids + continuation_ids
    with torch.no_grad():
        logprobs = torch.log_softmax(lm.model(torch.tensor([ids])).logits[0].double(), -1)
    n = len(continuation_ids)
    return sum(logprobs[len(ids) - n - 1 + k, ids[len(ids) - n + k]].item() for k in range(n))


def test_the_harness_convention_moves_trailing_spaces_and_reads_an_empty_context_as_eos(tiny_lm):
    context, continuation = requests.encode_pair(tiny_lm, "The answer is ", "Paris", "harness")
    assert context == tiny_lm.encode("The answer is")
    assert context + continuation == tiny_lm.encode("The answer is Paris")
    assert requests.encode_pair(tiny_lm, "", " x", "harness")[0] == [tiny_lm.tokenizer.eos_token_id]
    assert requests.encode_pair(tiny_lm, "a", " b", "lab") == (
        tiny_lm.start_ids + tiny_lm.encode("a"), tiny_lm.encode(" b"))


def test_contexts_behind_one_passage_form_one_group_and_the_rest_stay_together():
    passage = list(range(100))
    contexts = [passage + [1000 + q] for q in range(3) for _ in range(2)] + [[7, 8], [7, 9], [5]]
    groups = requests.prefix_groups(contexts, min_shared=32)
    assert groups[0] == (100, [0, 1, 2, 3, 4, 5])
    assert groups[1] == (0, [6, 7, 8])  # short or lone contexts: no prefix of their own


def test_grouped_scores_equal_one_plain_forward_per_pair(tiny_lm):
    reference = in_float64(tiny_lm)
    pairs = harness_pairs()
    for convention in requests.CONVENTIONS:
        encoded = [requests.encode_pair(tiny_lm, c, x, convention) for c, x in pairs]
        assert len(requests.prefix_groups([c for c, _ in encoded])) == 3  # two passages, the rest
        for score, (context_ids, continuation_ids) in zip(
                requests.score_requests(tiny_lm, pairs, convention), encoded):
            # float32 against float64 over a few hundred tokens of context: 1e-4 nats a token.
            assert abs(score - plain(reference, context_ids, continuation_ids)) < 1e-4 * len(
                continuation_ids), convention


def test_the_score_command_reads_a_request_file_in_the_harness_convention(tiny_lm, tmp_path,
                                                                           monkeypatch):
    pairs = harness_pairs()
    path, out = tmp_path / "requests.jsonl", tmp_path / "scores.jsonl"
    path.write_text("".join(json.dumps({"id": f"r{i}", "context": c, "continuation": x}) + "\n"
                            for i, (c, x) in enumerate(pairs)))
    monkeypatch.setattr(models, "load", lambda name, device=None: tiny_lm)
    assert main(["score", "--model", "tiny", "--pairs", str(path), "--out", str(out)]) == 0
    scores = [json.loads(line)["loglik"] for line in out.read_text().splitlines()]
    assert scores == requests.score_requests(tiny_lm, pairs, "harness")

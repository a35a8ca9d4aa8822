"""A second architecture family end to end: a tiny random GPT-2 (learned absolute positions,
LayerNorm, no rotary embedding, fused query-key-value projection), loaded from a Hugging Face
folder as a user's own model would be. Every method runs; scoring with a shared context, and
training on packed rows, give what the model's own code gives."""

import copy

import pytest
import torch
from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

from core.kernels.fused_loss import causal_lm_loss
from core.kernels.packed_attention import packed_rows
from core.lm import models, scoring
from core.methods import METHODS
from core.methods.finetune import FTConfig
from core.methods.packing import pack_rows, tokenize
from core.running.runner import RunSpec, execute
from core.worlds import build_world

SMALL = {"n_facts": 6, "n_dimensions": 2}


@pytest.fixture(scope="module")
def gpt2_lm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gpt2")
    tokenizer = AutoTokenizer.from_pretrained(models.default_model_dir())
    config = GPT2Config(vocab_size=len(tokenizer), n_embd=64, n_layer=2, n_head=4,
                        n_positions=1024, bos_token_id=tokenizer.bos_token_id,
                        eos_token_id=tokenizer.eos_token_id)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        GPT2LMHeadModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return models.load(str(folder))


def test_every_method_runs_on_a_second_architecture(gpt2_lm):
    world = build_world("reversals", 0, "quick", SMALL)
    for method in METHODS:
        spec = RunSpec(method=method, overrides=SMALL, model=gpt2_lm.name, aug_source="oracle",
                       ft=FTConfig(epochs=1))
        result = execute(spec, world, gpt2_lm)
        assert {m.split for m in result.metrics} == {"forward", "reversal"}, method
        assert all(0.0 <= m.accuracy <= 1.0 for m in result.metrics)
        assert [c.phase for c in result.costs][-1] == "evaluate"


def test_shared_context_scoring_is_the_models_own_forward(gpt2_lm):
    reference = models.LM(gpt2_lm.name, copy.deepcopy(gpt2_lm.model).double(),
                          gpt2_lm.tokenizer, gpt2_lm.device)
    shared = "Use the following facts to answer.\n\nspoog are more patient than snieg.\n\n"
    pairs = [("femp are", " more dangerous than glon."), ("", " hello world"),
             ("spoog are", " less patient than snieg.")]
    for score, (context, continuation) in zip(
            scoring.loglikelihoods(gpt2_lm, pairs, shared_context=shared), pairs):
        ids = (reference.start_ids + reference.encode(shared) + reference.encode(context)
               + reference.encode(continuation))
        n = len(reference.encode(continuation))
        with torch.no_grad():
            logits = reference.model(torch.tensor([ids])).logits[0]
        logprobs = torch.log_softmax(logits, -1)
        plain = sum(logprobs[len(ids) - n - 1 + k, ids[len(ids) - n + k]].item() for k in range(n))
        # float32 against float64 over a few dozen tokens: rounding, not a leak (a token that
        # saw another item would move the score by far more; see tests/test_models.py).
        assert abs(score - plain) < 2e-4 * n


def test_packed_training_rows_have_the_loss_of_separate_documents(gpt2_lm):
    texts = ["femp are more dangerous than glon.", "Did you know?\nspoog are tall.",
             "zeft are less curious than yomp."]
    rows = tokenize(gpt2_lm, [("", t) for t in texts])
    model = gpt2_lm.model
    with packed_rows(model), torch.no_grad():
        packed = causal_lm_loss(model, **pack_rows(rows, gpt2_lm.device))
    losses, tokens = 0.0, 0
    with torch.no_grad():
        for ids, start in rows:
            labels = torch.tensor([[-100] * start + ids[start:]])
            n = int((labels[0, 1:] != -100).sum())
            losses += model(input_ids=torch.tensor([ids]), labels=labels).loss.item() * n
            tokens += n
    assert packed.item() == pytest.approx(losses / tokens, abs=1e-5)


def test_each_run_records_the_fast_paths_its_model_took(gpt2_lm, tiny_lm):
    world = build_world("reversals", 0, "quick", SMALL)
    gpt2 = execute(RunSpec(method="pretrained", overrides=SMALL, model=gpt2_lm.name), world,
                   gpt2_lm)
    # GPT-2 has LayerNorm and learned positions: no fused RMSNorm, no rotary embedding.
    assert gpt2.extra["fast_paths"] == ["fused_loss", "packed_attention", "prefix_attention"]
    llama = execute(RunSpec(method="pretrained", overrides=SMALL, model="tiny"), world, tiny_lm)
    assert llama.extra["fast_paths"] == ["fused_loss", "fused_norm", "fused_rotary",
                                         "packed_attention", "prefix_attention"]

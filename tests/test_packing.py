"""A batch packed as a tree (shared openings computed once) trains exactly as the same batch
packed end to end: the same loss and gradients, from fewer tokens."""

import copy

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from core.kernels.fused_loss import IGNORE, causal_lm_loss
from core.kernels.fused_norm import fused_rms_norms
from core.kernels.packed_attention import packed_rows
from core.lm import models
from core.methods.config import FTConfig
from core.methods.finetune import train
from core.methods.packing import pack_rows, pack_tree, tokenize

# Openings shared two and three ways, a context without loss (as `cumulative` splitting makes),
# an example given twice, and a one-token one.
EXAMPLES = [("", "From the encyclopedia:\nglon are more dangerous than femp."),
            ("", "From the encyclopedia:\nfemp are less dangerous than glon."),
            ("", "From the field guide:\nCompared to femp, glon are more dangerous."),
            ("Did you know?", "\nyes, they are."), ("Did you know?", "\nno."),
            ("", "Fact of the week:\nspoog are more patient than snieg."),
            ("", "Fact of the week:\nspoog are more patient than snieg."), ("", "a")]


@pytest.fixture(scope="module")
def float64_tiny(tiny_lm):
    """The tiny model in float64, trainable: differences are the packing's, not rounding's."""
    model = copy.deepcopy(tiny_lm.model).double().requires_grad_(True)
    return models.LM(tiny_lm.name, model, tiny_lm.tokenizer, tiny_lm.device)


def _loss_and_grads(model, batch):
    model.zero_grad(set_to_none=True)
    with torch.enable_grad():
        loss = causal_lm_loss(model, **batch)
        loss.backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters()}
    model.zero_grad(set_to_none=True)
    return loss.item(), grads


def test_a_tree_has_the_loss_and_gradients_of_the_rows_from_fewer_tokens(float64_tiny):
    lm = float64_tiny
    rows = tokenize(lm, EXAMPLES)
    plain_batch, tree_batch = pack_rows(rows, lm.device, 1), pack_tree(rows, lm.device, 1)
    assert tree_batch["input_ids"].shape[1] < 0.8 * plain_batch["input_ids"].shape[1]
    with packed_rows(lm.model), fused_rms_norms(lm.model):  # as fine-tuning runs
        plain_loss, plain = _loss_and_grads(lm.model, plain_batch)
        tree_loss, tree = _loss_and_grads(lm.model, tree_batch)
    # Float64 throughout (2.2e-16 relative): the same sums in another order agree to about
    # 1e-15 of their size; a token attending to the wrong one, or a weight off by one, moves
    # them by 1e-3.
    assert abs(tree_loss - plain_loss) < 1e-12 * plain_loss
    for name, grad in plain.items():
        assert (tree[name] - grad).abs().max() <= 1e-12 * grad.abs().max(), name


def test_transformers_own_attention_reads_the_trees_mask_as_packed_attention_does(float64_tiny):
    lm = float64_tiny
    rows = tokenize(lm, EXAMPLES)
    with packed_rows(lm.model):
        plain_loss, plain = _loss_and_grads(lm.model, pack_rows(rows, lm.device, 1))
    own_loss, own = _loss_and_grads(lm.model, pack_tree(rows, lm.device, 1))
    # Transformers' RMSNorm computes in float32 even in a float64 model, and a shared token's
    # gradient crosses it once, summed, where the rows' copies cross it one by one: the two
    # differ by float32 rounding (1.2e-7 relative), a wrong mask by 1e-3.
    assert abs(own_loss - plain_loss) < 1e-6 * plain_loss
    for name, grad in plain.items():
        assert (own[name] - grad).abs().max() <= 1e-6 * grad.abs().max(), name


def test_a_tree_without_its_mask_would_differ(float64_tiny):
    """The check above can fail: letting every token of a document see all before it (the
    causal mask, not the tree's) changes the loss."""
    lm = float64_tiny
    tree_batch = pack_tree(tokenize(lm, EXAMPLES), lm.device, 1)
    causal = {**tree_batch, "attention_mask": None}
    with packed_rows(lm.model):
        tree_loss, _ = _loss_and_grads(lm.model, tree_batch)
        leaky_loss, _ = _loss_and_grads(lm.model, causal)
    assert abs(tree_loss - leaky_loss) > 1e-3


def test_a_tree_pads_to_a_multiple_with_a_chain_of_its_own(tiny_lm):
    rows = tokenize(tiny_lm, EXAMPLES)
    batch = pack_tree(rows, tiny_lm.device, 32)
    width = batch["input_ids"].shape[1]
    real = pack_tree(rows, tiny_lm.device, 1)["input_ids"].shape[1]
    assert width % 32 == 0 and real <= width < real + 32
    assert (batch["targets"][0, real:] == IGNORE).all()
    assert batch["position_ids"][0, real].item() == 0
    allowed = batch["attention_mask"][0, 0]
    assert not allowed[real:, :real].any() and not allowed[:real, real:].any()



def test_a_batch_with_nothing_to_predict_is_a_row_without_loss(tiny_lm):
    batch = pack_tree([([0], 1), ([0], 1)], tiny_lm.device, 8)
    assert batch["input_ids"].shape == (1, 8) and not batch["target_weights"].any()
    assert causal_lm_loss(tiny_lm.model, **batch).item() == 0


tokens = st.lists(st.integers(1, 3), min_size=1, max_size=6)  # three words: much is shared


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(tokens, st.integers(1, 4)), min_size=1, max_size=8))
def test_every_scored_token_of_every_example_is_in_the_tree_once_per_example(examples):
    """Walking each token's ancestors in the mask gives back exactly the examples' prefixes,
    at the examples' positions, with each (prefix, target) weighted by the examples that score
    it; the rest carries no loss."""
    rows = [([0, *ids], min(start, len(ids))) for ids, start in examples]
    batch = pack_tree(rows, torch.device("cpu"), 4)
    ids, positions = batch["input_ids"][0].tolist(), batch["position_ids"][0].tolist()
    targets, weights = batch["targets"][0].tolist(), batch["target_weights"][0].tolist()
    allowed = batch["attention_mask"][0, 0]
    expected: dict[tuple, int] = {}
    for example, loss_start in rows:
        for position in range(loss_start - 1, len(example) - 1):
            key = (tuple(example[:position + 1]), example[position + 1])
            expected[key] = expected.get(key, 0) + 1
    found: dict[tuple, int] = {}
    for node, weight in enumerate(weights):
        seen = allowed[node].nonzero()[:, 0].tolist()  # ancestors and itself, in row order
        assert positions[node] == len(seen) - 1
        assert [positions[a] for a in seen] == list(range(len(seen)))
        if weight:
            key = (tuple(ids[a] for a in seen), targets[node])
            found[key] = found.get(key, 0) + int(weight)
        else:
            assert targets[node] == IGNORE
    assert found == expected


def test_training_on_a_cpu_computes_the_shared_openings_once(tiny_lm):
    examples = [("", text) for _, text in EXAMPLES]
    with models.weights_restored(tiny_lm):
        result = train(tiny_lm, examples, FTConfig(max_steps=2, batch_size=len(examples)))
    assert result.tokens == 2 * sum(len(ids) for ids, _ in tokenize(tiny_lm, examples))
    assert result.computed_tokens < 0.8 * result.tokens


def test_a_head_the_fused_loss_does_not_cover_weighs_a_trees_rows_as_well(float64_tiny,
                                                                           monkeypatch):
    """Models whose head has a bias or a scale take transformers' logits and a weighted
    cross-entropy instead: the tree's loss is the rows' there too."""
    from core.kernels import fused_loss
    lm = float64_tiny
    rows = tokenize(lm, EXAMPLES)
    with packed_rows(lm.model), torch.no_grad():
        fused = causal_lm_loss(lm.model, **pack_tree(rows, lm.device, 1)).item()
        monkeypatch.setattr(fused_loss, "_plain_head", lambda *args: False)
        plain = causal_lm_loss(lm.model, **pack_rows(rows, lm.device, 1)).item()
        tree = causal_lm_loss(lm.model, **pack_tree(rows, lm.device, 1)).item()
    # The logits' cross-entropy in float32 (transformers' RMSNorm too): 1e-6 relative.
    assert abs(tree - plain) < 1e-6 * plain and abs(fused - plain) < 1e-6 * plain

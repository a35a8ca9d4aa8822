"""Training's rotary embedding (core/kernels/fused_rotary.py) computes transformers' own, and the
model really uses it inside `fused_rotary`."""

import importlib

import pytest
import torch

from core.kernels import fused_rotary
from core.kernels.fused_loss import causal_lm_loss
from core.kernels.fused_rotary import SUPPORTED, _Rotate, apply_rotary_pos_emb
from core.kernels.packed_attention import packed_rows
from core.methods.packing import pack_rows, tokenize


def _rotary_inputs(dtype: torch.dtype, q_dtype: torch.dtype):
    torch.manual_seed(0)
    tokens = 7
    angles = torch.arange(tokens, dtype=dtype)[:, None] * torch.rand(4, dtype=dtype)[None]
    angles = torch.cat([angles, angles], -1)[None]  # [1, tokens, 8], as the models make them
    q = torch.randn(1, 3, tokens, 8, dtype=q_dtype, requires_grad=True)
    k = torch.randn(1, 1, tokens, 8, dtype=q_dtype, requires_grad=True)
    return q, k, angles.cos(), angles.sin()


def test_the_rotation_is_exact_in_float64():
    q, _, cos, sin = _rotary_inputs(torch.float64, torch.float64)
    assert torch.autograd.gradcheck(lambda x: _Rotate.apply(x, cos[:, None], sin[:, None]), (q,))


@pytest.mark.parametrize("module_name", SUPPORTED)
def test_each_supported_module_computes_what_the_fused_function_does(module_name):
    """Bit for bit the same outputs and gradients, for float32 queries and for bf16 queries
    with float32 angles (as under autocast)."""
    original = importlib.import_module(module_name).apply_rotary_pos_emb
    for q_dtype in (torch.float32, torch.bfloat16):
        results = []
        for function in (original, apply_rotary_pos_emb):
            q, k, cos, sin = _rotary_inputs(torch.float32, q_dtype)
            q_out, k_out = function(q, k, cos, sin)
            (q_out * torch.linspace(-1, 1, 8) + k_out.sum(1, keepdim=True)).sum().backward()
            results.append((q_out, k_out, q.grad, k.grad))
        for theirs, ours in zip(*results):
            assert theirs.dtype == ours.dtype and torch.equal(theirs, ours)


def test_training_goes_through_it_and_the_original_comes_back(tiny_lm, monkeypatch):
    module = importlib.import_module(type(tiny_lm.model).__module__)
    original = module.apply_rotary_pos_emb
    calls = []
    counting = lambda *args, **kwargs: calls.append(1) or apply_rotary_pos_emb(*args, **kwargs)  # noqa: E731
    monkeypatch.setattr(fused_rotary, "apply_rotary_pos_emb", counting)
    batch = pack_rows(tokenize(tiny_lm, [("", "glon are more dangerous than femp.")]), tiny_lm.device)
    with packed_rows(tiny_lm.model), fused_rotary.fused_rotary(tiny_lm.model), torch.no_grad():
        causal_lm_loss(tiny_lm.model, **batch)
    assert len(calls) == tiny_lm.model.config.num_hidden_layers
    assert module.apply_rotary_pos_emb is original

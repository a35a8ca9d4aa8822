"""Fine-tuning's fast path computes what the plain one does: the fused head and loss, rows
padded to a multiple of 32 tokens, and weights read into the process's own memory at load."""

import pytest
import torch

from core.kernels.fused_loss import _plain_head, causal_lm_loss, linear_cross_entropy
from core.kernels.packed_attention import packed_rows
from core.lm import models
from core.methods.packing import ROW_MULTIPLE, pack_rows, tokenize

EXAMPLES = [("", "glon are more dangerous than femp."), ("Did you know?", "\nyes, they are."),
            ("", "a")]


def _loss_and_grads(model, batch, fused: bool, autocast: bool = False):
    model.zero_grad(set_to_none=True)
    with torch.enable_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        loss = (causal_lm_loss(model, **batch) if fused
                else model(**batch, use_cache=False).loss)
        loss.backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters()}
    model.zero_grad(set_to_none=True)
    return loss.item(), grads


@pytest.fixture
def trainable_tiny(tiny_lm):
    tiny_lm.model.requires_grad_(True)
    yield tiny_lm
    models.restore_weights(tiny_lm)


def test_fused_loss_has_the_models_loss_and_gradients(trainable_tiny):
    """In float32 the fused head and cross-entropy equal transformers' loss and every
    gradient, the tied embedding's included; context tokens and padding carry no loss."""
    lm = trainable_tiny
    batch = pack_rows(tokenize(lm, EXAMPLES), lm.device)
    with packed_rows(lm.model):
        plain_loss, plain = _loss_and_grads(lm.model, batch, fused=False)
        fused_loss, fused = _loss_and_grads(lm.model, batch, fused=True)
    # Float32, the same products summed in another order: a loss near ln(vocabulary) = 10.8
    # rounds at about 1e-6 (float32's 1.2e-7 relative), gradients at 1e-7 of their largest
    # entry; the bounds are ten to a hundred times that, and a wrong mask or a lost token
    # moves the loss by 1e-2 or more.
    assert abs(plain_loss - fused_loss) < 1e-5
    for name, grad in plain.items():
        assert (grad - fused[name]).abs().max() <= 1e-5 * max(1.0, grad.abs().max().item()), name


def test_fused_loss_under_autocast_is_within_bf16_rounding_of_float32(trainable_tiny):
    lm = trainable_tiny
    batch = pack_rows(tokenize(lm, EXAMPLES), lm.device)
    with packed_rows(lm.model):
        exact_loss, exact = _loss_and_grads(lm.model, batch, fused=False)
        low_loss, low = _loss_and_grads(lm.model, batch, fused=True, autocast=True)
    assert abs(exact_loss - low_loss) < 0.02 * exact_loss
    weight = "model.layers.0.mlp.down_proj.weight"
    error = (low[weight] - exact[weight]).norm() / exact[weight].norm()
    assert 0 < error < 0.05  # rounded, so not equal; within bf16's 3 significant digits


def test_fused_loss_scales_with_the_outer_gradient_and_ignores_everything_ignored():
    torch.manual_seed(0)
    hidden = torch.randn(6, 8, requires_grad=True)
    weight = torch.randn(11, 8, requires_grad=True)
    targets = torch.tensor([3, -100, 0, 10, -100, 7])
    (2 * linear_cross_entropy(hidden, weight, targets)).backward()
    reference_hidden = hidden.detach().clone().requires_grad_(True)
    reference_weight = weight.detach().clone().requires_grad_(True)
    reference = torch.nn.functional.cross_entropy(reference_hidden @ reference_weight.t(), targets)
    (2 * reference).backward()
    # Entries of order 1 in float32 (1.2e-7 relative): 1e-6 is a few roundings of each sum.
    assert torch.allclose(hidden.grad, reference_hidden.grad, atol=1e-6)
    assert torch.allclose(weight.grad, reference_weight.grad, atol=1e-6)
    assert hidden.grad[1].abs().max() == 0 and hidden.grad[4].abs().max() == 0
    all_ignored = linear_cross_entropy(hidden, weight, torch.full((6,), -100))
    assert all_ignored.item() == 0  # no division by zero


def test_heads_the_fused_loss_does_not_cover_use_the_models_own_loss(tiny_lm):
    assert _plain_head(tiny_lm.model, tiny_lm.model.get_output_embeddings())
    biased = torch.nn.Linear(4, 4, bias=True)
    assert not _plain_head(tiny_lm.model, biased)


def test_packed_rows_are_padded_to_a_multiple_without_loss_on_the_padding(tiny_lm):
    rows = tokenize(tiny_lm, EXAMPLES)
    batch = pack_rows(rows, tiny_lm.device)
    real = sum(len(ids) for ids, _ in rows)
    width = batch["input_ids"].shape[1]
    assert width % ROW_MULTIPLE == 0 and real <= width < real + ROW_MULTIPLE
    assert (batch["labels"][0, real:] == -100).all()
    assert batch["position_ids"][0, real].item() == 0  # the padding is a document of its own


def test_weights_are_read_into_the_process_from_the_safetensors_file(tiny_lm, tmp_path):
    """The reader that gives loaded weights memory of their own puts back exactly what the
    file holds, keeps tied weights tied, and leaves tensors it cannot match alone."""
    from safetensors.torch import load_file
    folder = tmp_path / "tiny"
    tiny_lm.model.save_pretrained(folder)
    file = folder / "model.safetensors"
    model = models._tiny_model(tiny_lm.tokenizer)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    models._read_into_own_memory(model, file)
    stored = load_file(file)
    for name, value in stored.items():
        assert torch.equal(model.get_parameter(name), value), name
    assert model.lm_head.weight is model.model.embed_tokens.weight


def test_the_default_model_loads_into_its_own_memory(default_lm):
    """No parameter of the loaded default model lies in a memory map of its weights file
    (whose first write would cost a page fault per 4 KB)."""
    from pathlib import Path
    maps = Path("/proc/self/maps")
    if not maps.exists():
        pytest.skip("needs Linux's /proc")
    file = str(models._weights_file("default"))
    mapped = [tuple(int(x, 16) for x in line.split()[0].split("-"))
              for line in maps.read_text().splitlines() if line.endswith(file)]
    for p in default_lm.model.parameters():
        assert not any(start <= p.data_ptr() < end for start, end in mapped)


def test_packed_attention_refuses_a_row_without_position_ids():
    """Without them every document would read the ones before it in its row."""
    from core.kernels.packed_attention import packed_attention
    query = key = value = torch.zeros(1, 2, 6, 4)
    with pytest.raises(ValueError, match="needs the position ids"):
        packed_attention(torch.nn.Identity(), query, key, value, None)
    out, _ = packed_attention(torch.nn.Identity(), query, key, value, None,
                              position_ids=torch.tensor([[0, 1, 2, 0, 1, 2]]))
    assert out.shape == (1, 6, 2, 4)



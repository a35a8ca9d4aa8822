"""Training's RMSNorm (core/kernels/fused_norm.py) computes transformers' norm, keeps less for the
backward pass, and lets LoRA's adapters share their layer's bf16 input."""

import copy
import functools

import torch

from core.kernels.fused_loss import causal_lm_loss
from core.kernels.fused_norm import _RMSNorm, fused_rms_norms, rms_norm
from core.kernels.packed_attention import packed_rows
from core.lm import models
from core.methods.finetune import FTConfig, _wrap_lora
from core.methods.packing import pack_rows, tokenize

EXAMPLES = [("", "glon are more dangerous than femp."), ("Did you know?", "\nyes, they are.")]


def test_the_norms_gradients_are_exact_in_float64():
    torch.manual_seed(0)
    x = torch.randn(2, 5, 16, dtype=torch.float64, requires_grad=True)
    weight = torch.empty(16, dtype=torch.float64).uniform_(0.5, 1.5).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x, w: _RMSNorm.apply(x, w, 1e-5, torch.float64),
                                    (x, weight))


def test_the_norm_gives_each_projection_the_bf16_input_it_got_before(default_lm):
    """Under autocast: bitwise the bf16 rounding of transformers' float32 output. In float32:
    transformers' output and gradients."""
    norm = copy.deepcopy(default_lm.model.model.layers[0].input_layernorm).requires_grad_(True)
    torch.manual_seed(0)
    x = 3 * torch.randn(1, 50, norm.weight.numel())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fused = rms_norm(norm, x)
        plain = norm(x)
    assert fused.dtype == torch.bfloat16 and plain.dtype == torch.float32
    assert torch.equal(fused, plain.to(torch.bfloat16))

    grad = torch.randn_like(x)
    results = []
    with torch.enable_grad():
        for forward in (norm, functools.partial(rms_norm, norm)):
            x_ = x.clone().requires_grad_(True)
            out = forward(x_)
            results.append((out.detach(), *torch.autograd.grad(out, [x_, norm.weight], grad)))
    for plain_part, fused_part in zip(*results):
        assert (plain_part - fused_part).abs().max() <= 1e-5 * plain_part.abs().max()


def _saved_bytes(model, batch) -> tuple[int, float]:
    """Bytes autograd keeps for the backward pass of one bf16 forward through the layers
    (each tensor once, however many operations keep it), and a checksum of the bf16 input the
    head would get. The head itself is left out: it keeps nothing of its own (core/kernels/fused_loss.py
    computes its gradients in the forward pass), and a bf16 product with its 49,152 rows takes
    seconds on a CPU without bf16 units."""
    kept: dict[int, int] = {}

    def keep(tensor):
        kept[tensor.untyped_storage().data_ptr()] = tensor.untyped_storage().nbytes()
        return tensor

    with (torch.enable_grad(), torch.autocast("cpu", dtype=torch.bfloat16),
          torch.autograd.graph.saved_tensors_hooks(keep, lambda tensor: tensor)):
        causal = model.get_base_model() if hasattr(model, "get_base_model") else model
        hidden = causal.get_decoder()(input_ids=batch["input_ids"], use_cache=False,
                                      position_ids=batch["position_ids"]).last_hidden_state
    return sum(kept.values()), hidden.to(torch.bfloat16).double().sum().item()


def _kept_per_token_and_checksum(lm, model) -> tuple[float, float]:
    """Activation bytes kept per token (the weights' bf16 copies cancel between a batch and
    one with its documents three times), and the first batch's checksum."""
    batches = [pack_rows(tokenize(lm, EXAMPLES * n), lm.device) for n in (1, 3)]
    (small, loss), (large, _) = (_saved_bytes(model, batch) for batch in batches)
    tokens = [batch["input_ids"].numel() for batch in batches]
    return (large - small) / (tokens[1] - tokens[0]), loss


def test_fused_norms_keep_less_for_the_same_loss(default_lm):
    model = default_lm.model
    model.requires_grad_(True)
    try:
        with packed_rows(model):
            plain_bytes, plain_sum = _kept_per_token_and_checksum(default_lm, model)
            with fused_rms_norms(model):
                fused_bytes, fused_sum = _kept_per_token_and_checksum(default_lm, model)
    finally:
        models.restore_weights(default_lm)
    assert fused_sum == plain_sum  # the head, like every projection, gets the same bf16 input
    assert fused_bytes < 0.8 * plain_bytes  # 734 against 978 KB a token when written
    assert "forward" not in vars(model.model.norm)  # the model's own norms are back


def test_lora_adapters_share_their_layers_bf16_input(tiny_lm):
    """With autocast on, peft's cast of each adapter's input to float32 is off: the same loss
    and adapter gradients, less kept for the backward pass."""
    batch = pack_rows(tokenize(tiny_lm, EXAMPLES), tiny_lm.device)
    runs = []
    for autocast in (False, True):
        torch.manual_seed(0)  # the adapters' initial weights
        model = _wrap_lora(models._tiny_model(tiny_lm.tokenizer), FTConfig(mode="lora"), autocast)
        with torch.no_grad():  # B starts at zero, which would leave A without a gradient
            for name, p in model.named_parameters():
                if "lora_B" in name:
                    p.normal_()
        with packed_rows(model.get_base_model()), fused_rms_norms(model):
            saved, checksum = _kept_per_token_and_checksum(tiny_lm, model)
            with torch.enable_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
                causal_lm_loss(model, **batch).backward()
        grads = [p.grad for p in model.parameters() if p.requires_grad]
        runs.append((saved, checksum, grads))
    (casting_bytes, casting_sum, casting_grads), (shared_bytes, shared_sum, shared_grads) = runs
    assert shared_sum == casting_sum
    assert all(torch.equal(a, b) for a, b in zip(casting_grads, shared_grads))
    assert shared_bytes < casting_bytes

"""RMSNorm for training: one float32 copy of its input kept, its output in the autocast dtype.

transformers' RMSNorm is five float32 operations, and autograd keeps the input of most of them
for the backward pass: three float32 copies of the hidden states per norm. Its float32 output
then reaches the attention's query, key and value projections (the MLP's gate and up), and
autocast casts it to bf16 once for each of them, and each keeps its copy. Here one autograd
function does the norm: it keeps the input and one number per token, returns the bf16 output
every projection would have made (the same rounding of the same float32 result, so the same
loss), and recomputes the rest in the backward pass. On the default model that is 734 instead
of 978 KB kept per token (tests/test_fused_norm.py); the bench's 30 semantic-world steps peak
at 4.2 instead of 4.4 GB (full) and 2.9 instead of 3.1 GB (LoRA).

Only for training, and only inside `fused_rms_norms(model)`: the model's own norms come back
afterwards. The projections' gradients now add up in bf16 where they were added in float32, a
rounding of the same size as the ones the bf16 products already make.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

import torch

# Norms that compute weight * (x / rms(x)) exactly as Llama's does and whose output only
# enters linear layers; others keep their own (Qwen3's also normalize queries and keys before
# the rotary embedding, where a bf16 output would round what used to be float32).
SUPPORTED = ("LlamaRMSNorm", "MistralRMSNorm", "Qwen2RMSNorm")


class _RMSNorm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, eps: float,
                out_dtype: torch.dtype) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            exact = x.to(torch.promote_types(x.dtype, torch.float32))
            rstd = torch.rsqrt(exact.pow(2).mean(-1, keepdim=True) + eps)
            out = (weight * (exact * rstd).to(x.dtype)).to(out_dtype)
        ctx.save_for_backward(x, weight, rstd)
        return out

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        x, weight, rstd = ctx.saved_tensors
        with torch.autocast(x.device.type, enabled=False):
            normed = x.to(rstd.dtype) * rstd
            grad = grad_out.to(rstd.dtype)
            grad_weight = None
            if ctx.needs_input_grad[1]:
                grad_weight = (grad * normed.to(x.dtype)).flatten(0, -2).sum(0).to(weight.dtype)
            grad_normed = grad * weight.to(rstd.dtype)
            grad_x = rstd * (grad_normed - normed * (grad_normed * normed).mean(-1, keepdim=True))
        return grad_x.to(x.dtype), grad_weight, None, None


def rms_norm(module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """`module`'s norm of `x`, in the autocast dtype when autocast is on, else in the dtype
    the module itself returns."""
    device = x.device.type
    out_dtype = (torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device)
                 else torch.promote_types(module.weight.dtype, x.dtype))
    return _RMSNorm.apply(x, module.weight, module.variance_epsilon, out_dtype)


@contextlib.contextmanager
def fused_rms_norms(model: torch.nn.Module) -> Iterator[None]:
    """`model`'s supported RMSNorms run through `rms_norm` for a while."""
    norms = [m for m in model.modules() if type(m).__name__ in SUPPORTED]
    for norm in norms:
        norm.forward = functools.partial(rms_norm, norm)
    try:
        yield
    finally:
        for norm in norms:
            del norm.forward

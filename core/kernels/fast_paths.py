"""Which of the lab's fast paths a model takes, recorded with every run.

Each fast path knows the models it was written and tested for, and any other model runs
transformers' own code for that part:
- `fused_norm` (core/kernels/fused_norm.py): RMSNorm classes listed in its SUPPORTED;
- `fused_rotary` (core/kernels/fused_rotary.py): the modeling modules listed in its SUPPORTED;
- `fused_loss` (core/kernels/fused_loss.py): heads that are a plain linear map (no bias, scale or
  soft-capping);
- `packed_attention` and `prefix_attention` (training rows of several documents; scoring and
  generation after a shared context): any model that passes position ids to its attention
  function, which packed attention checks on every call. The tests hold them to the model's
  own code on Llama (the default model, the tiny model) and GPT-2 (tests/
  test_second_architecture.py).
"""

from __future__ import annotations

import torch

from core.kernels import fused_norm, fused_rotary
from core.kernels.fused_loss import _plain_head


def used(model: torch.nn.Module) -> list[str]:
    """The fast paths `model` takes, by name."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    classes = {type(m).__name__ for m in base.modules()}
    modules = {type(m).__module__ for m in base.modules()}
    names = ["packed_attention", "prefix_attention"]
    if classes & set(fused_norm.SUPPORTED):
        names.append("fused_norm")
    if modules & set(fused_rotary.SUPPORTED):
        names.append("fused_rotary")
    if _plain_head(base, base.get_output_embeddings()):
        names.append("fused_loss")
    return sorted(names)

"""Attention for packed training rows: each document attends only to itself.

Fine-tuning puts a batch's documents end to end in one row (no padding). Given such a row,
transformers builds a block-diagonal causal mask over the whole row and attends over all of it;
on this CPU that was a third of a training step, mostly in the flash kernel's backward pass.
Here each document runs its own causal attention instead: the same result (a test checks it),
without the row-squared work or the mask.

Documents are found from the position ids, which restart at 0 at each one.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from transformers import AttentionInterface
from transformers.masking_utils import AttentionMaskInterface

from core import attention

NAME = "lab_packed"


def document_starts(position_ids: torch.Tensor) -> list[int]:
    """Where each document of a packed row begins, and the row's end."""
    row = position_ids[0]
    return (row == 0).nonzero().flatten().tolist() + [row.numel()]


def packed_attention(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor,
                     value: torch.Tensor, attention_mask: torch.Tensor | None,
                     dropout: float = 0.0, scaling: float | None = None,
                     **kwargs) -> tuple[torch.Tensor, None]:
    """Causal attention within each document of a one-row batch; shapes as transformers'
    attention functions: query [1, heads, tokens, dim] in, [1, tokens, heads, dim] out."""
    position_ids = kwargs.get("position_ids")
    tokens = query.shape[2]
    starts = document_starts(position_ids) if position_ids is not None else [0, tokens]
    if query.shape[0] != 1 or starts[0] != 0 or starts[-1] != tokens:
        raise ValueError("packed attention expects one row whose positions start at 0")
    # On CPU the flash kernel's backward pass takes twice as long as the math path at these
    # lengths (a hundred tokens or so); a GPU keeps its own choice.
    on_cpu = query.device.type == "cpu"
    outputs = []
    with sdpa_kernel(SDPBackend.MATH) if on_cpu else contextlib.nullcontext():
        for start, end in zip(starts[:-1], starts[1:]):
            outputs.append(F.scaled_dot_product_attention(
                query[:, :, start:end], key[:, :, start:end], value[:, :, start:end],
                is_causal=True, scale=scaling, dropout_p=dropout, enable_gqa=True))
    return torch.cat(outputs, dim=2).transpose(1, 2).contiguous(), None


def _no_mask(*args, **kwargs) -> None:
    # The attention function masks by itself; building the row's mask is wasted work.
    return None


AttentionInterface.register(NAME, packed_attention)
AttentionMaskInterface.register(NAME, _no_mask)


def packed_rows(model: torch.nn.Module) -> contextlib.AbstractContextManager:
    """Train `model` on packed rows; its own attention comes back afterwards."""
    return attention.using(model, NAME)

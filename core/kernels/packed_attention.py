"""Attention for packed training rows: each document attends only to itself.

Fine-tuning puts a batch's documents end to end in one row (no padding). Given such a row,
transformers builds a block-diagonal causal mask over the whole row and attends over all of it;
on this CPU that was a third of a training step, mostly in the flash kernel's backward pass.
Here each document runs its own causal attention instead: the same result (tests check it, in
float64 and in bf16), without the row-squared work or the mask.

A GPU is the other way round: it is bound by kernel launches at these sizes, and a loop over
documents multiplies them (and the cuDNN kernel SDPA picks there builds a plan for every new
length: a fine-tuning step took 1 s on an H100). There one masked call per layer does the row.

Documents are found from the position ids, which restart at 0 at each one. A row packed as a
tree (core/methods/packing.py: examples that open alike share those tokens) comes with its
`attention_mask` [1, 1, tokens, tokens], True where a token may attend: each of its documents
then attends under its block of that mask instead of the causal one.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from transformers import AttentionInterface
from transformers.masking_utils import AttentionMaskInterface

from core.lm import attention

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
    if position_ids is None:
        # Without them the documents of a row cannot be told apart, and attending over the
        # whole row would let each read the ones before it: refuse rather than train so.
        raise ValueError(f"packed attention needs the position ids, and "
                         f"{type(module).__name__} does not pass them to its attention function")
    if query.shape[0] != 1 or position_ids.shape[-1] != tokens:
        raise ValueError("packed attention expects one row of position ids")
    allowed = attention_mask[0, 0] if attention_mask is not None else None
    attend = per_document if query.device.type == "cpu" else block_masked
    out = attend(query, key, value, position_ids, scaling, dropout, allowed)
    return out.transpose(1, 2).contiguous(), None


def per_document(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                 position_ids: torch.Tensor, scaling: float | None,
                 dropout: float = 0.0, allowed: torch.Tensor | None = None) -> torch.Tensor:
    """One causal attention per document (or, given `allowed` [tokens, tokens], one under that
    document's block of it); [1, heads, tokens, dim].

    Written out rather than through SDPA: on CPU, SDPA's math kernel spends two dozen small
    operations per call, and its flash kernel's backward is slower still at these lengths (a
    hundred tokens or so). Precision as FlashAttention's: scores and softmax in float32 (in
    bf16, scores of 10 are off by 0.04, and ft_local (oracle) lost a reversal item in 20),
    the probabilities times the values in the autocast dtype. The query heads that share a key
    head become rows of one matrix product, and the causal mask is a cached bias added inside
    it. 1.4x faster per layer than SDPA (10.8 against 7.8 ms for 8 documents, forward and
    backward)."""
    starts = document_starts(position_ids)
    if starts[0] != 0:
        raise ValueError("packed attention expects one row whose positions start at 0")
    lengths = [end - start for start, end in zip(starts[:-1], starts[1:])]
    _, heads, tokens, dim = query.shape
    kv_heads = key.shape[1]
    groups = heads // kv_heads
    device = query.device.type
    low = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else query.dtype
    exact = torch.promote_types(query.dtype, torch.float32)
    scale = scaling if scaling is not None else dim**-0.5
    with torch.autocast(device, enabled=False):
        # [kv heads, tokens, groups, dim]: one document's queries of a key head are contiguous.
        queries = query[0].to(exact).view(kv_heads, groups, tokens, dim).transpose(1, 2).contiguous()
        outputs = []
        # split, not slicing: its backward writes each gradient once instead of adding
        # zero-padded copies.
        for start, q, k, v in zip(starts, queries.split(lengths, 1),
                                  key[0].to(exact).split(lengths, 1),
                                  value[0].to(low).split(lengths, 1)):
            length = k.shape[1]
            bias = (_causal_bias(length, groups, exact, query.device) if allowed is None else
                    _tree_bias(allowed[start:start + length, start:start + length], groups, exact))
            scores = torch.baddbmm(bias,
                                   q.reshape(kv_heads, length * groups, dim), k.transpose(1, 2),
                                   alpha=scale)
            probs = scores.softmax(-1).to(low)
            if dropout:
                probs = F.dropout(probs, dropout)
            outputs.append(torch.bmm(probs, v).view(kv_heads, length, groups, dim))
        out = torch.cat(outputs, 1)
    return out.permute(1, 0, 2, 3).reshape(1, tokens, heads, dim).transpose(1, 2)


_biases: dict[tuple, torch.Tensor] = {}


def _causal_bias(length: int, groups: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """[length * groups, length]: 0 where a query (rows in token-major, group-minor order) may
    attend, -inf after it. The bias of a shorter document is the top-left corner of a longer
    one's, so one bias is kept and grown by powers of two (a cache of one bias per length held
    up to 1,024 of them, hundreds of megabytes, for the life of the process)."""
    key = (groups, dtype, device)
    bias = _biases.get(key)
    if bias is None or bias.shape[1] < length:
        size = max(256, 1 << (length - 1).bit_length())
        position = torch.arange(size * groups, device=device) // groups
        future = position[:, None] < torch.arange(size, device=device)[None]
        bias = torch.zeros(future.shape, dtype=dtype, device=device).masked_fill(future, float("-inf"))
        _biases[key] = bias
    return bias[:length * groups, :length]


def _tree_bias(allowed: torch.Tensor, groups: int, dtype: torch.dtype) -> torch.Tensor:
    """[length * groups, length]: as `_causal_bias`, for a document packed as a tree."""
    bias = torch.zeros(allowed.shape, dtype=dtype, device=allowed.device)
    return bias.masked_fill_(~allowed, float("-inf")).repeat_interleave(groups, 0)


def block_masked(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                 position_ids: torch.Tensor, scaling: float | None,
                 dropout: float = 0.0, allowed: torch.Tensor | None = None) -> torch.Tensor:
    """The whole row at once under a block-diagonal causal mask (or `allowed`);
    [1, heads, tokens, dim]. No host sync (the documents stay on the device) and a fixed
    number of kernels per layer."""
    if allowed is not None:
        mask = allowed
    else:
        document = (position_ids[0] == 0).cumsum(0)
        order = torch.arange(document.numel(), device=document.device)
        mask = (document[:, None] == document[None, :]) & (order[:, None] >= order[None, :])
    # The memory-efficient kernel takes a mask but not grouped heads: repeat them, as
    # transformers' own SDPA path does.
    groups = query.shape[1] // key.shape[1]
    if groups > 1:
        key, value = key.repeat_interleave(groups, dim=1), value.repeat_interleave(groups, dim=1)
    with sdpa_kernel([SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]):
        return F.scaled_dot_product_attention(query, key, value, attn_mask=mask[None, None],
                                              scale=scaling, dropout_p=dropout)


def _no_mask(*args, **kwargs) -> None:
    # The attention function masks by itself; building the row's mask is wasted work.
    return None


AttentionInterface.register(NAME, packed_attention)
AttentionMaskInterface.register(NAME, _no_mask)


def packed_rows(model: torch.nn.Module) -> contextlib.AbstractContextManager:
    """Train `model` on packed rows; its own attention comes back afterwards."""
    return attention.using(model, NAME)

"""Attention to a shared prefix that every row of a batch sees, without copying it per row.

ICL scoring and augmentation both put one long text (the training set) before many short
ones (items, prompts). Transformers' cache wants the prefix's keys and values once per row and
copies them again with every new token; with the semantic world's 6,000-token training set in
front of 16 prompts, that copying and the attention over the copies took three quarters of
generation. Here the prefix is kept once, and each row's attention is two parts under one
softmax: every row's queries against the prefix in one matrix multiply, and each row against
its own tokens (in transformers' cache, which then holds only those).

Use: `encode(lm.model, ids)` once, then call the model inside `attending(model)` with
`shared_prefix=prefix` and positions that start after it.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from transformers import DynamicCache
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask
from transformers.modeling_utils import AttentionInterface

from core.lm import attention

NAME = "lab_shared_prefix"
SCORES_PER_CHUNK = 1 << 25  # score entries computed at once (128 MB of float32)


@dataclass
class SharedPrefix:
    keys: list[torch.Tensor]  # per layer: [kv heads, prefix tokens, head dim]
    values: list[torch.Tensor]

    @property
    def length(self) -> int:
        return self.keys[0].shape[1] if self.keys else 0


@torch.inference_mode()
def encode(model: torch.nn.Module, ids: list[int]) -> SharedPrefix:
    """The prefix's keys and values in every layer, computed once."""
    if not ids:
        return SharedPrefix([], [])
    cache = DynamicCache()
    device = next(model.parameters()).device
    model(input_ids=torch.tensor([ids], device=device), cache=cache, use_cache=True,
          logits_to_keep=1)
    return SharedPrefix([layer.keys[0] for layer in cache.layers],
                        [layer.values[0] for layer in cache.layers])


def _own_mask(attention_mask: torch.Tensor | None, queries: int, keys: int,
              device: torch.device) -> torch.Tensor:
    """[rows or 1, 1, queries, keys] booleans (True: may attend) over the rows' own tokens."""
    if attention_mask is None:  # plain causal, the queries being the last of the keys
        offset = keys - queries
        return torch.ones(queries, keys, dtype=torch.bool, device=device).tril(offset)[None, None]
    if attention_mask.dtype == torch.bool:
        return attention_mask
    return attention_mask == 0  # an additive float mask: 0 where allowed


def _by_kv_head(x: torch.Tensor) -> torch.Tensor:
    """[rows, kv heads, group, n, dim] -> [kv heads, rows * group * n, dim]."""
    rows, heads, group, n, dim = x.shape
    return x.permute(1, 0, 2, 3, 4).reshape(heads, rows * group * n, dim)


def _from_kv_head(x: torch.Tensor, rows: int, group: int, n: int) -> torch.Tensor:
    heads, _, last = x.shape
    return x.view(heads, rows, group, n, last).permute(1, 0, 2, 3, 4)


def _attend(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, mask: torch.Tensor,
            prefix_keys: torch.Tensor, prefix_values: torch.Tensor, scale: float) -> torch.Tensor:
    """query [rows, kv heads, group, q, dim]; key, value [rows, kv heads, k, dim]; mask
    [rows or 1, 1, q, k]. Returns [rows, kv heads, group, q, dim]. The large tensors (scores
    against the prefix) stay in one layout, [kv heads, rows * group * q, prefix]: no copies."""
    rows, _, group, queries, _ = query.shape
    query = query * scale
    own_scores = query @ key[:, :, None].transpose(-1, -2)
    own_scores = own_scores.masked_fill(~mask[:, :, None], float("-inf"))
    scores = torch.cat([_by_kv_head(query) @ prefix_keys.transpose(1, 2),
                        _by_kv_head(own_scores)], dim=-1)
    probs = torch.softmax(scores.float(), dim=-1).to(query.dtype)
    prefix_probs, own_probs = probs.split([prefix_keys.shape[1], key.shape[2]], dim=-1)
    out = _from_kv_head(prefix_probs @ prefix_values, rows, group, queries)
    return out + _from_kv_head(own_probs, rows, group, queries) @ value[:, :, None]


def shared_prefix_attention(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor,
                            value: torch.Tensor, attention_mask: torch.Tensor | None,
                            dropout: float = 0.0, scaling: float | None = None,
                            shared_prefix: SharedPrefix | None = None,
                            **kwargs) -> tuple[torch.Tensor, None]:
    """Transformers' attention-function shapes: query [rows, heads, q, dim] in,
    [rows, q, heads, dim] out; `key` and `value` hold the rows' own tokens only."""
    if shared_prefix is None:
        raise ValueError("shared-prefix attention needs shared_prefix=... in the model call")
    rows, heads, queries, dim = query.shape
    kv_heads = key.shape[1]
    grouped = query.view(rows, kv_heads, heads // kv_heads, queries, dim)
    mask = _own_mask(attention_mask, queries, key.shape[2], query.device)
    if shared_prefix.keys:
        prefix_keys = shared_prefix.keys[module.layer_idx]
        prefix_values = shared_prefix.values[module.layer_idx]
    else:
        prefix_keys = prefix_values = key.new_zeros(kv_heads, 0, dim)
    scale = scaling if scaling is not None else dim ** -0.5
    # Long prompts after a long prefix make a large score tensor: a few queries at a time.
    per_query = rows * heads * (prefix_keys.shape[1] + key.shape[2])
    step = max(1, SCORES_PER_CHUNK // per_query)
    outputs = [_attend(grouped[:, :, :, first:first + step], key, value,
                       mask[:, :, first:first + step], prefix_keys, prefix_values, scale)
               for first in range(0, queries, step)]
    out = torch.cat(outputs, dim=3).reshape(rows, heads, queries, dim)
    return out.transpose(1, 2).contiguous(), None


AttentionInterface.register(NAME, shared_prefix_attention)
AttentionMaskInterface.register(NAME, sdpa_mask)


def attending(model: torch.nn.Module) -> contextlib.AbstractContextManager:
    """Calls to `model` inside take `shared_prefix=`; its own attention comes back after."""
    return attention.using(model, NAME)

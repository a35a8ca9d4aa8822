"""A fine-tuning batch as one row of tokens: its examples end to end (`pack_rows`), or, on a
CPU, as a tree whose shared openings are computed once (`pack_tree`).

A world dresses its documents in a few recurring openings ("From the encyclopedia:\\n", "Fact of
the week:\\n"), and a local augmentation repeats its document's opening and often its first
words. In the quick worlds' batches of eight, 3% (semantic) to 17% (family) of the tokens
repeat a prefix that another example of the batch already has, 23% with the reversals world's
local augmentations (docs/performance.md). A token's hidden state depends only on the tokens
before it, so a shared prefix computes the same states in every example: `pack_tree` computes
each once and lets every example that continues it attend to it. The loss is the same sum over
the same examples; only the repeats are left out.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from core.kernels.fused_loss import IGNORE
from core.lm.models import LM

# Packed rows are padded to a multiple of this many tokens (a document of its own, no loss).
# The bf16 matrix-multiply library keeps compiled kernels for every shape it meets; a new row
# length every step scattered them through the heap that `heap.kept` keeps, and the heap grew
# 60 MB a step (5.3 GB peak after 30 steps on the semantic world; 4.4 GB padded). With 32 a
# few lengths recur. It costs 16 tokens a step on average, about 2.5% on semantic but 12% on
# one-line documents (130 tokens a step), so float32 training, whose matrix multiplies compile
# nothing, pads only to the 8 floats of an AVX2 register.
ROW_MULTIPLE = 32
ROW_MULTIPLE_FLOAT32 = 8

Rows = Sequence[tuple[list[int], int]]  # each example's token ids, and where its loss starts


def row_multiple(bf16: bool) -> int:
    return ROW_MULTIPLE if bf16 else ROW_MULTIPLE_FLOAT32


def tokenize(lm: LM, examples: Sequence[tuple[str, str]]) -> list[tuple[list[int], int]]:
    """Token ids and where the loss starts, for each (context, target) example."""
    out = []
    for context, target in examples:
        ctx = lm.start_ids + lm.encode(context)
        out.append((ctx + lm.encode(target), len(ctx)))
    return out


def _tensors(device: torch.device, **columns: list[int]) -> dict[str, torch.Tensor]:
    return {name: torch.tensor([values], device=device) for name, values in columns.items()}


def pack_rows(rows: Rows, device: torch.device, multiple: int = ROW_MULTIPLE
              ) -> dict[str, torch.Tensor]:
    """The batch's examples end to end in one row, no padding. Positions restart at each
    example, which makes transformers attend only within it (a block-diagonal causal mask):
    the same loss as a padded batch, without computing the pads."""
    ids, labels, positions = [], [], []
    for example, loss_start in rows:
        ids += example
        # Each example starts with the start token, whose label is ignored, so no example
        # learns to predict the next one.
        labels += [IGNORE] * loss_start + example[loss_start:]
        positions += range(len(example))
    if pad := -len(ids) % multiple:
        ids += [ids[0]] * pad
        labels += [IGNORE] * pad
        positions += range(pad)
    return _tensors(device, input_ids=ids, labels=labels, position_ids=positions)


def pack_tree(rows: Rows, device: torch.device, multiple: int = ROW_MULTIPLE
              ) -> dict[str, torch.Tensor]:
    """The batch as a tree of tokens in one row: examples that open alike share those tokens.

    A token is shared by the examples that agree on it, on everything before it and on the
    token it predicts (so each position has one target); `target_weights` says how many of
    them score it, which keeps the loss the mean over every example's scored tokens, as in
    `pack_rows`. Each example's last token predicts nothing and is left out. The examples are
    sorted first, so the tokens under each opening token are contiguous and each parent comes
    before its children; `attention_mask` [1, 1, tokens, tokens] lets a token see itself and
    its ancestors, and positions restart at each first token, as in `pack_rows`."""
    node_of: dict[tuple[int, int, int], int] = {}
    ids, positions, parents, targets, weights = [], [], [], [], []
    for example, loss_start in sorted(rows):
        parent = -1
        for position in range(len(example) - 1):
            key = (parent, example[position], example[position + 1])
            node = node_of.get(key)
            if node is None:
                node = node_of[key] = len(ids)
                ids.append(example[position])
                positions.append(position)
                parents.append(parent)
                targets.append(example[position + 1])
                weights.append(0)
            weights[node] += position + 1 >= loss_start
            parent = node
    pad = -len(ids) % multiple if ids else multiple  # a batch of bare start tokens: no loss
    for index in range(pad):  # a chain of its own, no loss
        ids.append(ids[0] if ids else 0)
        positions.append(index)
        parents.append(len(ids) - 2 if index else -1)
        targets.append(IGNORE)
    weights += [0] * pad
    targets = [t if w else IGNORE for t, w in zip(targets, weights)]
    allowed = torch.eye(len(ids), dtype=torch.bool)
    for node, parent in enumerate(parents):
        if parent >= 0:
            allowed[node] |= allowed[parent]
    batch = _tensors(device, input_ids=ids, position_ids=positions, targets=targets)
    batch["target_weights"] = torch.tensor([weights], dtype=torch.float32, device=device)
    batch["attention_mask"] = allowed.to(device)[None, None]
    return batch

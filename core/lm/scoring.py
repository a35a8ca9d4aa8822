"""Log-likelihood of continuations, the operation every score in the lab comes from.

Many (context, continuation) pairs share one long context (an ICL prompt): it is encoded once
and attended to in place (core/lm/prefix_attention.py); each item's prompt is encoded once for
all its choices, each choice attending only to its own prompt (`_item_mask`); and the
vocabulary projection runs only where a token is scored. Texts are encoded piece by piece and
the ids concatenated, with the same boundaries as in training and generation (core/lm/models.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from core.errors import LabError
from core.lm import prefix_attention
from core.lm.models import LM

TOKEN_BUDGET = 4096  # tokens (rows x length) per forward pass after the shared context
# A batch's rows are padded to its longest, and pads cost what tokens cost: one batch of rows
# 17 to 137 tokens long computed twice the semantic world's tokens. Rows shorter than this
# fraction of the batch's longest start a new batch (3% more than the tokens there, not 100%).
MIN_FILL = 0.9


def _batches(lengths: list[int], budget: int = TOKEN_BUDGET) -> list[list[int]]:
    """Indices grouped longest first so each batch's rows x length fits the budget and no row
    is much shorter than its batch's longest."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches, current = [], []
    for index in order:
        width = lengths[current[0] if current else index]
        if current and ((len(current) + 1) * width > budget
                        or lengths[index] < MIN_FILL * width):
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches


@dataclass
class _ItemRow:
    """One item's prompt followed by each of its choices, in one row: every choice attends to
    the prompt and to itself, never to another choice, and its positions continue from the
    prompt's end, so the prompt is encoded once for all its choices."""

    ids: list[int]
    segments: list[int]  # 0: the prompt; k: the k-th choice
    positions: list[int]
    scored: list[tuple[int, int, int]]  # (pair index, first token, token count)


def _item_rows(pairs: Sequence[tuple[list[int], list[int]]], head: list[int],
               max_row: int = 256) -> list[_ItemRow]:
    """Pairs of token ids (context, continuation) grouped by context, one row per group: the
    `head` (the shared prefix's last token, or nothing), the context, then its continuations.
    A group whose continuations would make a row longer than `max_row` tokens (many pairs
    with an empty context, say) takes several."""
    by_context: dict[tuple[int, ...], list[int]] = {}
    for index, (context, _) in enumerate(pairs):
        by_context.setdefault(tuple(context), []).append(index)
    rows = []
    for context, indices in by_context.items():
        prompt = [*head, *context]
        if not prompt:
            raise LabError("a continuation needs a token before it: give a context or a prefix")
        row = None
        for index in indices:
            continuation = pairs[index][1]
            if not continuation:
                raise LabError(f"empty continuation after context of {len(context)} tokens")
            if row is None or (row.scored and len(row.ids) + len(continuation) > max_row):
                row = _ItemRow(list(prompt), [0] * len(prompt), list(range(len(prompt))), [])
                rows.append(row)
            row.scored.append((index, len(row.ids), len(continuation)))
            row.positions += range(len(prompt), len(prompt) + len(continuation))
            row.segments += [len(row.scored)] * len(continuation)
            row.ids += continuation
    return rows


def _item_mask(rows: Sequence[_ItemRow], width: int, device) -> torch.Tensor:
    """[rows, 1, width, width] booleans over the rows' own tokens (the shared context is seen
    by all): causal, and a choice's tokens see the prompt and their own choice only. Pads
    (after the row's end) see only themselves."""
    segments = torch.full((len(rows), width), -1, device=device)
    for r, row in enumerate(rows):
        segments[r, :len(row.ids)] = torch.tensor(row.segments, device=device)
    query, key = segments[:, :, None], segments[:, None, :]
    causal = torch.ones(width, width, dtype=torch.bool, device=device).tril()
    within = causal & (key >= 0) & ((key == 0) | (key == query))
    within |= torch.eye(width, dtype=torch.bool, device=device)
    return within[:, None]


def _score_batch(lm: LM, batch: Sequence[_ItemRow], shared: prefix_attention.SharedPrefix,
                 lm_head: torch.nn.Module) -> list[tuple[int, float]]:
    """(pair index, log-probability) of every scored token of a batch of item rows."""
    width = max(len(row.ids) for row in batch)
    pad = lm.tokenizer.pad_token_id or 0
    ids = torch.tensor([row.ids + [pad] * (width - len(row.ids)) for row in batch],
                       device=lm.device)
    positions = torch.tensor([[shared.length + p for p in row.positions]
                              + [shared.length] * (width - len(row.ids)) for row in batch],
                             device=lm.device)
    hidden = lm.model.base_model(input_ids=ids, position_ids=positions, shared_prefix=shared,
                                 attention_mask=_item_mask(batch, width, lm.device)
                                 ).last_hidden_state
    row_index, predictors, targets, owners = [], [], [], []
    for r, row in enumerate(batch):
        prompt_end = row.scored[0][1]
        for index, first, count in row.scored:
            # A choice's first token is predicted from the prompt's last token.
            row_index += [r] * count
            predictors += [prompt_end - 1] + list(range(first, first + count - 1))
            targets += row.ids[first:first + count]
            owners += [index] * count
    picked = hidden[torch.tensor(row_index), torch.tensor(predictors)]
    logprobs = torch.log_softmax(lm_head(picked).float(), dim=-1)
    token_lp = logprobs[torch.arange(len(targets)), torch.tensor(targets, device=lm.device)]
    return list(zip(owners, token_lp.tolist()))


def loglikelihoods(lm: LM, pairs: Sequence[tuple[str, str]], shared_context: str = "",
                   progress=None) -> list[float]:
    """Summed log-probability of each continuation's tokens after its context, all after
    the start token and `shared_context` (an ICL prompt). The shared context is encoded once
    and attended to in place by every pair; the pairs with the same context (an item's
    choices) share one encoding of it; the vocabulary projection runs only where tokens are
    scored."""
    prefix = lm.start_ids + lm.encode(shared_context)
    return loglikelihoods_of_ids(lm, prefix, [(lm.encode(c), lm.encode(x)) for c, x in pairs],
                                 progress)


@torch.inference_mode()
def loglikelihoods_of_ids(lm: LM, prefix: list[int], pairs: Sequence[tuple[list[int], list[int]]],
                          progress=None) -> list[float]:
    """`loglikelihoods` on token ids: each continuation after `prefix` (may be empty) and its
    own context."""
    # The last prefix token is fed with each row, so every scored token has a predictor row.
    shared = prefix_attention.encode(lm.model, prefix[:-1])
    rows = _item_rows(pairs, prefix[-1:])
    results = [0.0] * len(pairs)
    lm_head = lm.model.get_output_embeddings()
    done = 0
    with prefix_attention.attending(lm.model):
        for batch_indices in _batches([len(row.ids) for row in rows]):
            batch = [rows[i] for i in batch_indices]
            for index, value in _score_batch(lm, batch, shared, lm_head):
                results[index] += value
            done += sum(len(row.scored) for row in batch)
            if progress:
                progress(done, len(pairs))
    return results

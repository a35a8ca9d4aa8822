"""The language-model head and its cross-entropy in one step, for training.

A causal LM's loss goes through logits over the whole vocabulary (49,152 words for the default
model): a forward pass of 1,000 tokens makes a 200 MB float32 copy of them, the log-softmax
keeps another for the backward pass, and the backward pass makes two more. Here the logits are
made once, in the autocast dtype, and overwritten by their own gradient (softmax minus the
one-hot target) a few rows at a time while the rows are in cache; the head's two gradient
products follow at once. The backward pass then has only to hand the gradients on. Same
arithmetic as transformers' loss under autocast (logits in bf16, softmax in float32, gradients
of the products in bf16), a fifth of the memory.

Only for training: the gradients are computed in the forward pass, whether or not a backward
pass follows.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE = -100  # transformers' label for "no loss here"
TINY = torch.finfo(torch.float32).tiny
ROWS_PER_CHUNK = 32  # on a CPU: 32 rows of float32 logits, 6 MB, about what stays in cache


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor,
                dtype: torch.dtype, target_weights: torch.Tensor | None) -> torch.Tensor:
        with torch.autocast(hidden.device.type, enabled=False):
            # Only rows with a target go through the head (an ignored row's gradient is zero):
            # each document's last token and the padding skip 49,152-word products. Finding
            # them waits for the device, so a GPU (where the products are cheap, and a
            # captured CUDA graph cannot wait) takes every row.
            on_gpu = hidden.device.type == "cuda"
            scored = None if on_gpu else _scored_rows(targets != IGNORE, dtype, hidden.device)
            h = (hidden if on_gpu else hidden[scored]).to(dtype)
            w = weight.to(dtype)
            targets = targets if on_gpu else targets[scored]
            logits = h @ w.t()
            exact = torch.promote_types(dtype, torch.float32)
            # How many examples each row's loss counts for: 1 or 0 (no target), or more where
            # a packed tree computes a prefix that several examples share (packing.pack_tree).
            if target_weights is None:
                counts = (targets != IGNORE).to(exact)
            else:
                counts = (target_weights if on_gpu else target_weights[scored]).to(exact)
            count = counts.sum().clamp(min=1)
            safe_targets = targets.clamp(min=0)
            total = torch.zeros((), dtype=exact, device=hidden.device)
            # A GPU has no such cache and pays for each launch: all rows at once there.
            rows = ROWS_PER_CHUNK if hidden.device.type == "cpu" else len(targets)
            for chunk, target, weights in zip(logits.split(rows), safe_targets.split(rows),
                                              counts.split(rows)):
                probs = torch.softmax(chunk, -1, dtype=exact)
                picked = probs.gather(1, target[:, None])[:, 0]
                # The loss from the target's probability: softmax is one fused kernel, where
                # log-sum-exp and the probabilities took four passes over the vocabulary (60
                # against 77 ms for 736 tokens). Clamped where it underflows (87 nats or more).
                total -= (weights * picked.clamp(min=TINY).log()).sum()
                probs.scatter_add_(1, target[:, None], -torch.ones_like(picked)[:, None])
                chunk.copy_(probs.mul_((weights / count)[:, None]))
            grad_logits = logits
            if on_gpu:
                ctx.grad_hidden = (grad_logits @ w).to(hidden.dtype)
            else:
                ctx.grad_hidden = hidden.new_zeros(hidden.shape)
                ctx.grad_hidden[scored] = (grad_logits @ w).to(hidden.dtype)
            ctx.on_gpu = on_gpu
            ctx.grad_weight = ((grad_logits.t() @ h).to(weight.dtype)
                               if ctx.needs_input_grad[1] else None)
        return total / count

    @staticmethod
    def backward(ctx, grad_loss: torch.Tensor):
        grad_hidden, grad_weight = ctx.grad_hidden, ctx.grad_weight
        del ctx.grad_hidden, ctx.grad_weight
        if ctx.on_gpu or not bool(grad_loss == 1):  # the comparison waits for the device
            grad_hidden = grad_hidden * grad_loss
            grad_weight = grad_weight * grad_loss if grad_weight is not None else None
        return grad_hidden, grad_weight, None, None, None


def _scored_rows(valid: torch.Tensor, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Indices of the rows with a target. On a CPU in bf16 they are topped up with ignored rows
    to a multiple of 32: the bf16 kernels are compiled per shape and kept (see
    packing.ROW_MULTIPLE), so the head's row counts must recur."""
    rows = valid.nonzero()[:, 0]
    if device.type == "cpu" and dtype == torch.bfloat16 and (extra := -len(rows) % 32):
        rows = torch.cat([rows, (~valid).nonzero()[:extra, 0]])
    return rows


def linear_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor,
                         dtype: torch.dtype | None = None,
                         target_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean cross-entropy of `hidden @ weight.T` [tokens, vocab] against `targets` [tokens]
    (IGNORE where no loss), with the logits in `dtype` (the autocast dtype if autocast is on,
    else the hidden states'); with `target_weights` [tokens], each row counts that many
    times in the mean."""
    if dtype is None:
        device = hidden.device.type
        dtype = (torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device)
                 else hidden.dtype)
    return _LinearCrossEntropy.apply(hidden, weight, targets, dtype, target_weights)


def causal_lm_loss(model: torch.nn.Module, input_ids: torch.Tensor,
                   labels: torch.Tensor | None = None, targets: torch.Tensor | None = None,
                   target_weights: torch.Tensor | None = None, **inputs) -> torch.Tensor:
    """The loss transformers' causal LMs return for `labels` (each position predicts the next
    token's label), through `linear_cross_entropy`. Or, for a packed tree
    (packing.pack_tree), `targets` (what each position predicts) and their `target_weights`.
    Works on a peft-wrapped model too."""
    if targets is None:
        targets = torch.cat([labels[:, 1:], torch.full_like(labels[:, :1], IGNORE)], 1)
    targets = targets.flatten()
    weights = None if target_weights is None else target_weights.flatten()
    causal = model.get_base_model() if hasattr(model, "get_base_model") else model
    head = causal.get_output_embeddings()
    if not _plain_head(causal, head):
        logits = model(input_ids=input_ids, use_cache=False, **inputs).logits.flatten(0, 1)
        losses = F.cross_entropy(logits.float(), targets, ignore_index=IGNORE, reduction="none")
        counts = (targets != IGNORE).float() if weights is None else weights
        return (losses * counts).sum() / counts.sum().clamp(min=1)
    hidden = causal.get_decoder()(input_ids=input_ids, use_cache=False, **inputs).last_hidden_state
    return linear_cross_entropy(hidden.flatten(0, 1), head.weight, targets, target_weights=weights)


def _plain_head(causal: torch.nn.Module, head: torch.nn.Module | None) -> bool:
    """Logits = hidden states x weight, nothing more (no bias, scale or soft-capping)."""
    config = causal.config
    return (isinstance(head, torch.nn.Linear) and head.bias is None
            and hasattr(causal, "get_decoder")
            and not getattr(config, "final_logit_softcapping", None)
            and getattr(config, "logit_scale", 1.0) in (None, 1.0)
            and not getattr(config, "logits_scaling", None))

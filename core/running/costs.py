"""Compute accounting: estimated FLOPs per phase beside measured seconds and peak memory.

A forward pass costs about 2 x (weights used in matrix multiplies) per token, the output
projection over the vocabulary included (a fifth of the default model), plus attention,
2 x layers x context x width per token. A full fine-tuning step costs about 3 forwards
(backward is twice the forward); LoRA about 2 (no weight gradients) plus the adapters.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import psutil
import torch

from core.lm.models import LM


@dataclass
class PhaseCost:
    phase: str  # augment, train or evaluate
    tokens: int = 0
    flops: float = 0.0
    seconds: float = 0.0
    peak_mb: float = 0.0
    device: str = "cpu"


@dataclass(frozen=True)
class MatmulShape:
    """What a forward pass's FLOPs depend on, read from a model once: counting its weights
    walks every parameter tensor, too slow to repeat for each of an evaluation's items."""

    body: int  # weights in the transformer's matrix multiplies
    head: int  # weights of the vocabulary projection
    layers: int
    width: int


def matmul_shape(lm: LM) -> MatmulShape:
    embed = lm.model.get_input_embeddings().weight
    head = lm.model.get_output_embeddings().weight
    tied = embed.data_ptr() == head.data_ptr()
    body = lm.n_params - embed.numel() - (0 if tied else head.numel())
    return MatmulShape(body, head.numel(), lm.config.num_hidden_layers, lm.config.hidden_size)


def forward_flops(model: LM | MatmulShape, tokens: int, context: float = 0.0,
                  head_tokens: int | None = None) -> float:
    """FLOPs of a forward pass over `tokens` tokens, each attending to `context` tokens on
    average; the vocabulary projection runs on `head_tokens` of them (all by default). In a
    loop, pass `matmul_shape(lm)` read once."""
    shape = model if isinstance(model, MatmulShape) else matmul_shape(model)
    head_tokens = tokens if head_tokens is None else head_tokens
    return (2.0 * shape.body * tokens + 2.0 * shape.head * head_tokens
            + 2.0 * shape.layers * context * shape.width * tokens)


def train_flops(lm: LM, tokens: int, context: float, lora: bool, adapter_params: int = 0) -> float:
    forward = forward_flops(lm, tokens, context)
    return (2.0 * forward + 6.0 * adapter_params * tokens) if lora else 3.0 * forward


class Meter:
    """Measures one phase: wall seconds and peak resident memory (sampled in a thread, or
    the CUDA allocator's peak); the code inside adds tokens and FLOPs to `cost`."""

    def __init__(self, phase: str, device: torch.device):
        self.cost = PhaseCost(phase, device=str(device))
        self._device = device
        self._stop = threading.Event()

    def _sample(self) -> None:
        process = psutil.Process()
        while not self._stop.wait(0.05):
            self.cost.peak_mb = max(self.cost.peak_mb, process.memory_info().rss / 2**20)

    def __enter__(self) -> Meter:
        self.cost.peak_mb = psutil.Process().memory_info().rss / 2**20
        if self._device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self._device)
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.cost.seconds += time.perf_counter() - self._start
        self._stop.set()
        self._thread.join()
        if self._device.type == "cuda":
            self.cost.peak_mb = torch.cuda.max_memory_allocated(self._device) / 2**20
        else:
            self.cost.peak_mb = max(self.cost.peak_mb, psutil.Process().memory_info().rss / 2**20)

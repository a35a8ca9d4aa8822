"""The machine's throughput for a model, measured once and stored: what turns a query's FLOPs
into seconds (and money) in the what-if. A run's own evaluation time swings with whatever else
the machine is doing, so two methods that do the same work per query could be charged ten times
apart; with one measured rate per machine and model, the same FLOPs always cost the same time.

The measurement: forward passes of query-sized rows (an item's prompt and choices: 64 tokens,
8 rows at once, the head on one token a row, as scoring does), one to warm up, then the median
of five."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import torch

from core.lm.models import LM
from core.running import hardware
from core.running.costs import forward_flops

QUERY_TOKENS = 64
ROWS = 8
REPEATS = 5


@dataclass(frozen=True)
class Calibration:
    machine: str  # "AMD EPYC 7B13 (AVX2, 2 threads)"
    model: str
    device: str
    flops_per_second: float
    tokens: int  # per measured forward
    seconds: float  # median of the measured forwards
    measured_at: datetime


def machine_name() -> str:
    about = hardware.describe()
    return f"{about['cpu']} ({about['isa']}, {about['threads']} threads)"


@torch.inference_mode()
def measure(lm: LM) -> Calibration:
    """Time the model on query-sized forwards on this machine (about a second on a CPU)."""
    vocabulary = lm.model.config.vocab_size
    ids = (torch.arange(ROWS * QUERY_TOKENS, device=lm.device) * 7919 % vocabulary).view(
        ROWS, QUERY_TOKENS)
    times = []
    for _ in range(REPEATS + 1):
        start = time.perf_counter()
        lm.model(input_ids=ids, logits_to_keep=1)
        if lm.device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times[1:])  # the first warms caches and kernels up
    flops = forward_flops(lm, ROWS * QUERY_TOKENS, QUERY_TOKENS / 2, head_tokens=ROWS)
    return Calibration(machine_name(), lm.name, str(lm.device), flops / seconds,
                       ROWS * QUERY_TOKENS, seconds, datetime.now(UTC).replace(tzinfo=None))


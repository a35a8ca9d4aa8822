"""Multiple-choice evaluation by likelihood: the choices are never shown in the prompt; each
is scored as the log-probability of its tokens after the prompt (after the shared ICL context
too, for `icl`), and the most likely one is the model's answer."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.worlds import Item

if TYPE_CHECKING:  # the pages read intervals from here without loading torch
    from core.lm.models import LM


@dataclass
class Prediction:
    item_id: str
    split: str
    logprobs: list[float]
    choice: int
    answer: int

    @property
    def correct(self) -> bool:
        return self.choice == self.answer


@dataclass
class SplitMetric:
    split: str
    n: int
    correct: int
    accuracy: float
    low: float  # 95% Wilson interval
    high: float
    chance: float


def evaluate(lm: LM, items: Sequence[Item], shared_context: str = "", progress=None) -> list[Prediction]:
    pairs = [(item.prompt, choice) for item in items for choice in item.choices]
    from core.lm import scoring
    scores = scoring.loglikelihoods(lm, pairs, shared_context=shared_context, progress=progress)
    predictions, offset = [], 0
    for item in items:
        logprobs = scores[offset:offset + len(item.choices)]
        offset += len(item.choices)
        choice = max(range(len(logprobs)), key=logprobs.__getitem__)
        predictions.append(Prediction(item.item_id, item.split, logprobs, choice, item.answer))
    return predictions


def wilson_interval(correct: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def accuracy_by_split(predictions: Sequence[Prediction], items: Sequence[Item]) -> list[SplitMetric]:
    chance = {item.item_id: item.chance for item in items}
    metrics = []
    for split in sorted({p.split for p in predictions}):
        chosen = [p for p in predictions if p.split == split]
        correct = sum(p.correct for p in chosen)
        low, high = wilson_interval(correct, len(chosen))
        metrics.append(SplitMetric(split, len(chosen), correct, correct / len(chosen), low, high,
                                   sum(chance[p.item_id] for p in chosen) / len(chosen)))
    return metrics

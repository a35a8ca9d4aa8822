"""The settings of the methods, as plain dataclasses and choices with no heavy imports, so the
command line and the app's form can build and check a run without loading torch."""

from __future__ import annotations

import os
from dataclasses import dataclass

from core.errors import LabError

SPLITTINGS = ("none", "independent", "cumulative")  # how fine-tuning cuts documents
SOURCES = ("oracle", "model", "teacher")  # who writes the augmentations (teacher: --teacher)
FILLS = ("sample", "needed_first")  # how a training set too long for the ICL context is cut


@dataclass
class FTConfig:
    """Full fine-tuning, batch 8, lr 2e-4 with warmup and cosine decay, 8 epochs: the recipe
    `python -m core tune` chose on the dev seeds (core/running/tuning.py), never on the seeds the
    tests and the study report. The rule, the candidates and their scores: docs/recipe.md."""

    mode: str = "full"  # full or lora
    splitting: str = "none"  # none, independent or cumulative
    epochs: int = 8
    lr: float = 2e-4
    batch_size: int = 8
    warmup_steps: int = 4
    weight_decay: float = 0.0
    lora_rank: int = 16
    lora_alpha: int = 32
    max_steps: int = 0  # 0: epochs decide
    seed: int = 0

    def validate(self) -> FTConfig:
        if self.mode not in ("full", "lora"):
            raise LabError(f"fine-tuning mode must be 'full' or 'lora', got '{self.mode}'")
        if self.splitting not in SPLITTINGS:
            raise LabError(f"sentence splitting must be one of {', '.join(SPLITTINGS)}, "
                           f"got '{self.splitting}'")
        for name, low, high in (("epochs", 1, 1000), ("batch_size", 1, 1024), ("lora_rank", 1, 512)):
            if not low <= getattr(self, name) <= high:
                raise LabError(f"fine-tuning {name} must be between {low} and {high}, "
                               f"got {getattr(self, name)}")
        if not 0 < self.lr < 1:
            raise LabError(f"fine-tuning lr must be between 0 and 1, got {self.lr}")
        return self


def offered_teachers() -> list[str]:
    """The teachers the app offers: the default model, and the servers or folders listed in
    LAB_TEACHERS (comma-separated) by whoever starts the app. A browser user picks from these
    and never types an address: the app must not become a way to reach other machines."""
    listed = [t.strip() for t in os.environ.get("LAB_TEACHERS", "").split(",") if t.strip()]
    return list(dict.fromkeys(["default", *listed]))

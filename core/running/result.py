"""What a run produced: metrics per split, compute per phase, every prediction, the
augmentations it wrote and its loss curve. `runner.execute` makes one; `Store.finish_run`
keeps it in one transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.running.spec import RunSpec

if TYPE_CHECKING:  # annotations only: the store reads these without importing torch
    from core.methods.augment import Augmentation
    from core.running.costs import PhaseCost
    from core.running.evaluate import Prediction, SplitMetric


@dataclass
class RunResult:
    run_id: str
    spec: RunSpec
    metrics: list[SplitMetric]
    costs: list[PhaseCost]
    predictions: list[Prediction]
    augmentations: list[Augmentation] = field(default_factory=list)
    losses: list[dict] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "method": self.spec.method, "model": self.spec.model,
                "aug_source": self.spec.aug_source_used, "world": self.spec.world_kind,
                "world_seed": self.spec.world_seed, "seed": self.spec.seed,
                "accuracy": {m.split: round(m.accuracy, 4) for m in self.metrics},
                "interval": {m.split: [round(m.low, 4), round(m.high, 4)] for m in self.metrics},
                "chance": {m.split: m.chance for m in self.metrics},
                "cost": {c.phase: {"tokens": c.tokens, "flops": c.flops,
                                   "seconds": round(c.seconds, 2), "peak_mb": round(c.peak_mb)}
                         for c in self.costs},
                **self.extra}

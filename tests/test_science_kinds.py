"""The contamination check on the default model: nonsense words leave a pretrained model
nothing to know, so on every kind's quick world its accuracy is at chance."""

import pytest

from core.running.runner import RunSpec, execute
from core.worlds import build_world


@pytest.mark.parametrize("kind", ["syllogisms", "celebrities", "semantic", "family", "custom"])
def test_pretrained_model_is_at_chance_on_every_kind(kind, default_lm):
    """The contamination check: nonsense words leave a pretrained model nothing to know."""
    world = build_world(kind, 0, "quick")
    result = execute(RunSpec(method="pretrained", world_kind=kind), world, default_lm)
    for metric in result.metrics:
        print(kind, metric.split, round(metric.accuracy, 2), "chance", round(metric.chance, 2))
        assert metric.low <= metric.chance <= metric.high, metric

"""What the study predicts, on the default model and the quick `reversals` world: at chance
before training, the reversal curse after it. The same science goes on in
tests/test_science_local.py (true reversals added), tests/test_science_family.py (the curse in
family trees) and tests/test_science_kinds.py (every kind at chance before training): separate
files, so that separate test workers run them at once.

The fine-tuning recipe was chosen on the dev seeds of `core.running.tuning` (100-102); these tests use
seed 1, which no tuning and no code change was ever judged on (seed 0 was, before the dev
seeds existed).

The 135M default model cannot show one prediction: ICL generalizing to reversals (it copies
the comparative it read, in every prompt format tried: see docs/study.md). That figure is
printed, not asserted.
"""

import pytest

from core.running.runner import RunSpec, execute
from core.running.tuning import DEV_SEEDS
from core.worlds import build_world

SEED = 1  # never used to choose a recipe or judge a change
assert SEED not in DEV_SEEDS


def reversals_accuracy(methods: tuple[str, ...], lm, overrides: dict | None = None
                       ) -> dict[str, dict]:
    """Each method's metrics by split on the quick reversals world (the study's preset), with
    `overrides` of its parameters."""
    overrides = overrides or {}
    world = build_world("reversals", SEED, "quick", overrides)
    results = {}
    for method in methods:
        spec = RunSpec(method=method, aug_source="oracle", world_seed=SEED, seed=SEED,
                       overrides=overrides)
        result = execute(spec, world, lm)
        results[method] = {m.split: m for m in result.metrics}
        print(method, {s: round(m.accuracy, 2) for s, m in results[method].items()})
    return results


# Fine-tuning on half the quick world's facts (10, each in 2 articles and 8 epochs as in the
# full world): half the training, which is float32 and most of this file's time on a CPU
# without bf16. On the dev seeds 100-102 it learned 10 of 10 forward items and 0 of 10
# reversals each time. (ft_local keeps the full world: on half of it,
# two of the three dev seeds passed 9 of 10 reversals, too near its 0.9 bar; on 15 facts, dev
# seeds 100 and 101 both passed 13 of 15, under it. Only 20 items leave room for two misses.)
HALF_WORLD = {"n_facts": 10}


@pytest.fixture(scope="module")
def accuracy(default_lm):
    # ft_local, the longest run, is in tests/test_science_local.py: another worker runs it.
    return {**reversals_accuracy(("pretrained", "icl"), default_lm),
            **reversals_accuracy(("ft",), default_lm, HALF_WORLD)}


def test_pretrained_model_is_at_chance_no_contamination(accuracy):
    for metric in accuracy["pretrained"].values():
        assert metric.low <= metric.chance <= metric.high, metric


def test_fine_tuning_learns_what_it_is_shown_but_not_the_reversal(accuracy):
    assert accuracy["ft"]["forward"].accuracy >= 0.9
    assert accuracy["ft"]["reversal"].accuracy <= 0.3


def test_icl_on_the_small_default_model_is_reported(accuracy, capsys):
    reversal = accuracy["icl"]["reversal"].accuracy
    # The study's ICL generalizes to reversals; at 135M it copies the trained comparative.
    print(f"ICL reversal accuracy on the default model: {reversal:.2f} (chance 0.5)")
    assert accuracy["icl"]["forward"].accuracy >= 0.9  # it does read its context

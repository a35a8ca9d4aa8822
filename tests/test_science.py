"""What the study predicts, on the default model: the quick `reversals` world, the quick
`family` world's reversal curse, and every kind's pretrained accuracy at chance.

The fine-tuning recipe was chosen on the dev seeds of `core.running.tuning` (100-102); these tests use
seed 1, which no tuning and no code change was ever judged on (seed 0 was, before the dev
seeds existed).

The 135M default model cannot show one prediction: ICL generalizing to reversals (it copies
the comparative it read, in every prompt format tried: see docs/study.md). That figure is
printed, not asserted.
"""

import dataclasses

import pytest

from core.running.runner import RunSpec, execute
from core.running.tuning import DEV_SEEDS
from core.worlds import build_world

SEED = 1  # never used to choose a recipe or judge a change
assert SEED not in DEV_SEEDS


@pytest.fixture(scope="module")
def accuracy(default_lm):
    world = build_world("reversals", SEED, "quick")
    results = {}
    for method in ("pretrained", "icl", "ft", "ft_local"):
        spec = RunSpec(method=method, aug_source="oracle", world_seed=SEED, seed=SEED)
        result = execute(spec, world, default_lm)
        results[method] = {m.split: m for m in result.metrics}
        print(method, {s: round(m.accuracy, 2) for s, m in results[method].items()})
    return results


def test_pretrained_model_is_at_chance_no_contamination(accuracy):
    for metric in accuracy["pretrained"].values():
        assert metric.low <= metric.chance <= metric.high, metric


def test_fine_tuning_learns_what_it_is_shown_but_not_the_reversal(accuracy):
    assert accuracy["ft"]["forward"].accuracy >= 0.9
    assert accuracy["ft"]["reversal"].accuracy <= 0.3


def test_fine_tuning_with_true_reversals_added_passes_reversals(accuracy):
    assert accuracy["ft_local"]["reversal"].accuracy >= 0.9
    assert accuracy["ft_local"]["forward"].accuracy >= 0.9


def test_icl_on_the_small_default_model_is_reported(accuracy, capsys):
    reversal = accuracy["icl"]["reversal"].accuracy
    # The study's ICL generalizes to reversals; at 135M it copies the trained comparative.
    print(f"ICL reversal accuracy on the default model: {reversal:.2f} (chance 0.5)")
    assert accuracy["icl"]["forward"].accuracy >= 0.9  # it does read its context


@pytest.mark.parametrize("kind", ["syllogisms", "celebrities", "semantic", "family", "custom"])
def test_pretrained_model_is_at_chance_on_every_kind(kind, default_lm):
    """The contamination check: nonsense words leave a pretrained model nothing to know."""
    world = build_world(kind, 0, "quick")
    result = execute(RunSpec(method="pretrained", world_kind=kind), world, default_lm)
    for metric in result.metrics:
        print(kind, metric.split, round(metric.accuracy, 2), "chance", round(metric.chance, 2))
        assert metric.low <= metric.chance <= metric.high, metric


def test_fine_tuning_learns_family_facts_but_not_their_reversals(default_lm):
    """The reversal curse on family trees: each parent fact is learned as stated (forward)
    and not read backwards (reversal: "zeenk is the son of")."""
    # One family (32 notes, a quarter of the quick preset's training steps: on a CPU without
    # bf16 the quick world alone took 4.8 minutes), scored on the two splits asserted here.
    overrides = {"n_families": 1}
    world = build_world("family", SEED, "quick", overrides)
    world = dataclasses.replace(world, items=[i for i in world.items
                                              if i.split in ("forward", "reversal")])
    result = execute(RunSpec(method="ft", world_kind="family", overrides=overrides,
                             world_seed=SEED, seed=SEED), world, default_lm)
    accuracy = {m.split: m.accuracy for m in result.metrics}
    print("family ft", {s: round(a, 2) for s, a in accuracy.items()})
    assert accuracy["forward"] >= 0.9
    assert accuracy["reversal"] <= 0.45  # chance 0.25

"""The reversal curse on the default model, in family trees (tests/test_science.py has it on
the reversals world). Seed 1, never used to choose a recipe or judge a change."""

import dataclasses

from core.running.runner import RunSpec, execute
from core.running.tuning import DEV_SEEDS
from core.worlds import build_world

SEED = 1
assert SEED not in DEV_SEEDS


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

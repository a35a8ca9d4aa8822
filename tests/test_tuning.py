"""The recipe rule of `python -m core tune` on hand-made trials: dev seeds only, a candidate
dropped once it cannot reach the bar, the cheapest passing candidate chosen."""

import pytest

from core.errors import LabError
from core.running import tuning
from core.running.tuning import Trial


def trials(epochs, lr, seed, ft_forward, local_forward, local_reversal, batch=8):
    """ft and ft_local on one seed: 5 and 10 batches of 8 examples an epoch."""
    tokens, steps = 100 * epochs, 5 * epochs * 8 // batch
    return [Trial(epochs, lr, "ft", seed, {"forward": ft_forward, "reversal": 0.0}, tokens, 1.0,
                  batch, steps),
            Trial(epochs, lr, "ft_local", seed,
                  {"forward": local_forward, "reversal": local_reversal}, 2 * tokens, 2.0,
                  batch, 2 * steps)]


def test_the_cheapest_candidate_that_passes_on_every_dev_seed_is_chosen():
    runs = (trials(8, 2e-4, 100, 1.0, 1.0, 0.9) + trials(8, 2e-4, 101, 1.0, 1.0, 0.95)
            + trials(6, 3e-4, 100, 1.0, 1.0, 0.95) + trials(6, 3e-4, 101, 1.0, 0.9, 0.9)
            + trials(4, 4e-4, 100, 1.0, 1.0, 0.8) + trials(4, 4e-4, 101, 1.0, 1.0, 0.95))
    rows = tuning.summarize(runs)
    assert [r["passes"] for r in rows] == [True, True, False]  # 4 epochs: mean 0.875 < 0.9
    assert tuning.choose(rows)["epochs"] == 6  # fewer tokens than 8
    assert "| 6 | 0.0003 | 8 | 2 |" in tuning.table(rows) and "chosen" in tuning.table(rows)


def test_a_bigger_batch_trains_the_same_tokens_in_fewer_steps_and_wins_only_by_its_mean():
    """Candidates may differ in batch: the table shows each one's steps, and the rule still
    compares tokens (equal here), then the mean."""
    seeds = (100, 101)
    small = [t for s in seeds for t in trials(8, 2e-4, s, 1.0, 1.0, 1.0)]
    big = [t for s in seeds for t in trials(8, 3e-4, s, 1.0, 1.0, 0.9, batch=16)]
    bigger = [t for s in seeds for t in trials(8, 6e-4, s, 1.0, 1.0, 0.8, batch=32)]
    rows = tuning.summarize(small + big + bigger)
    assert [(r["batch_size"], r["train_steps"], r["passes"]) for r in rows] == [
        (8, 120, True), (16, 60, True), (32, 30, False)]
    assert tuning.choose(rows)["batch_size"] == 8  # the better mean; fewer steps win nothing
    assert "| 8 | 0.0003 | 16 | 2 |" in tuning.table(rows)
    better_16 = [t for s in seeds for t in trials(8, 4e-4, s, 1.0, 1.0, 1.0, batch=16)]
    small_worse = [t for s in seeds for t in trials(8, 2e-4, s, 1.0, 1.0, 0.95)]
    assert tuning.choose(tuning.summarize(small_worse + better_16))["batch_size"] == 16


def test_a_candidate_is_dropped_once_it_cannot_reach_the_bar():
    first = trials(4, 3e-4, 100, 1.0, 0.85, 0.15) + trials(8, 2e-4, 100, 1.0, 1.0, 0.9)
    assert not tuning._can_still_pass(first, (4, 3e-4, 8), 1, 3)  # (0.15 + 2) / 3 < 0.9
    assert tuning._can_still_pass(first, (8, 2e-4, 8), 1, 3)
    # A dropped candidate ran on fewer seeds and is never chosen, whatever it scored.
    rows = tuning.summarize(first + trials(8, 2e-4, 101, 1.0, 1.0, 1.0))
    assert [r["complete"] for r in rows] == [False, True]
    assert tuning.choose(rows)["epochs"] == 8


def test_nothing_is_chosen_when_nothing_passes_and_reported_seeds_are_refused():
    assert tuning.choose(tuning.summarize(trials(8, 2e-4, 100, 1.0, 1.0, 0.5))) is None
    with pytest.raises(LabError, match="reported by the study"):
        tuning.run_trials(None, seeds=(1, 100))
    batch = tuning.FTConfig().batch_size  # the recipe's own when not given
    assert tuning.parse_candidates("8:2e-4, 4:3e-4:16") == [(8, 2e-4, batch), (4, 3e-4, 16)]
    for bad in ("8", "8:2e-4:16:1", "8:x", "8:2e-4:half"):
        with pytest.raises(LabError, match="epochs:lr"):
            tuning.parse_candidates(bad)
    with pytest.raises(LabError, match="batch_size must be between 1 and 1024, got 0"):
        tuning.parse_candidates("8:2e-4:16, 8:2e-4:0")  # refused before anything runs


def test_a_tuning_resumes_from_its_log_without_running_logged_trials(tmp_path):
    import dataclasses
    import json
    logged = [t for seed in (100, 101, 102) for t in trials(8, 2e-4, seed, 1.0, 1.0, 0.9)]
    log = tmp_path / "tune.jsonl"
    log.write_text("".join(json.dumps(dataclasses.asdict(t)) + "\n" for t in logged))
    assert tuning.read_log(log) == logged and tuning.read_log(tmp_path / "none") == []
    # No model is given: a trial that had to run would fail.
    assert tuning.run_trials(None, [(8, 2e-4, 8)], earlier=tuning.read_log(log)) == logged
    # A log from before the batch was a choice reads as batch 8, which it trained with.
    old = {k: v for k, v in dataclasses.asdict(logged[0]).items()
           if k not in ("batch_size", "train_steps")}
    log.write_text(json.dumps(old) + "\n")
    assert tuning.read_log(log)[0].batch_size == 8
    log.write_text("{not json\n")
    with pytest.raises(LabError, match="not a tuning log"):
        tuning.read_log(log)

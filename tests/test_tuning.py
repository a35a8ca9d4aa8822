"""The recipe rule of `python -m core tune` on hand-made trials: dev seeds only, a candidate
dropped once it cannot reach the bar, the cheapest passing candidate chosen."""

import pytest

from core.errors import LabError
from core.running import tuning
from core.running.tuning import Trial


def trials(epochs, lr, seed, ft_forward, local_forward, local_reversal):
    tokens = 100 * epochs
    return [Trial(epochs, lr, "ft", seed, {"forward": ft_forward, "reversal": 0.0}, tokens, 1.0),
            Trial(epochs, lr, "ft_local", seed,
                  {"forward": local_forward, "reversal": local_reversal}, 2 * tokens, 2.0)]


def test_the_cheapest_candidate_that_passes_on_every_dev_seed_is_chosen():
    runs = (trials(8, 2e-4, 100, 1.0, 1.0, 0.9) + trials(8, 2e-4, 101, 1.0, 1.0, 0.95)
            + trials(6, 3e-4, 100, 1.0, 1.0, 0.95) + trials(6, 3e-4, 101, 1.0, 0.9, 0.9)
            + trials(4, 4e-4, 100, 1.0, 1.0, 0.8) + trials(4, 4e-4, 101, 1.0, 1.0, 0.95))
    rows = tuning.summarize(runs)
    assert [r["passes"] for r in rows] == [True, True, False]  # 4 epochs: mean 0.875 < 0.9
    assert tuning.choose(rows)["epochs"] == 6  # fewer tokens than 8
    assert "| 6 | 0.0003 | 2 |" in tuning.table(rows) and "chosen" in tuning.table(rows)


def test_a_candidate_is_dropped_once_it_cannot_reach_the_bar():
    first = trials(4, 3e-4, 100, 1.0, 0.85, 0.15) + trials(8, 2e-4, 100, 1.0, 1.0, 0.9)
    assert not tuning._can_still_pass(first, (4, 3e-4), 1, 3)  # (0.15 + 2) / 3 < 0.9
    assert tuning._can_still_pass(first, (8, 2e-4), 1, 3)
    # A dropped candidate ran on fewer seeds and is never chosen, whatever it scored.
    rows = tuning.summarize(first + trials(8, 2e-4, 101, 1.0, 1.0, 1.0))
    assert [r["complete"] for r in rows] == [False, True]
    assert tuning.choose(rows)["epochs"] == 8


def test_nothing_is_chosen_when_nothing_passes_and_reported_seeds_are_refused():
    assert tuning.choose(tuning.summarize(trials(8, 2e-4, 100, 1.0, 1.0, 0.5))) is None
    with pytest.raises(LabError, match="reported by the study"):
        tuning.run_trials(None, seeds=(1, 100))
    assert tuning.parse_candidates("8:2e-4, 4:3e-4") == [(8, 2e-4), (4, 3e-4)]
    with pytest.raises(LabError, match="epochs:lr"):
        tuning.parse_candidates("8")


def test_a_tuning_resumes_from_its_log_without_running_logged_trials(tmp_path):
    import dataclasses
    import json
    logged = [t for seed in (100, 101, 102) for t in trials(8, 2e-4, seed, 1.0, 1.0, 0.9)]
    log = tmp_path / "tune.jsonl"
    log.write_text("".join(json.dumps(dataclasses.asdict(t)) + "\n" for t in logged))
    assert tuning.read_log(log) == logged and tuning.read_log(tmp_path / "none") == []
    # No model is given: a trial that had to run would fail.
    assert tuning.run_trials(None, [(8, 2e-4)], earlier=tuning.read_log(log)) == logged
    log.write_text("{not json\n")
    with pytest.raises(LabError, match="not a tuning log"):
        tuning.read_log(log)

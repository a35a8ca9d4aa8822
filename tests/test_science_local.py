"""Fine-tuning with the true reversals added (the oracle's local augmentation) passes the
reversals that plain fine-tuning fails (tests/test_science.py), on the default model."""

from test_science import reversals_accuracy


def test_fine_tuning_with_true_reversals_added_passes_reversals(default_lm):
    accuracy = reversals_accuracy(("ft_local",), default_lm)["ft_local"]
    assert accuracy["reversal"].accuracy >= 0.9
    assert accuracy["forward"].accuracy >= 0.9

"""The benchmark at a tiny size: it works, and fast and naive paths agree. No timings asserted.

It runs in this process (the memory part still starts its own fresh processes, as it must to
measure a peak)."""

import json

from test_models import TOKEN_BOUND

from core.kernels import bench


def test_bench_runs_and_fast_paths_agree_with_naive_ones(capsys):
    bench.main("tiny", "tiny", demo=False)
    out = capsys.readouterr().out
    figures = json.loads(out.strip().splitlines()[-1])
    # The scoring bound of tests/test_models.py for a single token (every choice has one or more).
    assert figures["icl_max_abs_diff"] < TOKEN_BOUND
    assert figures["score_max_abs_diff"] < 1e-4 and figures["score_pairs"] > 0  # harness file
    assert figures["generation_same_output"] == 1.0
    # Same batches, same schedule: bf16 and packing may move the loss only a little.
    for prefix in ("ft", "ft_short_docs"):
        fast, naive = figures[f"{prefix}_final_loss"], figures[f"{prefix}_naive_final_loss"]
        assert abs(fast - naive) < 0.05 * naive, (prefix, fast, naive)
    for key in ("icl_scoring_speedup", "score_speedup", "ft_speedup", "ft_mfu", "ft_short_docs_speedup",
                "generation_speedup",
                "model_loaded_peak_mb", "ft_full_peak_mb", "ft_lora_peak_mb"):
        assert figures[key] > 0, key
    assert isinstance(figures["isa"], str) and figures["isa"]
    assert "speedup" in out and f"machine: {figures['cpu']}, {figures['isa']}" in out

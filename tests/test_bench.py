"""The benchmark at a tiny size: it works, and fast and naive paths agree. No timings asserted."""

import json
import subprocess
import sys

from core.paths import REPO_ROOT


def test_bench_runs_and_fast_paths_agree_with_naive_ones():
    result = subprocess.run([sys.executable, "-m", "core", "bench", "--model", "tiny", "--size", "tiny"],
                            capture_output=True, text=True, cwd=REPO_ROOT, timeout=900)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["icl_max_abs_diff"] < 1e-4
    assert figures["generation_same_output"] == 1.0
    # Same batches, same schedule: bf16 and packing may move the loss only a little.
    for prefix in ("ft", "ft_short_docs"):
        fast, naive = figures[f"{prefix}_final_loss"], figures[f"{prefix}_naive_final_loss"]
        assert abs(fast - naive) < 0.05 * naive, (prefix, fast, naive)
    for key in ("icl_scoring_speedup", "ft_speedup", "ft_mfu", "ft_short_docs_speedup",
                "generation_speedup",
                "model_loaded_peak_mb", "ft_full_peak_mb", "ft_lora_peak_mb"):
        assert figures[key] > 0, key
    assert "speedup" in result.stdout  # the table before the JSON line

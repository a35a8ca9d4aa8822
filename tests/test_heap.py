import psutil
import pytest
import torch

from core.kernels import heap


def _rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


@pytest.mark.skipif(heap._glibc() is None, reason="the heap settings are glibc's")
def test_freed_memory_stays_while_training_and_goes_back_afterwards():
    """Inside `kept()` a freed block stays in the process for the next step (no fresh pages to
    fault in); on the way out it is returned, so the app does not keep a training peak."""
    heap._glibc().malloc_trim(0)  # free memory left by earlier tests would hide the block
    before = _rss_mb()
    with heap.kept():
        block = torch.ones(64 * 2**20)  # 256 MB, every page touched
        del block
        inside = _rss_mb()
    after = _rss_mb()
    assert inside > before + 200
    assert after < before + 50

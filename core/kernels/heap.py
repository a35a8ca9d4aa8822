"""Keep freed memory in the process while fine-tuning (glibc only; elsewhere nothing changes).

A training step allocates and frees hundreds of megabytes: the head's logits and gradients,
the embedding's gradient, bf16 copies of the weights. glibc hands every block above a threshold
back to the kernel when it is freed and maps fresh pages for the next one, and the kernel
zeroes each page on first touch: on this 2-core CPU that was a sixth of a fine-tuning step,
spent in the kernel. Inside `kept()` freed blocks stay in the heap for the next step; on the
way out the settings go back and the free memory is returned, so a long-lived process (the
app) does not keep the training peak.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
from collections.abc import Iterator

# mallopt parameters and glibc's defaults for them (malloc/malloc.c).
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
_DEFAULT_TRIM_THRESHOLD, _DEFAULT_MMAP_MAX = 128 * 1024, 65536


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt, libc.malloc_trim  # noqa: B018 - both exist only in glibc
    except (OSError, AttributeError):
        return None
    return libc


@contextlib.contextmanager
def kept() -> Iterator[None]:
    """No memory maps for big blocks and no trimming of the heap's top while inside."""
    libc = _glibc()
    if libc is None:
        yield
        return
    libc.mallopt(_M_MMAP_MAX, 0)
    libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1)
    try:
        yield
    finally:
        libc.mallopt(_M_MMAP_MAX, _DEFAULT_MMAP_MAX)
        libc.mallopt(_M_TRIM_THRESHOLD, _DEFAULT_TRIM_THRESHOLD)
        libc.malloc_trim(0)

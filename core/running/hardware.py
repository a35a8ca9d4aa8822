"""What the machine is, in the words the benchmark and the demo print beside every figure:
CPUs of one kind differ (some have AVX-512 with bf16 matrix instructions, some only AVX2), and
a figure means little without saying which it was measured on."""

from __future__ import annotations

import platform
import time
from pathlib import Path

import torch

from core.paths import REPO_ROOT


def cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.partition(":")[2].split())
    except OSError:
        pass
    return set()


def cpu_instruction_set(flags: set[str] | None = None) -> str:
    """The widest vector/matrix instructions the CPU has, from the most capable down:
    "AMX" (bf16 tiles), "AVX-512 bf16", "AVX-512" (no bf16), "AVX2", or torch's own word."""
    flags = cpu_flags() if flags is None else flags
    for flag, name in (("amx_bf16", "AMX"), ("avx512_bf16", "AVX-512 bf16"),
                       ("avx512f", "AVX-512"), ("avx2", "AVX2")):
        if flag in flags:
            return name
    return getattr(torch.backends.cpu, "get_cpu_capability", lambda: platform.machine())()


def describe() -> dict[str, str | int]:
    """The CPU's name and instruction set, and the threads torch uses."""
    name = ""
    try:
        name = next((line.partition(":")[2].strip()
                     for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name")), "")
    except OSError:
        pass
    return {"cpu": name or platform.processor() or platform.machine(),
            "isa": cpu_instruction_set(), "threads": torch.get_num_threads()}


def matmul_rate(dtype: torch.dtype = torch.float32, device: torch.device | None = None,
                size: int | None = None, seconds: float = 1.0, threads: int | None = None
                ) -> float:
    """FLOP/s of `size`-square matrix multiplies in `dtype` for about `seconds`, on `threads`
    torch threads (default: as set). A GPU needs big matrices to reach its peak; 1024 already
    does on a CPU. The same CPU gives different rates from one hour to the next (a shared
    machine), so a timing means little without the rate measured beside it."""
    device = device or torch.device("cpu")
    size = size or (8192 if device.type == "cuda" else 1024)
    before = torch.get_num_threads()
    torch.set_num_threads(threads or before)
    try:
        # Its own generator: measuring must not move the random numbers of what runs after.
        generator = torch.Generator(device).manual_seed(0)
        a, b = (torch.randn(size, size, device=device, generator=generator).to(dtype)
                for _ in range(2))
        for _ in range(3):
            a @ b
        if device.type == "cuda":
            torch.cuda.synchronize()
        runs, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            a @ b
            runs += 1
        if device.type == "cuda":
            torch.cuda.synchronize()
        return 2 * size**3 * runs / (time.perf_counter() - start)
    finally:
        torch.set_num_threads(before)


# What a run's numbers depend on in the checkout: an uncommitted edit here marks the run.
RUN_CODE = ("core", "requirements.lock")


def code_version(root: Path = REPO_ROOT) -> str:
    """The commit this code came from ("+changes" when the code that makes runs, `core/` and
    the lock file, has uncommitted edits; an edited doc or results file does not count), or
    "unknown" outside a git checkout; recorded with every run so a table says what made it."""
    import subprocess
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=10", "HEAD"], cwd=root,
                                capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                *RUN_CODE], cwd=root, capture_output=True, text=True,
                               timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (commit + ("+changes" if dirty else "")) if commit else "unknown"

"""`python -m core demo`: all six methods on the quick `reversals` world, with a breakdown of
where the time went, phase by phase."""

from __future__ import annotations

import sys
import time
from collections import defaultdict

from core.methods import METHODS
from core.running import hardware
from core.running.runner import RunSpec, run_all
from core.storage.store import Store


def run_demo(model: str = "default", db: str | None = None, aug_source: str = "oracle",
             quiet: bool = False, progress=None) -> dict:
    """Run the demo, store it, and return seconds in all, per method and per phase."""
    start = time.perf_counter()
    specs = [RunSpec(method=m, model=model, aug_source=aug_source) for m in METHODS]
    lm_cache: dict = {}
    loading = time.perf_counter()
    from core.lm import models
    lm_cache[model] = models.load(model)
    load_s = time.perf_counter() - loading
    results = run_all(specs, Store(db), progress=progress, lm_cache=lm_cache)
    method_of = {r.run_id: r.spec.method for r in results}
    reused = {r.spec.method: method_of[r.extra["training_reused_from"]]
              for r in results if "training_reused_from" in r.extra}
    phases: dict[str, float] = defaultdict(float)
    per_method = {}
    for result in results:
        # A run that took an earlier run's trained model spent only its augmentation's time here.
        spent = [c for c in result.costs
                 if result.spec.method not in reused or c.phase not in ("train", "evaluate")]
        per_method[result.spec.method] = sum(c.seconds for c in spent)
        for cost in spent:
            phases[cost.phase] += cost.seconds
    machine = hardware.describe()
    summary = {"seconds": time.perf_counter() - start, "model_load_seconds": load_s,
               "machine": f"{machine['cpu']} ({machine['isa']}, {machine['threads']} threads)",
               "phases": dict(phases), "methods": per_method,
               "reused": reused,
               "accuracy": {r.spec.method: {m.split: m.accuracy for m in r.metrics} for r in results}}
    if not quiet:
        print(breakdown(summary), file=sys.stderr)
    return summary


def breakdown(summary: dict) -> str:
    lines = [f"demo: {summary['seconds']:.0f} s in all on {summary['machine']} (model load "
             f"{summary['model_load_seconds']:.1f} s)"]
    lines += [f"  phase {phase:<9} {seconds:7.1f} s" for phase, seconds in summary["phases"].items()]
    for method, seconds in summary["methods"].items():
        accuracy = ", ".join(f"{s} {a:.2f}" for s, a in summary["accuracy"][method].items())
        reused = summary.get("reused", {}).get(method)
        note = f"   (trained model of {reused}: same data)" if reused else ""
        lines.append(f"  {method:<16} {seconds:7.1f} s   {accuracy}{note}")
    return "\n".join(lines)

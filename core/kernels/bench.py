"""`python -m core bench`: each fast path beside a naive baseline in the same process, checked
to compute the same thing, with the ratio printed. The last line is one JSON object.

The naive paths live here and only here: they are what a plain loop would do.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import resource
import subprocess
import sys
import time
from datetime import date

import torch

from core.lm import generation, models, scoring
from core.lm.models import LM
from core.methods import icl
from core.methods.finetune import FTConfig, batch_order, lr_factor, make_examples, total_steps, train
from core.running import hardware
from core.worlds import build_world


def peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM belongs to the address space, so a child
    does not inherit its parent's peak the way getrusage's ru_maxrss does across fork+exec."""
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@functools.cache
def matmul_flops_per_second(dtype: torch.dtype, device: torch.device) -> float:
    """What this machine's matrix units do for `dtype`: the denominator of utilization.
    Measured once a process for each dtype and device."""
    return hardware.matmul_rate(dtype, device)


# ---------------------------------------------------------------- ICL scoring


@torch.inference_mode()
def naive_loglikelihood(lm: LM, shared: str, context: str, continuation: str) -> float:
    """One full forward of shared context + context + continuation (encoded piece by piece, as
    the fast path does), logits over the whole vocabulary everywhere."""
    ctx = lm.start_ids + lm.encode(shared) + lm.encode(context)
    cont = lm.encode(continuation)
    ids = torch.tensor([ctx + cont], device=lm.device)
    logprobs = torch.log_softmax(lm.model(input_ids=ids).logits[0].float(), -1)
    return float(sum(logprobs[len(ctx) - 1 + k, t] for k, t in enumerate(cont)))


def bench_icl(lm: LM, world, max_items: int | None) -> dict:
    items = world.items[:max_items] if max_items else world.items
    context = icl.build_context(lm, world.documents, items).text
    pairs = [(i.prompt, c) for i in items for c in i.choices]
    start = time.perf_counter()
    fast = scoring.loglikelihoods(lm, pairs, shared_context=context)
    fast_s = time.perf_counter() - start
    start = time.perf_counter()
    naive = [naive_loglikelihood(lm, context, p, c) for p, c in pairs]
    naive_s = time.perf_counter() - start
    return {"icl_scoring_speedup": naive_s / fast_s, "icl_fast_s": fast_s, "icl_naive_s": naive_s,
            "icl_pairs": len(pairs), "icl_context_tokens": len(lm.encode(context)),
            "icl_max_abs_diff": max(abs(a - b) for a, b in zip(fast, naive))}


def harness_requests(world, max_items: int | None) -> list[tuple[str, str]]:
    """A request file as an evaluation harness writes one: each half of the training set as a
    passage, then each item's question and one choice ("many questions behind one context")."""
    documents = [d.text for d in world.documents]
    halves = [" ".join(documents[:len(documents) // 2]), " ".join(documents[len(documents) // 2:])]
    items = world.items[:max_items] if max_items else world.items
    return [(f"{passage}\nQuestion: {item.prompt}", choice)
            for passage in halves for item in items[:len(items) // 2] for choice in item.choices]


@torch.inference_mode()
def bench_requests(lm: LM, world, max_items: int | None) -> dict:
    """`python -m core score` (shared prefixes encoded once) against encoding each pair afresh."""
    from core.lm import requests
    pairs = harness_requests(world, max_items)
    start = time.perf_counter()
    fast = requests.score_requests(lm, pairs, "harness")
    fast_s = time.perf_counter() - start
    start = time.perf_counter()
    naive = []
    for context, continuation in pairs:
        ctx, cont = requests.encode_pair(lm, context, continuation, "harness")
        logits = lm.model(input_ids=torch.tensor([ctx + cont], device=lm.device)).logits[0]
        logprobs = torch.log_softmax(logits.float(), -1)
        naive.append(float(sum(logprobs[len(ctx) - 1 + k, t] for k, t in enumerate(cont))))
    naive_s = time.perf_counter() - start
    return {"score_speedup": naive_s / fast_s, "score_fast_s": fast_s, "score_naive_s": naive_s,
            "score_pairs": len(pairs),
            "score_context_tokens": max(len(lm.encode(c)) for c, _ in pairs),
            "score_max_abs_diff": max(abs(a - b) for a, b in zip(fast, naive))}


# ---------------------------------------------------------------- fine-tuning


class NaiveTraining:
    """A plain float32 loop: padded batches, default AdamW; the same batches and learning-rate
    schedule as the method's loop, so their losses compare step by step. `run(until)` takes
    steps until `until` are done, timing only the steps (not the model's loading)."""

    def __init__(self, lm: LM, examples: list[tuple[str, str]], config: FTConfig) -> None:
        self.lm, self.examples = lm, examples
        self.model = models.load(lm.name, lm.device).model
        self.model.train()
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr,
                                           weight_decay=config.weight_decay)
        total = total_steps(len(examples), config)
        self.schedule = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: lr_factor(s, total, config))
        self.batches = batch_order(len(examples), config.batch_size, config.seed)
        self.losses: list[float] = []
        self.tokens, self.seconds = 0, 0.0

    def run(self, until: int) -> None:
        lm, pad = self.lm, self.lm.tokenizer.pad_token_id or 0
        while len(self.losses) < until:
            start = time.perf_counter()
            batch = [self.examples[i] for i in next(self.batches)]
            rows = [lm.start_ids + lm.encode(c) + lm.encode(t) for c, t in batch]
            width = max(map(len, rows))
            ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows], device=lm.device)
            labels = torch.tensor([r + [-100] * (width - len(r)) for r in rows], device=lm.device)
            labels[:, 0] = -100
            loss = self.model(input_ids=ids, labels=labels).loss
            loss.backward()
            self.optimizer.step()
            self.schedule.step()
            self.optimizer.zero_grad()
            self.losses.append(loss.item())
            self.tokens += sum(map(len, rows))
            self.seconds += time.perf_counter() - start


def bench_ft(lm: LM, world, steps: int, prefix: str = "ft", lora: bool = True) -> dict:
    """Fine-tuning `steps` steps of the method's loop against the naive one, on `world`'s
    documents; the figures' keys start with `prefix`.

    The naive loop's steps come half before the method's and half after: this CPU's speed
    drifts by 5-10% over minutes, and run one after the other (2.3 minutes of naive steps,
    then 35 s of fast ones) the ratio drifted with it; split around the fast run, a steady
    drift cancels."""
    examples = make_examples([d.text for d in world.documents], "none")
    epochs = max(1, math.ceil(steps * 8 / len(examples)))
    config = FTConfig(epochs=epochs, max_steps=steps)
    naive = NaiveTraining(lm, examples, config)
    naive.run(steps // 2)
    with models.weights_restored(lm):  # putting the weights back is not fine-tuning's time
        start = time.perf_counter()
        fast = train(lm, examples, config)
        fast_s = time.perf_counter() - start
    naive.run(steps)
    naive_losses, naive_tps = naive.losses, naive.tokens / naive.seconds
    del naive  # its model and optimizer go before the LoRA run
    fast_tps = fast.tokens / fast_s
    dtype = torch.bfloat16 if models.bf16_supported(lm.device) else torch.float32
    peak = matmul_flops_per_second(dtype, lm.device)
    tail = max(1, steps // 4)
    out = {"speedup": fast_tps / naive_tps, "tokens_per_s": fast_tps,
           "naive_tokens_per_s": naive_tps, "tokens_per_step": fast.tokens / fast.steps,
           "mfu": fast.flops / fast_s / peak, "matmul_gflops": peak / 1e9,
           "dtype": str(dtype).removeprefix("torch."),
           "final_loss": sum(p["loss"] for p in fast.losses[-tail:]) / tail,
           "naive_final_loss": sum(naive_losses[-tail:]) / tail}
    if lora:
        with models.weights_restored(lm):
            lora_run = train(lm, examples, dataclasses.replace(config, mode="lora", lr=1e-3))
        out["lora_final_loss"] = sum(p["loss"] for p in lora_run.losses[-tail:]) / tail
    return {f"{prefix}_{key}": value for key, value in out.items()}


def bench_cuda_graphs(lm: LM, world, steps: int) -> dict:
    """On a GPU: the method's loop with every step replayed as a CUDA graph against the same
    loop launching each kernel (LAB_CUDA_GRAPHS=0), full fine-tuning, same batches."""
    examples = make_examples([d.text for d in world.documents], "none")
    config = FTConfig(epochs=max(1, math.ceil(steps * 8 / len(examples))), max_steps=steps)
    timed = {}
    for graphs in (False, True, False):  # eager on both sides of the graphs: drift cancels
        with models.weights_restored(lm):
            torch.cuda.synchronize()
            start = time.perf_counter()
            run = train(lm, examples, config, graphs=graphs)
            torch.cuda.synchronize()
            timed.setdefault(graphs, []).append((time.perf_counter() - start, run))
    eager_s = sum(s for s, _ in timed[False]) / 2
    graphs_s, graphed = timed[True][0]
    eager = timed[False][0][1]
    tail = max(1, steps // 4)
    final = lambda r: sum(p["loss"] for p in r.losses[-tail:]) / tail  # noqa: E731
    return {"graphs_speedup": eager_s / graphs_s, "graphs_step_ms": graphs_s / steps * 1e3,
            "graphs_eager_step_ms": eager_s / steps * 1e3, "graphs_steps": steps,
            "graphs_final_loss": final(graphed), "graphs_eager_final_loss": final(eager),
            "graphs_kind": graphed.step_kind}


# ---------------------------------------------------------------- generation


@torch.inference_mode()
def naive_generate(lm: LM, prompt: str, max_new_tokens: int) -> str:
    ids = torch.tensor([lm.start_ids + lm.encode(prompt)], device=lm.device)
    out = lm.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                            max_new_tokens=max_new_tokens, pad_token_id=lm.tokenizer.pad_token_id)
    return lm.decode(out[0, ids.shape[1]:].tolist())


def bench_generation(lm: LM, world, n_prompts: int, max_new_tokens: int = 32) -> dict:
    from core.methods.augment import LOCAL_PROMPT, training_sentences
    prompts = [LOCAL_PROMPT.format(sentence=s) for s in training_sentences(world)][:n_prompts]
    start = time.perf_counter()
    fast = generation.generate(lm, prompts, max_new_tokens=max_new_tokens, stop="\n\n")
    fast_s = time.perf_counter() - start
    start = time.perf_counter()
    naive = [naive_generate(lm, p, max_new_tokens).split("\n\n")[0] for p in prompts]
    naive_s = time.perf_counter() - start
    same = sum(a.strip() == b.strip() for a, b in zip(fast, naive)) / len(prompts)
    return {"generation_speedup": naive_s / fast_s, "generation_fast_s": fast_s,
            "generation_naive_s": naive_s, "generation_prompts": len(prompts),
            "generation_same_output": same}


# ---------------------------------------------------------------- memory, in fresh processes


def _start_child(code: str) -> subprocess.Popen:
    """A fresh Python process running `code`, which then prints its peak resident memory and
    peak GPU memory (MB; 0 without a GPU)."""
    script = (f"{code}\nimport torch\nfrom core.kernels.bench import peak_rss_mb\n"
              "gpu = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else 0\n"
              "print(peak_rss_mb(), gpu)")
    return subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _child_peak(child: subprocess.Popen) -> tuple[float, float]:
    out, err = child.communicate()
    if child.returncode:
        raise subprocess.CalledProcessError(child.returncode, child.args, out, err)
    rss, gpu = out.strip().splitlines()[-1].split()
    return float(rss), float(gpu)


def bench_memory(model: str, gpu: bool = False, tiny: bool = False) -> dict:
    """Peak memory of loading the model, and of the fine-tuning bench's 30 steps on the
    semantic world (8 documents of up to 135 tokens a step), full and LoRA. Each in its own
    process (a peak is per process), the three at once: importing torch in each is most of
    the time at the tiny size."""
    load = f"from core.lm import models; lm = models.load({model!r})"
    world = ("build_world('reversals', 0, 'quick', {{'n_facts': 4}})" if tiny
             else "build_world('semantic', 0, 'quick', {{}})")
    ft = ("from core.methods.finetune import FTConfig, make_examples, train\n"
          "from core.worlds import build_world\n"
          f"examples = make_examples([d.text for d in {world}.documents], 'none')\n"
          "train(lm, examples, FTConfig(mode={mode!r}, lr={lr}, max_steps={steps}))")
    steps = 3 if tiny else 30
    children = {name: _start_child(code) for name, code in [
        ("model_loaded", load),
        ("ft_full", load + "\n" + ft.format(mode="full", lr=2e-4, steps=steps)),
        ("ft_lora", load + "\n" + ft.format(mode="lora", lr=1e-3, steps=steps))]}
    figures = {}
    for name, child in children.items():
        rss, gpu_mb = _child_peak(child)
        figures[f"{name}_peak_mb"] = rss
        if gpu:
            figures[f"{name}_gpu_peak_mb"] = gpu_mb
    return figures


# ---------------------------------------------------------------- all together


def run(model: str = "default", size: str = "full", demo: bool = False) -> dict:
    """`size` "tiny" runs every path on a few items and steps, to check that it works."""
    tiny = size == "tiny"
    lm = models.load(model)
    world = build_world("reversals", 0, "quick", {"n_facts": 4} if tiny else {})
    # Fine-tuning is timed on the semantic world, the study's main one, whose documents (4 to 20
    # sentences) vary in length as real ones do; and again on the reversals world's one-line
    # documents, where a step of 8 holds only ~160 tokens.
    ft_world = world if tiny else build_world("semantic", 0, "quick", {})
    figures: dict = {"date": date.today().isoformat(), "model": model, "device": str(lm.device),
                     **hardware.describe(), "size": size}
    parts = [("icl", lambda: bench_icl(lm, world, 4 if tiny else None)),
             ("score", lambda: bench_requests(lm, world, 4 if tiny else None)),
             ("ft", lambda: bench_ft(lm, ft_world, 3 if tiny else 30)),
             ("ft short", lambda: bench_ft(lm, world, 3 if tiny else 30, "ft_short_docs",
                                           lora=False)),
             ("generation", lambda: bench_generation(lm, world, 2 if tiny else 16,
                                                     8 if tiny else 32)),
             ("memory", lambda: bench_memory(model, lm.device.type == "cuda", tiny))]
    if lm.device.type == "cuda":
        figures["gpu"] = torch.cuda.get_device_name(lm.device)
        parts.append(("graphs", lambda: bench_cuda_graphs(lm, ft_world, 5 if tiny else 60)))
    for name, part in parts:
        start = time.perf_counter()
        figures.update(part())
        print(f"{name:<11} done in {time.perf_counter() - start:6.1f} s", file=sys.stderr)
    if demo:
        from core.running.demo import run_demo
        figures["demo_seconds"] = run_demo(model, quiet=True)["seconds"]
    return figures


def _ft_detail(figures: dict, prefix: str) -> str:
    get = lambda key: figures[f"{prefix}_{key}"]  # noqa: E731
    return (f"{get('tokens_per_s'):.0f} vs {get('naive_tokens_per_s'):.0f} tokens/s, "
            f"{get('tokens_per_step'):.0f} tokens/step, utilization {get('mfu'):.0%} of "
            f"{get('matmul_gflops'):.0f} GFLOP/s {get('dtype')}, final loss "
            f"{get('final_loss'):.3f} vs {get('naive_final_loss'):.3f} (same batches)")


def table(figures: dict) -> str:
    rows = [("ICL scoring", "icl_scoring_speedup", f"{figures['icl_pairs']} choices, "
             f"context {figures['icl_context_tokens']} tokens, max |diff| "
             f"{figures['icl_max_abs_diff']:.1e} nats"),
            ("score file", "score_speedup", f"{figures['score_pairs']} harness requests, "
             f"contexts up to {figures['score_context_tokens']} tokens, max |diff| "
             f"{figures['score_max_abs_diff']:.1e} nats"),
            ("fine-tuning", "ft_speedup", _ft_detail(figures, "ft")),
            ("FT one-liners", "ft_short_docs_speedup", _ft_detail(figures, "ft_short_docs")),
            ("generation", "generation_speedup", f"{figures['generation_prompts']} prompts, "
             f"same output {figures['generation_same_output']:.0%}")]
    lines = [f"machine: {figures['cpu']}, {figures['isa']}, {figures['threads']} threads, "
             f"{figures['device']}" + (f" ({figures['gpu']})" if "gpu" in figures else ""),
             f"{'path':<14} {'speedup':>8}  detail"]
    lines += [f"{name:<14} {figures[key]:>7.1f}x  {detail}" for name, key, detail in rows]
    lines.append(f"memory: model loaded {figures['model_loaded_peak_mb']:.0f} MB, full fine-tuning "
                 f"{figures['ft_full_peak_mb']:.0f} MB, LoRA {figures['ft_lora_peak_mb']:.0f} MB (peak RSS)")
    if "ft_full_gpu_peak_mb" in figures:
        lines.append(f"GPU memory ({figures['gpu']}): model loaded "
                     f"{figures['model_loaded_gpu_peak_mb']:.0f} MB, full fine-tuning "
                     f"{figures['ft_full_gpu_peak_mb']:.0f} MB, LoRA "
                     f"{figures['ft_lora_gpu_peak_mb']:.0f} MB (peak allocated)")
    if "graphs_speedup" in figures:
        lines.append(f"CUDA graphs: {figures['graphs_speedup']:.1f}x the same loop launching each "
                     f"kernel ({figures['graphs_step_ms']:.1f} against "
                     f"{figures['graphs_eager_step_ms']:.1f} ms a step; final loss "
                     f"{figures['graphs_final_loss']:.3f} against "
                     f"{figures['graphs_eager_final_loss']:.3f}; {figures['graphs_kind']})")
    if "demo_seconds" in figures:
        lines.append(f"demo: {figures['demo_seconds']:.0f} s ({figures['isa']})")
    return "\n".join(lines)


def main(model: str, size: str, demo: bool) -> None:
    figures = run(model, size, demo)
    print(table(figures))
    print(json.dumps({k: (float(f"{v:.4g}") if isinstance(v, float) else v) for k, v in figures.items()}))

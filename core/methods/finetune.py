"""Fine-tuning: causal language-model loss on training texts, full or LoRA (through peft).

The whole loop is `train` below. Examples are (context, target) pairs; the loss covers only
the target's tokens, so `cumulative` sentence splitting can show earlier sentences as context.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import torch

from core.errors import LabError
from core.kernels import cuda_graphs, heap
from core.kernels.fused_loss import causal_lm_loss
from core.kernels.fused_norm import fused_rms_norms
from core.kernels.fused_rotary import fused_rotary
from core.kernels.packed_attention import packed_rows
from core.lm import models
from core.lm.models import LM
from core.methods.config import FTConfig
from core.methods.packing import pack_rows, pack_tree, row_multiple, tokenize
from core.running.costs import train_flops


def cuda_graphs_wanted(device: torch.device) -> bool:
    """Training steps as CUDA graphs (core/kernels/cuda_graphs.py) on an NVIDIA GPU, unless
    LAB_CUDA_GRAPHS=0."""
    return device.type == "cuda" and os.environ.get("LAB_CUDA_GRAPHS", "1") != "0"


@dataclass
class TrainResult:
    model: torch.nn.Module
    losses: list[dict] = field(default_factory=list)  # step, loss, tokens
    tokens: int = 0
    computed_tokens: int = 0  # what the steps ran: packed trees share openings, rows pad
    flops: float = 0.0
    steps: int = 0
    step_kind: str = "eager"  # or how CUDA graphs ran the steps (GraphedSteps.describe)
    precision: str = "float32"  # or "bf16" (autocast), where the device has bf16 matrix units


_SENTENCE_END = re.compile(r"(?<=[.!?:])\s+|\n+")


def split_sentences(text: str) -> list[str]:
    """Pieces whose concatenation is the text, one sentence each (separators kept in front)."""
    pieces, last = [], 0
    for match in _SENTENCE_END.finditer(text):
        pieces.append(text[last:match.start()])
        last = match.start()
    pieces.append(text[last:])
    return [p for p in pieces if p.strip()]


def make_examples(texts: Sequence[str], splitting: str) -> list[tuple[str, str]]:
    """(context, target) pairs from documents under a sentence-splitting mode."""
    examples = []
    for text in texts:
        if splitting == "none":
            examples.append(("", text))
            continue
        pieces = split_sentences(text)
        for index, piece in enumerate(pieces):
            if splitting == "independent":
                examples.append(("", piece.strip()))
            else:
                context = "".join(pieces[:index])
                examples.append((context, piece if context else piece.strip()))
    return examples


def _wrap_lora(model: torch.nn.Module, config: FTConfig, autocast: bool) -> torch.nn.Module:
    from peft import LoraConfig, get_peft_model
    from peft.tuners.tuners_utils import BaseTunerLayer
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    present = {name.split(".")[-1] for name, _ in model.named_modules()}
    lora = LoraConfig(r=config.lora_rank, lora_alpha=config.lora_alpha, lora_dropout=0.0,
                      target_modules=[t for t in targets if t in present] or "all-linear")
    with warnings.catch_warnings():  # peft asks transformers a deprecated question; not ours
        warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated",
                                FutureWarning)
        model = get_peft_model(model, lora)
    # peft casts each adapter's input to float32, and autocast casts it back to bf16 for each
    # adapter, which keeps its own copy for the backward pass. Autocast casts the adapters'
    # weights anyway, so with it on the adapters share the bf16 input the base layers got.
    for module in model.modules():
        if isinstance(module, BaseTunerLayer):
            module.cast_input_dtype_enabled = not autocast
    return model


def total_steps(n_examples: int, config: FTConfig) -> int:
    return config.max_steps or math.ceil(n_examples / config.batch_size) * config.epochs


def batch_order(n: int, batch_size: int, seed: int) -> Iterator[list[int]]:
    """Example indices batch by batch, endlessly: each epoch a fresh shuffle; an epoch's last
    batch may be smaller."""
    rng = random.Random(seed)
    order: list[int] = []
    while True:
        if not order:
            order = list(range(n))
            rng.shuffle(order)
        yield order[:batch_size]
        order = order[batch_size:]


def lr_factor(step: int, total: int, config: FTConfig) -> float:
    """Linear warmup, then cosine decay to a tenth: the last steps settle the memorized facts."""
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, total - config.warmup_steps)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def _train_loop(lm: LM, examples: Sequence[tuple[str, str]], config: FTConfig,
                progress: Callable[[int, int, float], None] | None,
                graphs: bool) -> TrainResult:
    """The loop itself: shuffled batches of packed examples, bf16 autocast, AdamW; on a GPU
    (`graphs`) each step replayed as a CUDA graph."""
    model = lm.model
    bf16 = models.bf16_supported(lm.device)
    if config.mode == "lora":
        model = _wrap_lora(model, config, autocast=bf16)  # freezes the base weights
    else:
        model.requires_grad_(True)  # a LoRA run before may have left them frozen
    model.train()
    rows = tokenize(lm, examples)
    batches = batch_order(len(rows), config.batch_size, config.seed)
    torch.manual_seed(config.seed)
    total = total_steps(len(rows), config)
    params = [p for p in model.parameters() if p.requires_grad]
    # The fused AdamW does the whole update in one kernel: 3x faster than the default on CPU.
    # A captured step reads the learning rate from a tensor the schedule fills in place.
    lr = torch.tensor(config.lr, device=lm.device) if graphs else config.lr
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=config.weight_decay,
                                  fused=lm.device.type in ("cpu", "cuda"), capturable=graphs)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, total, config))
    # Autocast's cache of bf16 weights would be captured stale; a graph casts them every step.
    autocast = torch.autocast(lm.device.type, dtype=torch.bfloat16, enabled=bf16,
                              cache_enabled=not graphs)
    adapters = sum(p.numel() for p in params) if config.mode == "lora" else 0
    multiple = cuda_graphs.ROW_MULTIPLE if graphs else row_multiple(bf16)
    # A CPU computes every token it is given, so shared openings are computed once; a GPU
    # waits on kernel launches at these sizes, not arithmetic, and keeps the plain rows its
    # CUDA graphs were checked with.
    pack = pack_tree if lm.device.type == "cpu" else pack_rows

    def train_step(batch: dict[str, torch.Tensor]) -> torch.Tensor:
        with autocast:
            loss = causal_lm_loss(model, **batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=not graphs)  # a graph keeps its gradients in place
        # Detached, so no step's autograd graph outlives it: an eager step's, kept alive into
        # a capture, made the gradients' accumulation wait across streams (a warning on CUDA).
        return loss.detach()

    graphed = cuda_graphs.GraphedSteps(train_step, lm.device) if graphs else None
    result = TrainResult(model, precision="bf16" if bf16 else "float32")
    for step in range(total):
        batch = [rows[i] for i in next(batches)]
        packed = pack(batch, lm.device, multiple)
        loss = graphed.step(packed) if graphed else train_step(packed)
        schedule.step()
        tokens = sum(len(ids) for ids, _ in batch)
        result.tokens += tokens
        result.computed_tokens += packed["input_ids"].shape[1]
        result.flops += train_flops(lm, tokens, tokens / len(batch) / 2, config.mode == "lora",
                                    adapters)
        result.losses.append({"step": step + 1, "loss": loss.item(), "tokens": result.tokens})
        if progress:
            progress(step + 1, total, result.losses[-1]["loss"])
    result.steps = total
    result.step_kind = graphed.describe() if graphed else "eager"
    optimizer.zero_grad(set_to_none=True)  # a graph's gradients must not outlive training
    return result


def train(lm: LM, examples: Sequence[tuple[str, str]], config: FTConfig,
          progress: Callable[[int, int, float], None] | None = None,
          graphs: bool | None = None) -> TrainResult:
    """Fine-tune `lm`'s weights in place (LoRA merged in at the end), with its loss curve and
    compute. Callers wrap this in `models.weights_restored(lm)` to get the original back.
    `graphs`: steps as CUDA graphs (default: on an NVIDIA GPU, see `cuda_graphs_wanted`)."""
    config.validate()
    graphs = cuda_graphs_wanted(lm.device) if graphs is None else graphs
    if not examples:
        raise LabError("nothing to fine-tune on: the training set is empty")
    # Captures and their streams belong to the current GPU: make it the model's (cuda:1...).
    on_device = torch.cuda.device(lm.device) if graphs else contextlib.nullcontext()
    with (packed_rows(lm.model), fused_rms_norms(lm.model), fused_rotary(lm.model),
          heap.kept(), on_device):
        result = _train_loop(lm, examples, config, progress, graphs)
    model = result.model
    if config.mode == "lora":
        model = model.merge_and_unload()
    model.eval()
    lm.model = result.model = model
    return result

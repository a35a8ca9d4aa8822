"""The lab's own attention functions are registered with transformers under a name; a model
uses one for a while inside `using(model, name)` and gets its own back afterwards."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def using(model: torch.nn.Module, name: str) -> Iterator[None]:
    before = model.config._attn_implementation
    model.set_attn_implementation(name)
    try:
        yield
    finally:
        model.set_attn_implementation(before)

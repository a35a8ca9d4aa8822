"""The fine-tuning step as CUDA graphs: each row length's step captured once, then replayed.

On a GPU, a 135M model with a few hundred tokens a step waits on kernel launches: a step is
about a thousand kernels (forward, backward, the optimizer's update), each a few microseconds to
launch, around arithmetic that takes a millisecond. A CUDA graph launches the whole step at
once. A graph replays fixed shapes at fixed addresses, so:

- the packed rows are padded to a multiple of ROW_MULTIPLE tokens (finetune.py), and one graph
  is kept per row length, all drawing on one memory pool (they never run at once);
- the first step at a length runs as usual, on a side stream (the libraries set themselves up
  on their first call, which a capture must not see); the second is captured and replayed, and
  every later one only copies its batch into the graph's inputs and replays;
- the learning rate is a tensor the schedule fills in place, and the optimizer is capturable;
- nothing inside the step may wait for the device: fused_loss.py takes every row on a GPU,
  and packed_attention.py's GPU path keeps the documents on the device.

Every step, eager or replayed, is the same arithmetic, so training is unchanged; where a
capture fails the steps go on eagerly and `failure` says why (the run records it).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

ROW_MULTIPLE = 64  # tokens; a quick world's steps then fall into a handful of lengths

Batch = dict[str, torch.Tensor]


class GraphedSteps:
    """`step(batch)` runs `train_step(batch)` (forward, backward, optimizer update, gradients
    zeroed in place; it returns the loss tensor) through one CUDA graph per input shape."""

    def __init__(self, train_step: Callable[[Batch], torch.Tensor], device: torch.device) -> None:
        self.train_step = train_step
        self.graphs: dict[tuple, tuple[torch.cuda.CUDAGraph, Batch, torch.Tensor]] = {}
        self.seen: set[tuple] = set()
        self.pool = None
        self.failure: str | None = None
        self.replays = 0
        self.side = torch.cuda.Stream(device)

    def step(self, batch: Batch) -> torch.Tensor:
        shape = tuple(tuple(t.shape) for t in batch.values())
        if shape in self.graphs:
            graph, inputs, loss = self.graphs[shape]
            for name, tensor in batch.items():
                inputs[name].copy_(tensor)
            graph.replay()  # the caller reads the loss before the next replay reuses the pool
            self.replays += 1
            return loss
        if shape in self.seen and self.failure is None:
            try:
                return self._capture(shape, batch)
            except RuntimeError as error:  # a kernel that waits, an unsupported operation
                cause = error.__context__ or error  # ending a broken capture hides the cause
                self.failure = (str(cause).strip().splitlines() or [type(cause).__name__])[0][:200]
                torch.cuda.synchronize()
        self.seen.add(shape)
        return self._on_side_stream(batch)

    def _on_side_stream(self, batch: Batch) -> torch.Tensor:
        self.side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(self.side):
            loss = self.train_step(batch)
        torch.cuda.current_stream().wait_stream(self.side)
        return loss

    def _capture(self, shape: tuple, batch: Batch) -> torch.Tensor:
        inputs = {name: tensor.clone() for name, tensor in batch.items()}
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self.pool):
            loss = self.train_step(inputs)
        self.pool = self.pool or graph.pool()
        self.graphs[shape] = (graph, inputs, loss)
        graph.replay()  # capturing records the step; this replay takes it
        self.replays += 1
        return loss

    def describe(self) -> str:
        """How the steps ran, for the run's record."""
        if self.failure:
            return f"eager: CUDA graph capture failed ({self.failure})"
        return f"CUDA graphs: {len(self.graphs)} row lengths, {self.replays} steps replayed"

"""Fine-tuning steps replayed as CUDA graphs (core/kernels/cuda_graphs.py) train as the same
loop launching each kernel does. Needs an NVIDIA GPU: collected only where there is one
(tests/conftest.py); scripts/gpu_check.sh runs it there (docs/cluster.md)."""

import pytest
import torch

from core.lm import models
from core.methods.config import FTConfig
from core.methods.finetune import make_examples, train
from core.worlds import build_world

if not torch.cuda.is_available():  # named on the command line of a machine without one
    pytest.skip("needs an NVIDIA GPU", allow_module_level=True)


@pytest.fixture(scope="module")
def cuda_lm():
    return models.load("tiny", "cuda")


def _trained(lm, graphs: bool, mode: str = "full") -> tuple[list[float], dict, str]:
    world = build_world("semantic", 0, "quick", {})  # documents of many lengths
    examples = make_examples([d.text for d in world.documents], "none")
    with models.weights_restored(lm):
        run = train(lm, examples, FTConfig(mode=mode, lr=1e-3, max_steps=40), graphs=graphs)
        weights = {k: v.detach().float().cpu().clone() for k, v in lm.model.state_dict().items()}
    return [p["loss"] for p in run.losses], weights, run.step_kind


@pytest.mark.parametrize("mode", ["full", "lora"])
def test_graphed_steps_train_as_eager_steps_do(cuda_lm, mode):
    eager_losses, eager_weights, eager_kind = _trained(cuda_lm, graphs=False, mode=mode)
    losses, weights, kind = _trained(cuda_lm, graphs=True, mode=mode)
    assert eager_kind == "eager" and kind.startswith("CUDA graphs"), kind
    replayed = int(kind.split(", ")[1].split()[0])
    assert replayed >= 20  # most of the 40 steps were replays, not eager warm-ups
    # Same arithmetic in bf16, on rows padded to another multiple: equal up to rounding. The
    # weights also show that the schedule reached the captured optimizer: a learning rate
    # baked in at capture (during warm-up) would have moved them differently.
    assert losses == pytest.approx(eager_losses, rel=2e-2, abs=2e-2)
    for name, tensor in eager_weights.items():
        assert torch.allclose(weights[name], tensor, atol=2e-3, rtol=2e-2), name


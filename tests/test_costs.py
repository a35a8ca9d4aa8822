"""FLOPs accounting (core/running/costs.py): a forward pass costs 2 x the weights in its matrix
multiplies per token, the vocabulary projection only where it runs, plus attention."""

import torch

from core.running.costs import forward_flops, matmul_shape


def test_the_shape_read_once_counts_the_matrix_weights_and_gives_the_same_flops(tiny_lm):
    shape = matmul_shape(tiny_lm)
    model = tiny_lm.model
    head = model.get_output_embeddings()
    linear = sum(m.weight.numel() for m in model.modules()
                 if isinstance(m, torch.nn.Linear) and m is not head)
    norms = tiny_lm.n_params - linear - model.get_input_embeddings().weight.numel()
    assert shape.body == linear + norms and norms < 0.01 * linear  # norms: a vector a layer
    assert shape.head == head.weight.numel()
    tokens, context, scored = 17, 40.0, 3
    expected = (2 * shape.body * tokens + 2 * shape.head * scored
                + 2 * shape.layers * context * shape.width * tokens)
    assert forward_flops(shape, tokens, context, scored) == expected
    assert forward_flops(tiny_lm, tokens, context, scored) == expected

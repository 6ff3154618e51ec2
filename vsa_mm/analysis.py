"""Parameter and FLOP counting that sees VSA's fused sampling.

``mmengine.analysis`` traces the model with ``torch.jit`` and counts the
operators it knows. Two that it does not know are added here: VSA's key/value
projection and bilinear gather, which run inside one autograd Function (a
``prim::PythonOp`` to the tracer), and PyTorch's
``scaled_dot_product_attention``. Like mmengine (and
fvcore), one multiply-add counts as one FLOP; element-wise operations,
normalisation and softmax are not counted.
"""
from typing import Any, List, Tuple

import torch.nn as nn
from mmengine.analysis import FlopAnalyzer, parameter_count
from mmengine.analysis.jit_handles import get_shape

GATHER_OP = 'prim::PythonOp._ProjectedRowGather'
SDPA_OP = 'aten::scaled_dot_product_attention'


def projected_row_gather_flops(inputs: List[Any], outputs: List[Any]) -> int:
    """Multiply-adds of the k/v projection plus the 4-neighbour gather.

    The traced inputs are ``(x_map (B, H, W, C), qkv.weight (3 * Co, C),
    qkv.bias, index (S, 4), weights (S, 4))`` and the output is
    ``(S, 2 * d)``.
    """
    x_shape, weight_shape = get_shape(inputs[0]), get_shape(inputs[1])
    samples, channels = get_shape(outputs[0])
    tokens = 1
    for size in x_shape[:-1]:
        tokens *= size
    projection = tokens * x_shape[-1] * (2 * weight_shape[0] // 3)
    return projection + samples * 4 * channels


def scaled_dot_product_attention_flops(inputs: List[Any],
                                       outputs: List[Any]) -> int:
    """Multiply-adds of ``q @ k^T`` and ``attn @ v``.

    The traced inputs start with ``q (..., L, E)``, ``k (..., S, E)`` and
    ``v (..., S, Ev)``.
    """
    q_shape, _, v_shape = (get_shape(v) for v in inputs[:3])
    batch = 1
    for size in q_shape[:-2]:
        batch *= size
    queries, dims = q_shape[-2:]
    keys, value_dims = v_shape[-2:]
    return batch * queries * keys * (dims + value_dims)


def count_flops_and_params(model: nn.Module,
                           inputs: Tuple[Any, ...]) -> Tuple[int, int]:
    """FLOPs (multiply-adds) of one forward pass, and parameters.

    Args:
        model (nn.Module): The model, in the mode to analyse.
        inputs (tuple): Positional inputs of ``model.forward``.

    Returns:
        tuple[int, int]: FLOPs and the number of parameters.
    """
    analyzer = FlopAnalyzer(model, inputs)
    analyzer.set_op_handle(GATHER_OP, projected_row_gather_flops)
    analyzer.set_op_handle(SDPA_OP, scaled_dot_product_attention_flops)
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    return analyzer.total(), parameter_count(model)['']

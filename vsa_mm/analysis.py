"""Parameter and FLOP counting that sees VSA's fused sampling.

``mmengine.analysis`` traces the model with ``torch.jit`` and counts the
operators it knows. VSA's key/value projection and bilinear gather run
inside one autograd Function (a ``prim::PythonOp`` to the tracer), whose
cost is added by :func:`projected_row_gather_flops`. Like mmengine (and
fvcore), one multiply-add counts as one FLOP; element-wise operations,
normalisation and softmax are not counted.
"""
from typing import Any, List, Tuple

import torch.nn as nn
from mmengine.analysis import FlopAnalyzer, parameter_count
from mmengine.analysis.jit_handles import get_shape

GATHER_OP = 'prim::PythonOp._ProjectedRowGather'


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
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    return analyzer.total(), parameter_count(model)['']

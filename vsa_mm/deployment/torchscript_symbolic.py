"""``vsa_mm::bilinear_gather`` for PyTorch's TorchScript ONNX exporter.

``torch.onnx.export(..., dynamo=False)``, the exporter mmdeploy drives,
translates operators with *symbolic functions*. :func:`register` registers
one for VSA's sampling operator (``import vsa_mm`` calls it): for rows
(R, C), int64 index (S, K) and weights (S, K) it writes

``ReduceSum(Gather(rows, index, axis=0) * Unsqueeze(weights, 2), axis=1)``

of shape (S, C): standard operators every ONNX runtime has. ``Unsqueeze``
and ``ReduceSum`` take their axes as attributes before opset 13 and as
inputs from opset 13 on, so there is one function per form; the exporter
uses the newest one at or below the requested opset (11 and later).

The dynamo exporter (``torch.onnx.export(..., dynamo=True)``) uses
:func:`vsa_mm.deployment.onnx.onnx_translation_table` instead.
"""
import torch
from torch.onnx import register_custom_op_symbolic

from vsa_mm.compat import CUSTOM_OPS
from ..models.layers.backends.gather import BILINEAR_GATHER_OP, bilinear_gather

#: The lowest opset the exported graph is valid for.
MIN_OPSET = 11


def _gather_weighted(g, rows, index, weights):
    """``Gather(rows, index)`` times the weights, (S, K, C) and (S, K, 1)
    for opsets < 13."""
    corners = g.op('Gather', rows, index, axis_i=0)
    return g.op('Mul', corners, g.op('Unsqueeze', weights, axes_i=[2]))


def _bilinear_gather_opset11(g, rows, index, weights):
    return g.op(
        'ReduceSum',
        _gather_weighted(g, rows, index, weights),
        axes_i=[1],
        keepdims_i=0)


def _axes(g, *axes: int):
    return g.op('Constant', value_t=torch.tensor(axes, dtype=torch.int64))


def _bilinear_gather_opset13(g, rows, index, weights):
    corners = g.op('Gather', rows, index, axis_i=0)
    weighted = g.op('Mul', corners, g.op('Unsqueeze', weights, _axes(g, 2)))
    return g.op('ReduceSum', weighted, _axes(g, 1), keepdims_i=0)


def _bilinear_gather_symbolic(g, rows, index, weights):
    """The symbolic of the operator's ``torch.autograd.Function`` form (a
    torch without custom operators), for the export's opset."""
    if g.opset >= 13:
        return _bilinear_gather_opset13(g, rows, index, weights)
    return _bilinear_gather_opset11(g, rows, index, weights)


def register() -> None:
    """Register the symbolic functions (idempotent: a second registration
    replaces the first).

    On a torch without custom operators the gather is a
    ``torch.autograd.Function`` (:class:`vsa_mm.compat.FunctionOperator`),
    whose ``symbolic`` the exporter calls instead.
    """
    if not CUSTOM_OPS.available:
        bilinear_gather.function.symbolic = staticmethod(
            _bilinear_gather_symbolic)
        return
    register_custom_op_symbolic(BILINEAR_GATHER_OP, _bilinear_gather_opset11,
                                MIN_OPSET)
    register_custom_op_symbolic(BILINEAR_GATHER_OP, _bilinear_gather_opset13,
                                13)

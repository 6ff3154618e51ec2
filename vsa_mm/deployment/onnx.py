"""ONNX export of models that contain VSA layers.

VSA's sampling is one custom operator, ``vsa_mm::bilinear_gather``
(:data:`~vsa_mm.models.layers.backends.gather.BILINEAR_GATHER_OP`). PyTorch's
ONNX exporter (``torch.onnx.export(..., dynamo=True)``) needs to be told how
to write it in ONNX: :func:`onnx_translation_table` gives the translation
(``Gather``, ``Mul``, ``ReduceSum``: standard operators every ONNX runtime
has), and :func:`export_onnx` exports with it, with dynamic batch, height and
width by default.

While exported, the layer keeps nothing and accepts symbolic sizes, so one
export serves every input size, and the model stays usable in eager mode
afterwards.

Requires ``onnx`` and ``onnxscript`` (``pip install vsa_mm[deploy]``).
"""
import importlib
import os
from typing import Callable, Dict, Optional, Sequence, Union

import torch
import torch.nn as nn
from torch import Tensor

from vsa_mm.compat import DYNAMO_EXPORT

#: Input dimensions made dynamic by default: batch, height and width of an
#: (N, C, H, W) image batch.
DYNAMIC_IMAGE_DIMS = {0: 'batch', 2: 'height', 3: 'width'}

#: Smallest height and width an exported image model accepts: a 4-stage
#: backbone of total stride 32 needs at least 2 pixels in its last stage.
MIN_IMAGE_SIZE = 64


def onnx_translation_table() -> Dict[Callable, Callable]:
    """ONNX translations of vsa_mm's operators, for ``torch.onnx.export``.

    Pass it as ``custom_translation_table`` to
    ``torch.onnx.export(..., dynamo=True)``.

    Returns:
        dict: ``{torch.ops.vsa_mm.bilinear_gather.default: function}``, an
        ONNX Script function computing, for rows (R, C), int64 index (S, K)
        and weights (S, K), ``sum_k weights[s, k] * rows[index[s, k]]`` of
        shape (S, C).

    Raises:
        ImportError: If onnxscript is not installed.
    """
    try:
        from onnxscript import opset18 as op
    except ImportError as error:
        raise ImportError(
            'ONNX export needs onnxscript and onnx: pip install '
            '"vsa_mm[deploy]" (or: pip install onnx onnxscript)') from error

    def bilinear_gather(rows, index, weights):
        corners = op.Gather(rows, index, axis=0)  # (S, K, C)
        weighted = op.Mul(corners, op.Unsqueeze(weights, [2]))
        return op.ReduceSum(weighted, [1], keepdims=0)

    return {torch.ops.vsa_mm.bilinear_gather.default: bilinear_gather}


def image_dynamic_shapes(
        dims: Optional[Dict[int,
                            str]] = None) -> Dict[int, 'torch.export.Dim']:
    """``torch.export`` dynamic dimensions of an (N, C, H, W) input.

    Args:
        dims (dict[int, str], optional): Axis -> name of the dynamic axes.
            Defaults to :data:`DYNAMIC_IMAGE_DIMS`.

    Returns:
        dict[int, torch.export.Dim]: For ``dynamic_shapes``.

    Raises:
        UnsupportedTorchError: If torch has no size-oblivious export.
    """
    DYNAMO_EXPORT.require('the dynamo ONNX export')
    dims = DYNAMIC_IMAGE_DIMS if dims is None else dims
    return {
        axis: torch.export.Dim(name, min=MIN_IMAGE_SIZE if axis >= 2 else 1)
        for axis, name in dims.items()
    }


def export_onnx(model: nn.Module,
                example: Tensor,
                path: Union[str, os.PathLike],
                dynamic_dims: Optional[Dict[int, str]] = None,
                output_names: Optional[Sequence[str]] = None,
                opset_version: int = 18) -> None:
    """Export ``model(example)`` to an ONNX file with dynamic sizes.

    Args:
        model (nn.Module): The model, in eval mode; it must return a tensor
            or a tuple/list of tensors.
        example (Tensor): An example input of shape (N, C, H, W); with a
            dynamic batch, N = 1 is traced as N = 2.
        path (str | os.PathLike): Where the ``.onnx`` file goes; written
            atomically (a temporary file renamed into place).
        dynamic_dims (dict[int, str], optional): Dynamic input axes and their
            names. Defaults to batch, height and width.
        output_names (Sequence[str], optional): Names of the outputs.
        opset_version (int): ONNX opset. Defaults to 18.

    Raises:
        TypeError: If ``example`` is not a 4-D floating tensor.
        ValueError: If ``model`` is in training mode.
        UnsupportedTorchError: If torch has no size-oblivious export (the
            TorchScript route, :mod:`vsa_mm.deployment.torchscript_symbolic`,
            works on every supported torch).
    """
    DYNAMO_EXPORT.require('the dynamo ONNX export')
    if not isinstance(example, Tensor) or example.dim() != 4 or \
            not example.is_floating_point():
        shape = tuple(example.shape) if isinstance(example, Tensor) else None
        raise TypeError('example must be a floating (N, C, H, W) tensor, got '
                        f'{type(example).__name__} of shape {shape}')
    if model.training:
        raise ValueError('export a model in eval mode (model.eval()): '
                         'training-mode dropout and batch statistics do not '
                         'belong in an inference graph')
    dynamic_dims = DYNAMIC_IMAGE_DIMS if dynamic_dims is None else dynamic_dims
    if example.shape[0] == 1 and 0 in dynamic_dims:
        # A dynamic dimension cannot be traced at size 1 (it would be fixed
        # to 1); the graph does not depend on the example's values.
        example = example.expand(2, *example.shape[1:])
    # Size-oblivious reasoning: a size-1 dimension derived from the inputs
    # (one window in a row, say) is not special-cased, so the graph holds
    # for every size rather than for those like the example's.
    fx_config = importlib.import_module('torch.fx.experimental._config')
    with fx_config.patch(backed_size_oblivious=True):
        program = torch.onnx.export(
            model, (example, ),
            dynamo=True,
            dynamic_shapes=(image_dynamic_shapes(dynamic_dims), ),
            custom_translation_table=onnx_translation_table(),
            input_names=['input'],
            output_names=None if output_names is None else list(output_names),
            opset_version=opset_version,
            verbose=False)
    path = os.fspath(path)
    partial = f'{path}.partial'
    program.save(partial)
    os.replace(partial, path)

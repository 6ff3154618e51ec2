"""Adaptive average pooling that stays exact at every traced input size.

ONNX has no adaptive pooling. PyTorch's TorchScript exporter and mmdeploy
1.3.1 write ``adaptive_avg_pool2d`` as an ``AveragePool`` whose kernel is
computed from the example's size, so a graph exported with dynamic axes
pools wrongly at any other size (and, where the size is not a multiple of
the output size, at the example's size too). UperNet's pyramid pooling
module is such a case.

:func:`adaptive_avg_pool2d_by_slices` computes exactly what
``F.adaptive_avg_pool2d`` computes, bin by bin, from slices whose bounds
are arithmetic on the input's size: under ``torch.jit.trace`` those sizes
are recorded, so the exported graph (``Slice``, ``ReduceMean``, ``Concat``)
pools correctly at every size.
"""
from typing import Optional, Sequence, Union

import torch
from torch import Tensor

OutputSize = Union[int, None, Sequence[Optional[int]]]


def _output_sides(output_size: OutputSize, input: Tensor) -> tuple:
    if isinstance(output_size, int) or output_size is None:
        output_size = (output_size, output_size)
    if len(output_size) != 2:
        raise ValueError(
            f'output_size must be an int or a pair, got {output_size!r}')
    # None keeps the input's side, as in F.adaptive_avg_pool2d.
    return tuple(input.shape[2 + axis] if side is None else side
                 for axis, side in enumerate(output_size))


def _bin_means(x: Tensor, bins: int, dim: int) -> Tensor:
    """Means of ``x`` over the ``bins`` adaptive-pooling bins along
    ``dim``: bin i covers ``[floor(i * n / bins), ceil((i + 1) * n / bins))``
    of the ``n`` entries."""
    size = x.shape[dim]
    means = []
    for i in range(bins):
        start = i * size // bins
        end = ((i + 1) * size + bins - 1) // bins
        means.append(
            x.narrow(dim, start, end - start).mean(dim=dim, keepdim=True))
    return torch.cat(means, dim=dim)


def adaptive_avg_pool2d_by_slices(input: Tensor,
                                  output_size: OutputSize) -> Tensor:
    """``F.adaptive_avg_pool2d`` written with slices of traced sizes.

    Args:
        input (Tensor): Map of shape (N, C, H, W).
        output_size (int | tuple): (oh, ow), an int for both, or None to
            keep a side.

    Returns:
        Tensor: Shape (N, C, oh, ow), equal to
        ``F.adaptive_avg_pool2d(input, output_size)``.

    Raises:
        ValueError: If ``input`` is not 4-D or ``output_size`` is not an
            int or a pair.
    """
    if input.dim() != 4:
        raise ValueError(
            f'input must have shape (N, C, H, W), got {tuple(input.shape)}')
    out_h, out_w = _output_sides(output_size, input)
    # Rows first, then columns: the mean of equal-length row means is the
    # block's mean.
    return _bin_means(_bin_means(input, out_h, 2), out_w, 3)

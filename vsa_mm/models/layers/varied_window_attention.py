"""The varied-window attention as one function with selectable backends.

:class:`~vsa_mm.models.layers.VSAWindowAttention` holds the parameters and
regresses each window's offsets and scales; :func:`varied_window_attention`
computes the attention from them with one of the backends in
:mod:`vsa_mm.models.layers.backends`, which all compute the same function:

- ``'reference'``: keys and values sampled with ``F.grid_sample``, explicit
  softmax attention; the readable definition.
- ``'gather'``: keys and values sampled together by an exact bilinear row
  gather of channels-last per-head features (recomputed in backward instead
  of stored), explicit softmax attention.
- ``'triton'``: sampling, attention, window reverse and crop fused into one
  Triton kernel each way (CUDA; the CPU only under Triton's interpreter).
- ``'auto'``: ``'gather'`` on the CPU (measured fastest there,
  ``docs/benchmarks.md``), ``'reference'`` on CUDA and elsewhere. The fused
  backend is opt-in until its current kernels are timed on a GPU.
"""
import functools
import logging
from typing import Optional

import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from torch import Tensor

from vsa_mm.compat import autocast_dtype, is_exporting
from .backends.gather import attend_gather
from .backends.reference import attend_reference
from .backends.triton_fused import (fused_varied_window_attention,
                                    unsupported_reason)
from .window_geometry import (crop_to_tokens, is_tracing, padded_hw,
                              relative_position_bias, sampling_grid,
                              window_reverse)

#: Values of ``backend``.
VSA_BACKENDS = ('auto', 'reference', 'gather', 'triton')


def check_backend(backend: object) -> str:
    """Validate a ``backend`` argument.

    Args:
        backend (str): One of :data:`VSA_BACKENDS`.

    Returns:
        str: ``backend``.

    Raises:
        TypeError: If ``backend`` is not a str.
        ValueError: If it is not a known backend.
    """
    if not isinstance(backend, str):
        raise TypeError(f'backend must be a str, got {backend!r}')
    if backend not in VSA_BACKENDS:
        raise ValueError(
            f'backend must be one of {VSA_BACKENDS}, got {backend!r}')
    return backend


@functools.lru_cache(maxsize=None)
def _log_auto_choice(device_type: str, backend: str, why: str) -> None:
    """Say once per device and choice what ``'auto'`` picked, at DEBUG."""
    print_log(
        f"VSA backend 'auto' on {device_type}: {backend!r}{why}",
        logger='current',
        level=logging.DEBUG)


def deterministic_backward_needed() -> bool:
    """Whether autograd records under
    ``torch.use_deterministic_algorithms(True)``."""
    return torch.are_deterministic_algorithms_enabled(
    ) and torch.is_grad_enabled()


def exporting() -> bool:
    """Whether ``torch.export`` (the ONNX exporter's front end) or
    ``torch.jit.trace`` records this call."""
    return is_exporting() or torch.jit.is_tracing()


def resolve_backend(backend: str, device: torch.device) -> str:
    """The concrete backend ``backend`` stands for in this call.

    ``'auto'`` is ``'gather'`` on the CPU, ``'reference'`` on CUDA and on
    other devices. On CUDA it is ``'gather'`` while a model is exported or
    traced (ONNX knows the gather's operator) and, when autograd records,
    under ``torch.use_deterministic_algorithms(True)`` (the gather's backward
    is deterministic there; ``grid_sample``'s adds gradients atomically).
    ``'auto'`` never picks ``'triton'``: the fused kernels in this revision
    have run in Triton's interpreter and compiled for sm_80 and sm_90, but
    have not been timed on a GPU (``docs/benchmarks.md``). Other values are
    returned as they are.

    Examples:
        >>> resolve_backend('auto', torch.device('cpu'))
        'gather'
        >>> resolve_backend('auto', torch.device('cuda'))
        'reference'
        >>> resolve_backend('triton', torch.device('cuda'))
        'triton'
    """
    if backend != 'auto':
        return backend
    why = ''
    if device.type == 'cpu':
        chosen = 'gather'
    elif device.type == 'cuda' and exporting():
        chosen = 'gather'
        why = ' (exporting: the gather operator has an ONNX translation)'
    elif device.type == 'cuda' and deterministic_backward_needed():
        chosen = 'gather'
        why = (' (deterministic algorithms are on: the backward of '
               "'reference' adds gradients atomically)")
    else:
        chosen = 'reference'
    if not is_tracing():
        _log_auto_choice(device.type, chosen, why)
    return chosen


def varied_window_attention(x_map: Tensor,
                            offsets: Tensor,
                            scales: Tensor,
                            qkv_weight: Tensor,
                            qkv_bias: Optional[Tensor],
                            bias_table: Tensor,
                            bias_index: Tensor,
                            scale: float,
                            window_size: int,
                            num_heads: int,
                            attn_drop: float = 0.,
                            training: bool = False,
                            backend: str = 'auto') -> Tensor:
    """Attention from the default windows to the varied-size windows.

    Queries are the tokens of the default ``ws x ws`` windows of the map
    padded to a window multiple; keys and values are sampled bilinearly
    (zeros outside the map) at the ``ws * ws`` positions of each window's
    varied-size window per head, placed by ``offsets`` and ``scales``
    (:func:`~vsa_mm.models.layers.window_geometry.varied_window_grid`).

    Args:
        x_map (Tensor): Input map of shape (B, H, W, C).
        offsets (Tensor): Regressed (ox, oy) per window and head, float32
            (float64 for float64 inputs), shape (B, nW, h, 2), in units of
            a window.
        scales (Tensor): Regressed (sx, sy), same shape and dtype.
        qkv_weight (Tensor): Weight of the q/k/v projection, (3 * D, C).
        qkv_bias (Tensor, optional): Its bias, (3 * D, ).
        bias_table (Tensor): Swin's relative position bias table,
            ((2 ws - 1)^2, h).
        bias_index (Tensor): Its row for every token pair, (N, N), from
            :func:`~vsa_mm.models.layers.window_geometry.relative_position_index`
            (the fused backend computes it in the kernel).
        scale (float): Scale of the queries.
        window_size (int): Window side ws.
        num_heads (int): Number of heads h; ``D`` must be divisible by it.
        attn_drop (float): Dropout rate of the attention weights.
            Defaults to 0.
        training (bool): Apply the dropout. Defaults to False.
        backend (str): One of :data:`VSA_BACKENDS`. Defaults to ``'auto'``.

    Returns:
        Tensor: Attended tokens of shape (B, H * W, D), row-major, in the
        dtype of the projection's output.

    Raises:
        ValueError: If ``backend='triton'`` cannot compute this call (device,
            dtype, window or head size, dropout), with the reason.
    """
    out_dims = qkv_weight.shape[0] // 3
    head_dims = out_dims // num_heads
    backend = resolve_backend(check_backend(backend), x_map.device)
    if backend == 'triton':
        # The dtype the projection will produce (autocast included).
        dtype = autocast_dtype(x_map.device.type) or x_map.dtype
        reason = unsupported_reason(x_map.device, dtype, window_size,
                                    head_dims, attn_drop, training)
        if reason is not None:
            raise ValueError(
                f"backend='triton' cannot compute this call: {reason}")
        batch, height, width, channels = x_map.shape
        qkv = F.linear(x_map.reshape(-1, channels), qkv_weight, qkv_bias)
        out, _ = fused_varied_window_attention(qkv, offsets.reshape(-1),
                                               scales.reshape(-1), bias_table,
                                               batch, height, width, scale,
                                               window_size, num_heads)
        return out.view(batch, height * width, out_dims)

    height, width = x_map.shape[1:3]
    map_hw = padded_hw(height, width, window_size)
    grid = sampling_grid(offsets, scales, map_hw, window_size)
    bias = relative_position_bias(bias_table, bias_index)
    attend = attend_reference if backend == 'reference' else attend_gather
    windows = attend(x_map, grid, qkv_weight, qkv_bias, bias, scale,
                     window_size, num_heads, attn_drop, training)
    return crop_to_tokens(
        window_reverse(windows, window_size, *map_hw), height, width)

"""The ``reference`` backend: keys and values sampled with ``grid_sample``.

The readable definition of the layer, and the default on CUDA where
``F.grid_sample`` is one fused kernel.
"""
import torch.nn.functional as F
from torch import Tensor

from ..window_geometry import (pad_to_window_multiple, padded_hw,
                               window_partition)
from .attention import attend_in_windows, softmax_attention
from .base import AttentionCall, Backend, always_supported


def _attend_windows(call: AttentionCall, grid: Tensor, bias: Tensor) -> Tensor:
    """Every window's attention, keys and values sampled by ``grid_sample``
    (see :data:`~vsa_mm.models.layers.backends.attention.WindowAttention`).
    """
    x_map, num_heads, head_dims = call.x_map, call.num_heads, call.head_dims
    batch = x_map.shape[0]
    map_hw = padded_hw(*x_map.shape[1:3], call.window_size)
    qkv = pad_to_window_multiple(
        F.linear(x_map, call.qkv_weight, call.qkv_bias), call.window_size)
    # Views and splits only, never a slice: a slice's backward zero-fills a
    # gradient of the whole map, a split's backward is one concatenation,
    # which here also writes the sampled gradients into the q/k/v layout.
    q, kv = qkv.view(batch, *map_hw, 3, num_heads, head_dims).split((1, 2),
                                                                    dim=3)
    q = window_partition(q.flatten(3), call.window_size,
                         num_heads) * call.scale
    # Keys and values of a head sampled together: per-head channels-first
    # images of 2 d channels (k then v).
    images = kv.permute(0, 4, 3, 5, 1, 2).reshape(batch * num_heads,
                                                  2 * head_dims, *map_hw)
    head_grid = grid.transpose(1, 2).reshape(batch * num_heads, grid.shape[1],
                                             grid.shape[3], 2)
    sampled = F.grid_sample(
        images.to(grid.dtype),
        head_grid,
        mode='bilinear',
        padding_mode='zeros',
        align_corners=True)  # (B * heads, 2 d, nW, N)
    sampled = sampled.view(batch, num_heads, 2 * head_dims, *sampled.shape[2:])
    k, v = (
        part.permute(0, 3, 1, 4, 2).to(q.dtype)
        for part in sampled.split(head_dims, dim=2))
    return softmax_attention(q, k, v, bias, call.attn_drop, call.training)


def attend(call: AttentionCall) -> Tensor:
    """The varied-window attention with ``grid_sample``: see
    :class:`~vsa_mm.models.layers.backends.base.Backend`."""
    return attend_in_windows(call, _attend_windows)


BACKEND = Backend(always_supported, attend)

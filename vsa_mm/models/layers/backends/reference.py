"""The ``reference`` backend: keys and values sampled with ``grid_sample``.

The readable definition of the layer, and the default on CUDA where
``F.grid_sample`` is one fused kernel.
"""
from typing import Optional

import torch.nn.functional as F
from torch import Tensor

from ..window_geometry import (pad_to_window_multiple, padded_hw,
                               window_partition)
from .attention import softmax_attention


def attend_reference(x_map: Tensor, grid: Tensor, qkv_weight: Tensor,
                     qkv_bias: Optional[Tensor], bias: Tensor, scale: float,
                     window_size: int, num_heads: int, attn_drop: float,
                     training: bool) -> Tensor:
    """Varied-window attention with keys and values from ``grid_sample``.

    Args:
        x_map (Tensor): Input map of shape (B, H, W, C).
        grid (Tensor): Sampling positions, (B, nW, h, N, 2), as
            :func:`~vsa_mm.models.layers.window_geometry.varied_window_grid`
            returns them.
        qkv_weight (Tensor): Weight of the q/k/v projection, (3 * D, C).
        qkv_bias (Tensor, optional): Its bias, (3 * D, ).
        bias (Tensor): Relative position bias, (h, N, N).
        scale (float): Scale of the queries.
        window_size (int): Window side ws.
        num_heads (int): Number of heads h.
        attn_drop (float): Dropout rate of the attention weights.
        training (bool): Apply the dropout.

    Returns:
        Tensor: Attended windows of shape (B, nW, h, N, D / h).
    """
    batch = x_map.shape[0]
    out_dims = qkv_weight.shape[0] // 3
    head_dims = out_dims // num_heads
    map_hw = padded_hw(*x_map.shape[1:3], window_size)
    qkv = pad_to_window_multiple(
        F.linear(x_map, qkv_weight, qkv_bias), window_size)
    # Views and splits only, never a slice: a slice's backward zero-fills a
    # gradient of the whole map, a split's backward is one concatenation,
    # which here also writes the sampled gradients into the q/k/v layout.
    q, kv = qkv.view(batch, *map_hw, 3, num_heads, head_dims).split((1, 2),
                                                                    dim=3)
    q = window_partition(q.flatten(3), window_size, num_heads) * scale
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
    return softmax_attention(q, k, v, bias, attn_drop, training)

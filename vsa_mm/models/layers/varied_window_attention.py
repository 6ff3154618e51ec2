"""The varied-window attention as one function with selectable backends.

:class:`~vsa_mm.models.layers.VSAWindowAttention` holds the parameters and
regresses the sampling grid; :func:`varied_window_attention` computes the
attention from them. Every backend computes the same function:

- ``'reference'``: keys and values sampled with ``F.grid_sample``, explicit
  softmax attention; the readable definition.
- ``'gather'``: keys and values sampled together by an exact bilinear row
  gather of channels-last per-head features (the keys and values are
  recomputed in backward instead of stored), explicit softmax attention.
- ``'gather_sdpa'``: the same gather, attention through
  ``F.scaled_dot_product_attention`` with the position bias as its mask.
- ``'auto'``: what measured fastest on each device (``docs/benchmarks.md``):
  ``'gather'`` on the CPU (with a bias, the explicit product is faster
  there); ``'reference'`` on CUDA, where ``grid_sample`` is one fused kernel
  and beat the gather on an H200 in time and peak memory, fp32 and bf16;
  ``'gather_sdpa'`` on other devices (not measured).
"""
import functools
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .bilinear_gather import sample_projected_rows
from .functional import pad_to_window_multiple, padded_size, window_partition

#: Values of ``backend``.
VSA_BACKENDS = ('auto', 'reference', 'gather', 'gather_sdpa')


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


def resolve_backend(backend: str, device: torch.device) -> str:
    """The concrete backend ``'auto'`` stands for on ``device``.

    Examples:
        >>> resolve_backend('auto', torch.device('cpu'))
        'gather'
        >>> resolve_backend('auto', torch.device('cuda'))
        'reference'
        >>> resolve_backend('reference', torch.device('cpu'))
        'reference'
    """
    if backend != 'auto':
        return backend
    defaults = {'cpu': 'gather', 'cuda': 'reference'}
    return defaults.get(device.type, 'gather_sdpa')


def project_keys_values(x_map: Tensor, weight: Tensor, bias: Optional[Tensor],
                        num_heads: int, window_size: int) -> Tensor:
    """Keys and values of every pixel and head, as rows to sample.

    Args:
        x_map (Tensor): Input map of shape (B, H, W, C).
        weight (Tensor): The q/k/v projection's weight, (3 * D, C).
        bias (Tensor, optional): Its bias, (3 * D, ).
        num_heads (int): Number of heads h (``D = h * d``).
        window_size (int): Window side; the map is padded to a multiple.

    Returns:
        Tensor: Rows of shape (B * Hp * Wp * h, 2 * d) holding each head's
        key then value, in float32 (float64 for float64 inputs).
    """
    out_dims = weight.shape[0] // 3
    head_dims = out_dims // num_heads
    # Reorder the k|v output channels to (head, k|v, d).
    kv_weight = weight[out_dims:].view(2, num_heads, head_dims, -1)
    kv_weight = kv_weight.transpose(0, 1).reshape(2 * out_dims, -1)
    kv_bias = None if bias is None else bias[out_dims:].view(
        2, num_heads, head_dims).transpose(0, 1).reshape(-1)
    kv = pad_to_window_multiple(
        F.linear(x_map, kv_weight, kv_bias), window_size)
    grid_dtype = torch.promote_types(x_map.dtype, torch.float32)
    return kv.to(grid_dtype).reshape(-1, 2 * head_dims)


def _softmax_attention(q: Tensor, k: Tensor, v: Tensor, bias: Tensor,
                       attn_drop: float, training: bool) -> Tensor:
    """Explicit attention over (..., heads, N, d); q is already scaled."""
    attn = q @ k.transpose(-2, -1) + bias.to(q.dtype)
    attn = F.dropout(attn.softmax(dim=-1), attn_drop, training)
    return attn @ v


def _attend_gather(x_map: Tensor, grid: Tensor, qkv_weight: Tensor,
                   qkv_bias: Optional[Tensor], bias: Tensor, scale: float,
                   window_size: int, num_heads: int, attn_drop: float,
                   training: bool, use_sdpa: bool) -> Tensor:
    out_dims = qkv_weight.shape[0] // 3
    head_dims = out_dims // num_heads
    map_hw = _padded_hw(x_map, window_size)
    q = F.linear(x_map, qkv_weight[:out_dims],
                 None if qkv_bias is None else qkv_bias[:out_dims])
    q = window_partition(
        pad_to_window_multiple(q, window_size), window_size,
        num_heads).mul_(scale)  # scales the partition's own copy
    project = functools.partial(
        project_keys_values, num_heads=num_heads, window_size=window_size)
    kv = sample_projected_rows(project, x_map, qkv_weight, qkv_bias, grid,
                               map_hw, num_heads)
    k, v = kv.to(q.dtype).split(head_dims, dim=-1)
    if not use_sdpa:
        return _softmax_attention(q, k, v, bias, attn_drop, training)
    return F.scaled_dot_product_attention(
        q,
        k,
        v,
        attn_mask=bias.to(q.dtype),
        dropout_p=attn_drop if training else 0.,
        scale=1.)


def _attend_reference(x_map: Tensor, grid: Tensor, qkv_weight: Tensor,
                      qkv_bias: Optional[Tensor], bias: Tensor, scale: float,
                      window_size: int, num_heads: int, attn_drop: float,
                      training: bool) -> Tensor:
    batch = x_map.shape[0]
    out_dims = qkv_weight.shape[0] // 3
    head_dims = out_dims // num_heads
    map_hw = _padded_hw(x_map, window_size)
    qkv = pad_to_window_multiple(
        F.linear(x_map, qkv_weight, qkv_bias), window_size)
    q, k, v = qkv.chunk(3, dim=-1)
    head_grid = grid.transpose(1, 2).reshape(batch * num_heads, grid.shape[1],
                                             grid.shape[3], 2)

    def sample(feat: Tensor) -> Tensor:
        # (B, Hp, Wp, heads * d) -> per-head channels-first images.
        images = feat.view(batch, *map_hw, num_heads, head_dims)
        images = images.permute(0, 3, 4, 1, 2).reshape(batch * num_heads,
                                                       head_dims, *map_hw)
        out = F.grid_sample(
            images.to(grid.dtype),
            head_grid,
            mode='bilinear',
            padding_mode='zeros',
            align_corners=True)  # (B * heads, d, nW, N)
        out = out.view(batch, num_heads, head_dims, *out.shape[2:])
        return out.permute(0, 3, 1, 4, 2).to(feat.dtype)

    q = window_partition(q, window_size, num_heads) * scale
    return _softmax_attention(q, sample(k), sample(v), bias, attn_drop,
                              training)


def _padded_hw(x_map: Tensor, window_size: int) -> Tuple[int, int]:
    height, width = x_map.shape[1:3]
    return padded_size(height, window_size), padded_size(width, window_size)


def varied_window_attention(x_map: Tensor,
                            grid: Tensor,
                            qkv_weight: Tensor,
                            qkv_bias: Optional[Tensor],
                            relative_position_bias: Tensor,
                            scale: float,
                            window_size: int,
                            num_heads: int,
                            attn_drop: float = 0.,
                            training: bool = False,
                            backend: str = 'auto') -> Tensor:
    """Attention from the default windows to the varied-size windows.

    Queries are the tokens of the default ``ws x ws`` windows of the padded
    map; keys and values are sampled bilinearly (zeros outside the map) at
    ``grid``, the ``ws * ws`` positions of each window's varied-size window
    per head.

    Args:
        x_map (Tensor): Input map of shape (B, H, W, C).
        grid (Tensor): Sampling positions of shape (B, nW, h, ws * ws, 2),
            (x, y) in ``grid_sample``'s normalised coordinates
            (``align_corners=True``) over the map padded to (Hp, Wp).
        qkv_weight (Tensor): Weight of the q/k/v projection, (3 * D, C).
        qkv_bias (Tensor, optional): Its bias, (3 * D, ).
        relative_position_bias (Tensor): Bias added to the logits, shape
            (h, ws * ws, ws * ws).
        scale (float): Scale of the queries.
        window_size (int): Window side ws.
        num_heads (int): Number of heads h; ``D`` must be divisible by it.
        attn_drop (float): Dropout rate of the attention weights.
            Defaults to 0.
        training (bool): Apply the dropout. Defaults to False.
        backend (str): One of :data:`VSA_BACKENDS`. Defaults to ``'auto'``.

    Returns:
        Tensor: Attended windows of shape (B, nW, h, ws * ws, D / h), in the
        dtype of the queries.
    """
    backend = resolve_backend(check_backend(backend), x_map.device)
    args = (x_map, grid, qkv_weight, qkv_bias, relative_position_bias, scale,
            window_size, num_heads, attn_drop, training)
    if backend == 'reference':
        return _attend_reference(*args)
    return _attend_gather(*args, use_sdpa=backend == 'gather_sdpa')

"""The ``gather`` backend: bilinear sampling as a weighted gather of rows.

``F.grid_sample`` works on channels-first maps and its backward scatters one
channel at a time. VSA samples per-head channels-last keys and values at a
few positions per window: a weighted sum of four rows of a
``(rows, channels)`` matrix per sample. :func:`sample_projected_rows`
computes exactly what ``grid_sample(mode='bilinear', padding_mode='zeros',
align_corners=True)`` computes with three custom operators:

- ``vsa_mm::bilinear_gather(rows, index, weights)``: the forward pass, one
  ``embedding_bag``;
- ``vsa_mm::bilinear_gather_grad_rows`` and
  ``vsa_mm::bilinear_gather_grad_weights``: its backward pass, row-wise
  ``index_add_`` and ``index_select``.

They are ``torch.library`` custom ops with tensor and int arguments only, fake
(meta) implementations and registered autograd, so ``torch.compile``,
``torch.export``, ``torch.jit.trace`` and FLOP counters see one named
operator (:data:`BILINEAR_GATHER_OP`). On a torch without custom ops they
are ``torch.autograd.Function`` objects with the same numerics and autograd
(:func:`vsa_mm.compat.operator`).

The rows are a projection of the input (VSA's keys and values). They are not
kept for backward but recomputed from the projection's input, which autograd
keeps anyway, so VSA saves little more than window attention does. In eager
mode a small ``torch.autograd.Function`` does this, recomputing only the
projection; while ``torch.compile``, ``torch.export`` or ``torch.jit.trace``
records, the projection and the gather run under non-reentrant
``torch.utils.checkpoint`` instead, which those tracers understand (the
Function takes a Python callable, which they do not). Both call the same
operators and compute the same values.
"""
import functools
from typing import Callable, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import FunctionCtx, once_differentiable
from torch.utils.checkpoint import checkpoint

from vsa_mm.compat import autocast_dtype, operator
from ..window_geometry import (is_tracing, pad_to_window_multiple, padded_hw,
                               window_partition)
from .attention import attend_in_windows, softmax_attention
from .base import AttentionCall, Backend, always_supported

#: Qualified name of the forward operator, as tracers and exporters see it.
BILINEAR_GATHER_OP = 'vsa_mm::bilinear_gather'

#: ``project(x, weight, bias) -> rows``: builds the (R, C) rows to sample.
RowProjection = Callable[[Tensor, Tensor, Optional[Tensor]], Tensor]


def _bilinear_gather_grad_rows_fake(grad_out: Tensor, index: Tensor,
                                    weights: Tensor, num_rows: int) -> Tensor:
    return grad_out.new_empty(num_rows, grad_out.shape[1])


@operator(
    'vsa_mm::bilinear_gather_grad_rows', fake=_bilinear_gather_grad_rows_fake)
def bilinear_gather_grad_rows(grad_out: Tensor, index: Tensor, weights: Tensor,
                              num_rows: int) -> Tensor:
    """Gradient of :func:`bilinear_gather` with respect to ``rows``.

    Args:
        grad_out (Tensor): Gradient of the samples, shape (S, C).
        index (Tensor): int64 row numbers of shape (S, K).
        weights (Tensor): Weights of shape (S, K).
        num_rows (int): R, the number of rows.

    Returns:
        Tensor: Shape (R, C).
    """
    grad_out = grad_out.contiguous()
    grad_rows = grad_out.new_zeros(num_rows, grad_out.shape[1])
    # One scratch buffer for all corners: fresh multi-megabyte temporaries
    # cost more in page faults than the arithmetic.
    scratch = torch.empty_like(grad_out)
    for corner in range(index.shape[1]):
        torch.mul(grad_out, weights[:, corner, None], out=scratch)
        grad_rows.index_add_(0, index[:, corner], scratch)
    return grad_rows


def _bilinear_gather_grad_weights_fake(grad_out: Tensor, rows: Tensor,
                                       index: Tensor) -> Tensor:
    return rows.new_empty(index.shape)


@operator(
    'vsa_mm::bilinear_gather_grad_weights',
    fake=_bilinear_gather_grad_weights_fake)
def bilinear_gather_grad_weights(grad_out: Tensor, rows: Tensor,
                                 index: Tensor) -> Tensor:
    """Gradient of :func:`bilinear_gather` with respect to ``weights``.

    Args:
        grad_out (Tensor): Gradient of the samples, shape (S, C).
        rows (Tensor): Rows of shape (R, C).
        index (Tensor): int64 row numbers of shape (S, K).

    Returns:
        Tensor: Shape (S, K), dtype of ``rows``.
    """
    grad_out = grad_out.contiguous()
    grad_weights = rows.new_empty(index.shape)
    scratch = torch.empty_like(grad_out)
    for corner in range(index.shape[1]):
        torch.index_select(rows, 0, index[:, corner], out=scratch)
        torch.sum(scratch.mul_(grad_out), dim=1, out=grad_weights[:, corner])
    return grad_weights


def _bilinear_gather_fake(rows: Tensor, index: Tensor,
                          weights: Tensor) -> Tensor:
    return rows.new_empty(index.shape[0], rows.shape[1])


def _setup_context(ctx: FunctionCtx, inputs: Tuple[Tensor, Tensor, Tensor],
                   output: Tensor) -> None:
    rows, index, weights = inputs
    ctx.save_for_backward(rows, index, weights)


def _backward(
        ctx: FunctionCtx,
        grad_out: Tensor) -> Tuple[Optional[Tensor], None, Optional[Tensor]]:
    rows, index, weights = ctx.saved_tensors
    grad_rows = grad_weights = None
    if ctx.needs_input_grad[0]:
        grad_rows = bilinear_gather_grad_rows(grad_out, index, weights,
                                              rows.shape[0])
    if ctx.needs_input_grad[2]:
        grad_weights = bilinear_gather_grad_weights(grad_out, rows, index)
    return grad_rows, None, grad_weights


@operator(
    BILINEAR_GATHER_OP,
    fake=_bilinear_gather_fake,
    setup_context=_setup_context,
    backward=_backward)
def bilinear_gather(rows: Tensor, index: Tensor, weights: Tensor) -> Tensor:
    """``out[s] = sum_c weights[s, c] * rows[index[s, c]]``.

    Args:
        rows (Tensor): Rows of shape (R, C).
        index (Tensor): int64 row numbers of shape (S, K), in ``[0, R)``.
        weights (Tensor): Weights of shape (S, K), dtype of ``rows``.

    Returns:
        Tensor: Samples of shape (S, C).
    """
    return F.embedding_bag(index, rows, per_sample_weights=weights, mode='sum')


def bilinear_corners(grid: Tensor, map_hw: Tuple[int, int],
                     num_heads: int) -> Tuple[Tensor, Tensor]:
    """Rows and weights of the four bilinear neighbours of every position.

    Args:
        grid (Tensor): Positions of shape (B, nW, heads, N, 2) in
            ``grid_sample``'s normalised coordinates (``align_corners=True``).
        map_hw (tuple[int, int]): (Hp, Wp), the sampled map's size.
        num_heads (int): Number of heads.

    Returns:
        tuple[Tensor, Tensor]: ``index`` (S, 4) int64 rows into a
        (B, Hp, Wp, heads)-ordered row matrix and ``weights`` (S, 4), zero for
        neighbours outside the map (``S = B * nW * heads * N``).
        ``weights`` is differentiable with respect to ``grid``.
    """
    height, width = map_hw
    batch = grid.shape[0]
    # Multiplying by the int first keeps symbolic sizes free of floats.
    x = (grid[..., 0] + 1) * (width - 1) * 0.5
    y = (grid[..., 1] + 1) * (height - 1) * 0.5
    x0 = x.detach().floor()
    y0 = y.detach().floor()
    frac_x = x - x0
    frac_y = y - y0

    batch_head = (
        torch.arange(batch, device=grid.device).view(-1, 1, 1, 1) *
        (height * width * num_heads) +
        torch.arange(num_heads, device=grid.device).view(1, 1, -1, 1))
    corner_index, corner_weight = [], []
    # Corners are tested and clamped as floats, then cast: an integer clamp
    # becomes an ONNX Clip on int64, which opsets before 12 do not allow.
    columns = []
    for dx, weight_x in ((0, 1 - frac_x), (1, frac_x)):
        xx = x0 + dx
        columns.append((xx.clamp(0, width - 1).long(), weight_x,
                        (xx >= 0) & (xx <= width - 1)))
    for dy, weight_y in ((0, 1 - frac_y), (1, frac_y)):
        yy = y0 + dy
        inside_y = (yy >= 0) & (yy <= height - 1)
        yy = yy.clamp(0, height - 1).long()
        for xx, weight_x, inside_x in columns:
            corner_index.append(batch_head + (yy * width + xx) * num_heads)
            corner_weight.append(weight_y * weight_x * (inside_y & inside_x))
    index = torch.stack(corner_index, dim=-1).view(-1, 4)
    weights = torch.stack(corner_weight, dim=-1).view(-1, 4)
    return index, weights


def _project_and_gather(project: RowProjection, x: Tensor, weight: Tensor,
                        bias: Optional[Tensor], index: Tensor,
                        weights: Tensor) -> Tensor:
    return bilinear_gather(project(x, weight, bias), index, weights)


class _RecomputedRowGather(torch.autograd.Function):
    """:func:`bilinear_gather` of ``project(x, weight, bias)`` that keeps
    ``x``, ``weight`` and ``bias`` for backward instead of the rows, and runs
    only the projection again there (eager mode)."""

    @staticmethod
    def forward(ctx: FunctionCtx, project: RowProjection, x: Tensor,
                weight: Tensor, bias: Optional[Tensor], index: Tensor,
                weights: Tensor) -> Tensor:
        device_type = x.device.type
        ctx.project = project
        ctx.autocast = (device_type, autocast_dtype(device_type))
        ctx.save_for_backward(x, weight, bias, index, weights)
        return _project_and_gather(project, x, weight, bias, index, weights)

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad_out: Tensor) -> tuple:
        x, weight, bias, index, weights = ctx.saved_tensors
        needs_grad = ctx.needs_input_grad[1:4]
        inputs = [
            None if t is None else t.detach().requires_grad_(needs)
            for t, needs in zip((x, weight, bias), needs_grad, strict=True)
        ]
        device_type, dtype = ctx.autocast
        with torch.enable_grad(), torch.autocast(
                device_type, dtype=dtype, enabled=dtype is not None):
            rows = ctx.project(*inputs)
        grad_weights = None
        if ctx.needs_input_grad[5]:
            grad_weights = bilinear_gather_grad_weights(
                grad_out, rows.detach(), index)
        grads: Tuple[Optional[Tensor], ...] = (None, None, None)
        if any(needs_grad):
            grad_rows = bilinear_gather_grad_rows(grad_out, index, weights,
                                                  rows.shape[0])
            wanted = [t for t in inputs if t is not None and t.requires_grad]
            found = iter(torch.autograd.grad(rows, wanted, grad_rows))
            grads = tuple(
                next(found) if t is not None and t.requires_grad else None
                for t in inputs)
        return (None, *grads, None, grad_weights)


def sample_projected_rows(project: RowProjection, x: Tensor, weight: Tensor,
                          bias: Optional[Tensor], grid: Tensor,
                          map_hw: Tuple[int, int], num_heads: int) -> Tensor:
    """Sample per-head channels-last maps, made by a projection, on a grid.

    When autograd records, the projection's output is not kept for backward
    but recomputed from ``x``, ``weight`` and ``bias``.

    Args:
        project (callable): ``project(x, weight, bias)`` returns the sampled
            features as rows of shape (B * Hp * Wp * heads, C), ordered
            (batch, y, x, head), in ``grid``'s dtype. It must be
            deterministic: backward runs it again.
        x (Tensor): Input of the projection.
        weight (Tensor): Weight of the projection.
        bias (Tensor, optional): Bias of the projection.
        grid (Tensor): Positions of shape (B, nW, heads, N, 2) in
            ``grid_sample``'s normalised coordinates (``align_corners=True``);
            positions outside the map read zeros.
        map_hw (tuple[int, int]): (Hp, Wp), the sampled map's size.
        num_heads (int): Number of heads.

    Returns:
        Tensor: Samples of shape (B, nW, heads, N, C), equal to
        ``F.grid_sample`` with ``mode='bilinear', padding_mode='zeros',
        align_corners=True`` applied head by head. Differentiable with
        respect to ``x``, ``weight``, ``bias`` and ``grid``.
    """
    index, weights = bilinear_corners(grid, map_hw, num_heads)
    records = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (x, weight, bias))
    args = (project, x, weight, bias, index, weights)
    if not records:
        samples = _project_and_gather(*args)
    elif is_tracing():
        samples = checkpoint(
            _project_and_gather,
            *args,
            use_reentrant=False,
            preserve_rng_state=False)
    else:
        samples = _RecomputedRowGather.apply(*args)
    return samples.view(*grid.shape[:-1], samples.shape[-1])


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


def _attend_windows(call: AttentionCall, grid: Tensor, bias: Tensor) -> Tensor:
    """Every window's attention, keys and values sampled by the gather
    (see :data:`~vsa_mm.models.layers.backends.attention.WindowAttention`).
    """
    x_map, out_dims = call.x_map, call.out_dims
    map_hw = padded_hw(*x_map.shape[1:3], call.window_size)
    q = F.linear(x_map, call.qkv_weight[:out_dims],
                 None if call.qkv_bias is None else call.qkv_bias[:out_dims])
    q = window_partition(
        pad_to_window_multiple(q, call.window_size), call.window_size,
        call.num_heads).mul_(call.scale)  # scales the partition's own copy
    project = functools.partial(
        project_keys_values,
        num_heads=call.num_heads,
        window_size=call.window_size)
    kv = sample_projected_rows(project, x_map, call.qkv_weight, call.qkv_bias,
                               grid, map_hw, call.num_heads)
    k, v = kv.to(q.dtype).split(call.head_dims, dim=-1)
    return softmax_attention(q, k, v, bias, call.attn_drop, call.training)


def attend(call: AttentionCall) -> Tensor:
    """The varied-window attention with the gather: see
    :class:`~vsa_mm.models.layers.backends.base.Backend`."""
    return attend_in_windows(call, _attend_windows)


BACKEND = Backend(always_supported, attend)

"""Bilinear sampling as a weighted gather of projected rows (the fast path).

``F.grid_sample`` works on channels-first maps and its backward scatters one
channel at a time. VSA samples per-head channels-last keys and values at a
few positions per window: a weighted sum of four rows of a
``(rows, channels)`` matrix per sample. This module computes exactly what
``grid_sample(mode='bilinear', padding_mode='zeros', align_corners=True)``
computes, as one ``embedding_bag`` in the forward pass and row-wise
``index_add_``/``index_select`` in the backward pass.

The rows are a projection of the input (VSA's keys and values). They are not
kept for backward: the projection is recomputed from its input, which the
caller keeps anyway, so VSA saves little more than window attention does.
"""
from typing import Callable, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import FunctionCtx, once_differentiable

#: ``project(x, weight, bias) -> rows``: builds the (R, C) rows to sample.
RowProjection = Callable[[Tensor, Tensor, Optional[Tensor]], Tensor]


class _ProjectedRowGather(torch.autograd.Function):
    """``out[s] = sum_c weights[s, c] * project(x, w, b)[index[s, c]]``."""

    @staticmethod
    def forward(ctx: FunctionCtx, project: RowProjection, x: Tensor,
                weight: Tensor, bias: Optional[Tensor], index: Tensor,
                weights: Tensor) -> Tensor:
        device_type = x.device.type
        ctx.project = project
        ctx.autocast = (device_type, torch.is_autocast_enabled(device_type),
                        torch.get_autocast_dtype(device_type))
        ctx.save_for_backward(x, weight, bias, index, weights)
        with torch.no_grad():
            rows = project(x, weight, bias)
        return F.embedding_bag(
            index, rows, per_sample_weights=weights, mode='sum')

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad_out: Tensor) -> tuple:
        x, weight, bias, index, weights = ctx.saved_tensors
        needs_rows_grad = any(ctx.needs_input_grad[1:4])
        inputs = [
            None if t is None else t.detach().requires_grad_(needs)
            for t, needs in zip(
                (x, weight, bias), ctx.needs_input_grad[1:4], strict=True)
        ]
        device_type, autocast_enabled, autocast_dtype = ctx.autocast
        with torch.enable_grad(), torch.autocast(
                device_type, dtype=autocast_dtype, enabled=autocast_enabled):
            rows = ctx.project(*inputs)

        grad_out = grad_out.contiguous()
        # One scratch buffer for all corners: fresh multi-megabyte
        # temporaries cost more in page faults than the arithmetic.
        scratch = torch.empty_like(grad_out)
        grad_weights = None
        if ctx.needs_input_grad[5]:
            grad_weights = torch.empty_like(weights)
            for corner in range(index.shape[1]):
                torch.index_select(
                    rows.detach(), 0, index[:, corner], out=scratch)
                torch.sum(
                    scratch.mul_(grad_out), dim=1, out=grad_weights[:, corner])
        grads: Tuple[Optional[Tensor], ...] = (None, None, None)
        if needs_rows_grad:
            grad_rows = torch.zeros_like(rows)
            for corner in range(index.shape[1]):
                torch.mul(grad_out, weights[:, corner, None], out=scratch)
                grad_rows.index_add_(0, index[:, corner], scratch)
            wanted = [t for t in inputs if t is not None and t.requires_grad]
            found = iter(torch.autograd.grad(rows, wanted, grad_rows))
            grads = tuple(
                next(found) if t is not None and t.requires_grad else None
                for t in inputs)
        return (None, *grads, None, grad_weights)


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
    x = (grid[..., 0] + 1) * (0.5 * (width - 1))
    y = (grid[..., 1] + 1) * (0.5 * (height - 1))
    x0 = x.detach().floor()
    y0 = y.detach().floor()
    frac_x = x - x0
    frac_y = y - y0
    x0 = x0.long()
    y0 = y0.long()

    batch_head = (
        torch.arange(batch, device=grid.device).view(-1, 1, 1, 1) *
        (height * width * num_heads) +
        torch.arange(num_heads, device=grid.device).view(1, 1, -1, 1))
    corner_index, corner_weight = [], []
    for dy, weight_y in ((0, 1 - frac_y), (1, frac_y)):
        yy = y0 + dy
        inside_y = (yy >= 0) & (yy < height)
        yy = yy.clamp(0, height - 1)
        for dx, weight_x in ((0, 1 - frac_x), (1, frac_x)):
            xx = x0 + dx
            inside = inside_y & (xx >= 0) & (xx < width)
            xx = xx.clamp(0, width - 1)
            corner_index.append(batch_head + (yy * width + xx) * num_heads)
            corner_weight.append(weight_y * weight_x * inside)
    index = torch.stack(corner_index, dim=-1).view(-1, 4)
    weights = torch.stack(corner_weight, dim=-1).view(-1, 4)
    return index, weights


def sample_projected_rows(project: RowProjection, x: Tensor, weight: Tensor,
                          bias: Optional[Tensor], grid: Tensor,
                          map_hw: Tuple[int, int], num_heads: int) -> Tensor:
    """Sample per-head channels-last maps, made by a projection, on a grid.

    Args:
        project (callable): ``project(x, weight, bias)`` returns the sampled
            features as rows of shape (B * Hp * Wp * heads, C), ordered
            (batch, y, x, head), in ``grid``'s dtype. It is run again in
            backward instead of keeping its output.
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
    samples = _ProjectedRowGather.apply(project, x, weight, bias, index,
                                        weights)
    return samples.view(*grid.shape[:-1], samples.shape[-1])

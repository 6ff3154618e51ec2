"""The fused backend: VSA's sampling and attention in one Triton kernel.

:func:`fused_varied_window_attention` takes the output of the q/k/v
projection as it comes out of ``F.linear`` (a channels-last map) together
with the regressed offsets and scales and the relative position table, and
returns the attended map, already reversed from windows and cropped. Its
forward and backward are each one kernel (``triton_kernels``), wrapped as
``torch.library`` custom ops with fake implementations, so ``torch.compile``
(``fullgraph``), ``torch.export`` and the FLOP counters see one operator
each way: :data:`FUSED_OP` and its ``_backward``.

The kernels run on CUDA tensors, and on CPU tensors under Triton's
interpreter (``TRITON_INTERPRET=1``, for tests on machines without a GPU).
Triton itself is imported on the first call only.

Supported: windows of at most 64 tokens (``ws <= 8``), head widths up to
256, float32, float16 and bfloat16 storage (float32 accumulation), no
dropout on the attention weights. :func:`unsupported_reason` says why a call
is not supported; the layer raises ``ValueError`` with it. ``'auto'`` never
picks this backend (the rule: :mod:`vsa_mm.models.layers.backends`).

The key and value gradients are summed with atomic additions, whose order
varies from run to run: under ``torch.use_deterministic_algorithms(True)``
the backward raises (see :func:`unsupported_reason`).
"""
import contextlib
import functools
import math
import os
import sys
from types import MappingProxyType, ModuleType
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from vsa_mm.compat import (CUSTOM_OPS, FLOP_FORMULAS, operator,
                           register_flop_formula)
from ..window_geometry import padded_size
from .base import AttentionCall, Backend

#: Qualified name of the forward operator.
FUSED_OP = 'vsa_mm::fused_varied_window_attention'

#: Largest window (tokens) one program holds.
MAX_WINDOW_TOKENS = 64
#: Largest head width.
MAX_HEAD_DIMS = 256
_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
#: Warps per program of each kernel (read-only; :func:`launch_forward` and
#: :func:`launch_backward` take others).
NUM_WARPS = MappingProxyType({'forward': 8, 'backward': 8})

#: Whether ``TRITON_INTERPRET`` asked for Triton's interpreter when this
#: module was imported (read once: tracers cannot read the environment).
_INTERPRET_REQUESTED = os.environ.get('TRITON_INTERPRET',
                                      '0').lower() in ('1', 'true', 'yes',
                                                       'on')


def interpreting() -> bool:
    """Whether Triton runs kernels in its CPU interpreter.

    That takes ``TRITON_INTERPRET=1`` set before Triton and this module are
    first imported: Triton decides then how to run its own library
    functions.
    """
    if not _INTERPRET_REQUESTED:
        return False
    language = sys.modules.get('triton.language')
    if language is None:
        return True
    from triton.runtime.jit import JITFunction
    return not isinstance(language.zeros, JITFunction)


def triton_available() -> bool:
    """Whether Triton can be imported."""
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


@functools.lru_cache(maxsize=None)
def _kernels(interpret: bool) -> ModuleType:
    """The kernel module, compiled for the GPU or for the interpreter.

    Triton decides between the two when a kernel is defined, so the module
    is imported on first use, under the mode of that use.
    """
    del interpret  # part of the cache key only
    from . import triton_kernels
    return triton_kernels


def unsupported_reason(call: AttentionCall) -> Optional[str]:
    """Why the fused backend cannot compute ``call``, or None if it can.

    Args:
        call (AttentionCall): The call.

    Returns:
        str | None: A sentence naming the offending value.
    """
    device, dtype = call.device, call.projection_dtype
    if not CUSTOM_OPS.available:
        return CUSTOM_OPS.missing()
    if device.type != 'cuda' and not (device.type == 'cpu' and interpreting()):
        return (f'it runs on CUDA tensors (or on the CPU when '
                f'TRITON_INTERPRET=1 is set before Triton is imported), got '
                f'device {device}')
    if not triton_available():
        return 'Triton is not installed'
    if dtype not in _DTYPES:
        return f'it supports float32, float16 and bfloat16, got {dtype}'
    if call.window_size**2 > MAX_WINDOW_TOKENS:
        return (f'it supports windows of at most {MAX_WINDOW_TOKENS} tokens, '
                f'got window_size={call.window_size}')
    if call.head_dims > MAX_HEAD_DIMS:
        return (f'it supports heads of at most {MAX_HEAD_DIMS} channels, got '
                f'{call.head_dims}')
    if call.attn_drop > 0 and call.training:
        return (f'it has no dropout on the attention weights, got '
                f'attn_drop={call.attn_drop} in training')
    return None


def attend(call: AttentionCall) -> Tensor:
    """The varied-window attention, fused: see
    :class:`~vsa_mm.models.layers.backends.base.Backend`."""
    batch, height, width, channels = call.x_map.shape
    qkv = F.linear(
        call.x_map.reshape(-1, channels), call.qkv_weight, call.qkv_bias)
    out, _ = fused_varied_window_attention(qkv, call.offsets.reshape(-1),
                                           call.scales.reshape(-1),
                                           call.bias_table, batch, height,
                                           width, call.scale, call.window_size,
                                           call.num_heads)
    return out.view(batch, height * width, call.out_dims)


class _Launch:
    """Grid, block sizes and scalar arguments shared by both kernels."""

    def __init__(self, qkv: Tensor, batch: int, height: int, width: int,
                 window_size: int, num_heads: int) -> None:
        head_dims = qkv.shape[1] // 3 // num_heads
        padded_h = padded_size(height, window_size)
        padded_w = padded_size(width, window_size)
        windows_h = padded_h // window_size
        windows_w = padded_w // window_size
        self.num_windows = windows_h * windows_w
        self.grid = (batch * self.num_windows * num_heads, )
        # Pixel units: see the kernel module's docstring.
        self.geometry = (
            height,
            width,
            windows_w,
            self.num_windows,
            1.0 if padded_w > 1 else 0.0,
            1.0 if padded_h > 1 else 0.0,
            (padded_w - 1) / (2 * windows_w),
            (padded_h - 1) / (2 * windows_h),
        )
        # float32 products: TF32 where PyTorch allows it for matrix
        # products, else three TF32 products (float32 accuracy on tensor
        # cores). float16/bfloat16 operands ignore this.
        tf32 = qkv.is_cuda and torch.backends.cuda.matmul.allow_tf32
        self.constants = dict(
            NUM_HEADS=num_heads,
            HEAD_DIM=head_dims,
            WS=window_size,
            BLOCK_N=MAX_WINDOW_TOKENS,
            BLOCK_D=max(16, 1 << (head_dims - 1).bit_length()),
            DOT_PRECISION='tf32' if tf32 else 'tf32x3')
        self.kernels = _kernels(qkv.device.type == 'cpu')


def _device_guard(tensor: Tensor) -> contextlib.AbstractContextManager:
    """Make ``tensor``'s GPU current (Triton launches on the current one)."""
    if tensor.is_cuda:
        return torch.cuda.device(tensor.device)
    return contextlib.nullcontext()


def _lse_shape(batch: int, height: int, width: int, window_size: int,
               num_heads: int) -> Tuple[int, int, int, int]:
    windows = (
        padded_size(height, window_size) // window_size *
        (padded_size(width, window_size) // window_size))
    return batch, windows, num_heads, window_size**2


def launch_forward(qkv: Tensor, offsets: Tensor, scales: Tensor, table: Tensor,
                   batch: int, height: int, width: int, scale: float,
                   window_size: int, num_heads: int,
                   num_warps: int) -> Tuple[Tensor, Tensor]:
    """The forward kernel, launched with ``num_warps`` warps per program
    (:func:`fused_varied_window_attention` launches it with
    :data:`NUM_WARPS`; benchmarks try others).

    Args and returns: as for :func:`fused_varied_window_attention`.
    """
    launch = _Launch(qkv, batch, height, width, window_size, num_heads)
    qkv = qkv.contiguous()
    out = qkv.new_empty(qkv.shape[0], qkv.shape[1] // 3)
    lse = qkv.new_empty(
        _lse_shape(batch, height, width, window_size, num_heads),
        dtype=torch.float32)
    with _device_guard(qkv):
        launch.kernels.vsa_forward_kernel[launch.grid](
            qkv,
            offsets.contiguous(),
            scales.contiguous(),
            table.contiguous(),
            out,
            lse,
            *launch.geometry,
            scale,
            num_warps=num_warps,
            **launch.constants)
    return out, lse


def launch_backward(grad_out: Tensor, qkv: Tensor, offsets: Tensor,
                    scales: Tensor, table: Tensor, out: Tensor, lse: Tensor,
                    batch: int, height: int, width: int, scale: float,
                    window_size: int, num_heads: int,
                    num_warps: int) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """The backward kernel, launched with ``num_warps`` warps per program.

    Args and returns: as for
    :func:`fused_varied_window_attention_backward`.
    """
    launch = _Launch(qkv, batch, height, width, window_size, num_heads)
    grad_qkv = torch.zeros(qkv.shape, dtype=torch.float32, device=qkv.device)
    grad_offsets = torch.empty_like(offsets, dtype=torch.float32)
    grad_scales = torch.empty_like(scales, dtype=torch.float32)
    grad_table = torch.zeros(
        table.shape, dtype=torch.float32, device=table.device)
    with _device_guard(qkv):
        launch.kernels.vsa_backward_kernel[launch.grid](
            qkv.contiguous(),
            offsets.contiguous(),
            scales.contiguous(),
            table.contiguous(),
            out.contiguous(),
            grad_out.contiguous(),
            lse,
            grad_qkv,
            grad_offsets,
            grad_scales,
            grad_table,
            *launch.geometry,
            scale,
            num_warps=num_warps,
            **launch.constants)
    return (grad_qkv.to(qkv.dtype), grad_offsets.to(offsets.dtype),
            grad_scales.to(scales.dtype), grad_table.to(table.dtype))


def _fused_backward_fake(
        grad_out: Tensor, qkv: Tensor, offsets: Tensor, scales: Tensor,
        table: Tensor, out: Tensor, lse: Tensor, batch: int, height: int,
        width: int, scale: float, window_size: int,
        num_heads: int) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    return (torch.empty_like(qkv), torch.empty_like(offsets),
            torch.empty_like(scales), torch.empty_like(table))


@operator(FUSED_OP + '_backward', fake=_fused_backward_fake)
def fused_varied_window_attention_backward(
        grad_out: Tensor, qkv: Tensor, offsets: Tensor, scales: Tensor,
        table: Tensor, out: Tensor, lse: Tensor, batch: int, height: int,
        width: int, scale: float, window_size: int,
        num_heads: int) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """Gradients of :func:`fused_varied_window_attention`.

    Returns:
        tuple[Tensor, Tensor, Tensor, Tensor]: Gradients of ``qkv``,
        ``offsets``, ``scales`` and ``table``, in their dtypes.
    """
    if torch.are_deterministic_algorithms_enabled():
        raise RuntimeError(
            "backend='triton' sums key and value gradients with atomic "
            'additions, which are not deterministic, and '
            'torch.use_deterministic_algorithms(True) is set; use '
            "backend='gather' (deterministic on CUDA too) or 'auto', which "
            'picks it in this mode')
    return launch_backward(grad_out, qkv, offsets, scales, table, out, lse,
                           batch, height, width, scale, window_size, num_heads,
                           NUM_WARPS['backward'])


def _setup_context(ctx, inputs: tuple, output: Tuple[Tensor, Tensor]) -> None:
    qkv, offsets, scales, table, *options = inputs
    out, lse = output
    ctx.save_for_backward(qkv, offsets, scales, table, out, lse)
    ctx.options = options
    ctx.mark_non_differentiable(lse)
    ctx.set_materialize_grads(False)  # no zeros made for lse's gradient


def _backward(ctx, grad_out: Optional[Tensor],
              grad_lse: Optional[Tensor]) -> tuple:
    del grad_lse  # lse is not differentiable
    no_options = (None, ) * len(ctx.options)
    if grad_out is None:
        return (None, None, None, None, *no_options)
    grads = fused_varied_window_attention_backward(grad_out,
                                                   *ctx.saved_tensors,
                                                   *ctx.options)
    needed = ctx.needs_input_grad[:4]
    return (*(g if need else None
              for g, need in zip(grads, needed)), *no_options)


def _fused_fake(qkv: Tensor, offsets: Tensor, scales: Tensor, table: Tensor,
                batch: int, height: int, width: int, scale: float,
                window_size: int, num_heads: int) -> Tuple[Tensor, Tensor]:
    out = qkv.new_empty(qkv.shape[0], qkv.shape[1] // 3)
    lse = qkv.new_empty(
        _lse_shape(batch, height, width, window_size, num_heads),
        dtype=torch.float32)
    return out, lse


@operator(
    FUSED_OP,
    fake=_fused_fake,
    setup_context=_setup_context,
    backward=_backward)
def fused_varied_window_attention(qkv: Tensor, offsets: Tensor, scales: Tensor,
                                  table: Tensor, batch: int, height: int,
                                  width: int, scale: float, window_size: int,
                                  num_heads: int) -> Tuple[Tensor, Tensor]:
    """Varied-size window attention of q/k/v rows, fused.

    Tensors go in and out as rows and flat vectors, not as maps: a compiled
    graph keeps them for backward, and inductor cannot order the strides
    of a kept map view when its sizes are symbolic.

    Args:
        qkv (Tensor): Output of the q/k/v projection, (B * H * W, 3 * D),
            pixels row-major, channels q|k|v, each split into ``num_heads``
            heads of width d.
        offsets (Tensor): Regressed window offsets (ox, oy), float32, in
            units of a window as in
            :func:`~vsa_mm.models.layers.window_geometry.varied_window_grid`:
            a (B, nW, h, 2) tensor flattened to (B * nW * h * 2, ).
        scales (Tensor): Regressed window scales (sx, sy), float32, flat
            like ``offsets``.
        table (Tensor): Relative position bias table, ((2 ws - 1)^2, h).
        batch (int): B.
        height (int): H.
        width (int): W.
        scale (float): Scale of the queries.
        window_size (int): Window side ws.
        num_heads (int): Number of heads h.

    Returns:
        tuple[Tensor, Tensor]: The attended tokens (B * H * W, D), dtype of
        ``qkv``, and the float32 log-sum-exp of every query's logits,
        (B, nW, h, ws * ws), which backward reuses.
    """
    return launch_forward(qkv, offsets, scales, table, batch, height, width,
                          scale, window_size, num_heads, NUM_WARPS['forward'])


def fused_attention_macs(out_shape: Sequence[int],
                         lse_shape: Sequence[int],
                         backward: bool = False) -> int:
    """Multiply-adds of the fused operator (forward, or backward).

    Per query and head: ``q k^T`` and ``p v`` over the window's N samples
    (``2 * N * d``) plus the four-corner interpolation of its key and value
    (``8 * d``). Backward recomputes the forward's products and does three
    more (``dv``, ``dp``, ``dq``, ``dk``: ``5 * N * d`` in all) and, for the
    interpolation, its recomputation, the scatter and the weights'
    gradient (``24 * d``).

    Args:
        out_shape (Sequence[int]): (B * H * W, D) of the attended tokens.
        lse_shape (Sequence[int]): (B, nW, h, N) of the log-sum-exp.
        backward (bool): Count the backward operator.

    Returns:
        int: Multiply-adds.
    """
    queries = math.prod(lse_shape)
    tokens = lse_shape[-1]
    head_dims = out_shape[-1] // lse_shape[2]
    if backward:
        return queries * head_dims * (5 * tokens + 24)
    return queries * head_dims * (2 * tokens + 8)


def _forward_flops(qkv_shape,
                   offsets_shape,
                   scales_shape,
                   table_shape,
                   *args,
                   out_shape=None,
                   **kwargs) -> int:
    out, lse = out_shape
    return 2 * fused_attention_macs(out, lse)


def _backward_flops(grad_out_shape, qkv_shape, offsets_shape, scales_shape,
                    table_shape, out_shape_, lse_shape, *args,
                    **kwargs) -> int:
    return 2 * fused_attention_macs(out_shape_, lse_shape, backward=True)


if FLOP_FORMULAS.available and CUSTOM_OPS.available:
    register_flop_formula(torch.ops.vsa_mm.fused_varied_window_attention,
                          _forward_flops)
    register_flop_formula(
        torch.ops.vsa_mm.fused_varied_window_attention_backward,
        _backward_flops)

BACKEND = Backend(unsupported_reason, attend)

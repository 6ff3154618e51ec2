"""Window geometry: padding, partition, grids and relative positions.

Conventions used throughout:

* feature maps are channels-last, ``(B, H, W, C)``;
* windows are numbered row-major (``window = i * nw + j`` for the window in
  row ``i`` and column ``j``) and so are the ``N = ws * ws`` tokens inside a
  window;
* sampling grids use :func:`torch.nn.functional.grid_sample`'s normalised
  coordinates with ``align_corners=True`` over the *padded* map: -1 and +1
  are the centres of the first and last pixel; channel 0 is x (width),
  channel 1 is y (height).
"""
import functools
from typing import Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from vsa_mm.compat import is_compiling


def is_tracing() -> bool:
    """Whether ``torch.compile``, ``torch.export`` or ``torch.jit.trace``
    is recording this call.

    While one records, sizes may be symbolic, and a branch on their value
    (padding or not, slicing or not) would become a guard that pins them:
    the functions here then take the branch-free path for every size.
    """
    return is_compiling() or torch.jit.is_tracing()


def size_max(a: Union[int, torch.SymInt],
             b: Union[int, torch.SymInt]) -> Union[int, torch.SymInt]:
    """``max(a, b)`` of sizes without a Python comparison of symbolic ones.

    A real ``torch.SymInt`` (sizes traced outside dynamo, as in
    ``torch.export``'s non-strict mode) goes through ``torch.sym_max``.
    Otherwise Python's ``max``: in eager the sizes are ints, and under
    dynamo, where symbolic sizes pass for ints, dynamo traces ``max``
    symbolically (its ``torch.sym_max`` of two plain ints graph-breaks in
    some releases).
    """
    if isinstance(a, torch.SymInt) or isinstance(b, torch.SymInt):
        return torch.sym_max(a, b)
    return max(a, b)


def pad_to_window_multiple(x: Tensor, window_size: int) -> Tensor:
    """Zero-pad a map at the bottom and right to a multiple of the window.

    Args:
        x (Tensor): Map of shape (B, H, W, C).
        window_size (int): Window side ws.

    Returns:
        Tensor: Map of shape (B, Hp, Wp, C), ``Hp = ceil(H / ws) * ws``; ``x``
        itself when no padding is needed, outside :func:`is_tracing`.
    """
    height, width = x.shape[1:3]
    pad_bottom = padded_size(height, window_size) - height
    pad_right = padded_size(width, window_size) - width
    if not is_tracing() and not (pad_bottom or pad_right):
        return x
    # While tracing, always pad (possibly by zero): no branch on the sizes.
    return F.pad(x, (0, 0, 0, pad_right, 0, pad_bottom))


def padded_size(size: Union[int, torch.SymInt],
                window_size: int) -> Union[int, torch.SymInt]:
    """``size`` rounded up to a multiple of ``window_size``.

    Written as a floor division of non-negative numbers, times the window
    (not with a modulo): a symbolic padded size is then visibly a multiple
    of the window, so cutting it into windows needs no guard, and exporters
    whose integer division truncates (ONNX) compute it correctly.
    """
    return (size + window_size - 1) // window_size * window_size


def padded_hw(
    height: Union[int,
                  torch.SymInt], width: Union[int,
                                              torch.SymInt], window_size: int
) -> Tuple[Union[int, torch.SymInt], Union[int, torch.SymInt]]:
    """(Hp, Wp): both sides rounded up to a multiple of the window."""
    return padded_size(height, window_size), padded_size(width, window_size)


def crop_to_tokens(x: Tensor, height: Union[int, torch.SymInt],
                   width: Union[int, torch.SymInt]) -> Tensor:
    """The top-left ``height x width`` of a padded map, as tokens.

    Args:
        x (Tensor): Map of shape (B, Hp, Wp, C), Hp >= H and Wp >= W.
        height (int): H.
        width (int): W.

    Returns:
        Tensor: Tokens of shape (B, H * W, C), row-major.
    """
    batch, _, padded_width, channels = x.shape
    if not is_tracing():
        return x[:, :height, :width].reshape(batch, height * width, channels)
    # While tracing: slicing would guard on H <= Hp and reshaping on the
    # crop's contiguity, neither provable for every symbolic size. A gather
    # of the kept rows needs neither.
    rows = torch.arange(height, device=x.device)[:, None] * padded_width
    index = (rows + torch.arange(width, device=x.device)).view(-1)
    return x.flatten(1, 2).index_select(1, index)


def tokens_to_map(tokens: Tensor,
                  hw_shape: Sequence[Union[int, torch.SymInt]]) -> Tensor:
    """(B, H * W, C) tokens as a (B, C, H, W) map, e.g. for a convolution.

    Eagerly a view; while tracing, a buffer of its own (:func:`own_buffer`).
    """
    x_map = tokens.transpose(1, 2).reshape(tokens.shape[0], -1, *hw_shape)
    return own_buffer(x_map)


def map_to_tokens(x_map: Tensor) -> Tensor:
    """(B, C, H, W) map as (B, H * W, C) tokens.

    Eagerly a view; while tracing, a buffer of its own (:func:`own_buffer`).
    """
    return own_buffer(x_map.flatten(2).transpose(1, 2))


def own_buffer(x: Tensor) -> Tensor:
    """``x`` eagerly; while :func:`is_tracing`, a contiguous copy.

    Inductor orders the strides of every view that a compiled
    graph saves for backward, and with symbolic sizes it cannot when a
    size may be 1 (``32 * ((s0 + 3) // 4) < 32`` is undecidable), which
    failed compiling at a second image size. Buffers of their own need no
    ordering; inductor fuses the copy into its producer.
    """
    if is_tracing():
        return x.clone(memory_format=torch.contiguous_format)
    return x


def window_partition(x: Tensor,
                     window_size: int,
                     num_heads: int = 1) -> Tensor:
    """Cut a padded map into non-overlapping windows, split into heads.

    Args:
        x (Tensor): Map of shape (B, Hp, Wp, C), Hp and Wp multiples of ws.
        window_size (int): Window side ws.
        num_heads (int): Number of heads the channels split into.
            Defaults to 1.

    Returns:
        Tensor: Contiguous windows of shape (B, nW, heads, ws * ws,
        C / heads), ``nW = Hp/ws * Wp/ws``.
    """
    batch, height, width, channels = x.shape
    ws = window_size
    x = x.view(batch, height // ws, ws, width // ws, ws, num_heads,
               channels // num_heads)
    x = x.permute(0, 1, 3, 5, 2, 4, 6)
    return x.reshape(batch, -1, num_heads, ws * ws, channels // num_heads)


def window_reverse(windows: Tensor, window_size: int, height: int,
                   width: int) -> Tensor:
    """Inverse of :func:`window_partition`.

    Args:
        windows (Tensor): Windows of shape (B, nW, heads, ws * ws, d).
        window_size (int): Window side ws.
        height (int): Padded map height Hp.
        width (int): Padded map width Wp.

    Returns:
        Tensor: Map of shape (B, Hp, Wp, heads * d).
    """
    batch, _, num_heads, _, head_dims = windows.shape
    ws = window_size
    x = windows.view(batch, height // ws, width // ws, num_heads, ws, ws,
                     head_dims)
    x = x.permute(0, 1, 4, 2, 5, 3, 6)
    return x.reshape(batch, height, width, num_heads * head_dims)


def relative_position_index(window_size: int) -> Tensor:
    """Index of Swin's relative position bias table for each token pair.

    Args:
        window_size (int): Window side ws.

    Returns:
        Tensor: Long tensor of shape (ws * ws, ws * ws); entry (a, b) indexes
        the table row ``(dy + ws - 1) * (2 * ws - 1) + (dx + ws - 1)`` where
        (dy, dx) is token a's position minus token b's.
    """
    coords = torch.stack(
        torch.meshgrid(
            torch.arange(window_size),
            torch.arange(window_size),
            indexing='ij')).flatten(1)  # 2, N
    relative = coords[:, :, None] - coords[:, None, :] + (window_size - 1)
    return relative[0] * (2 * window_size - 1) + relative[1]


def _at_least_one(
        size: Union[int, torch.SymInt, Tensor]) -> Union[int, Tensor]:
    """``max(size, 1)`` for an int, a symbolic int, or the 0-dim tensor that
    ``torch.jit.trace`` records for a size."""
    if isinstance(size, Tensor):
        return size.clamp(min=1)
    return size_max(size, 1)


def default_window_grid(height: int, width: int, window_size: int,
                        device: torch.device,
                        dtype: torch.dtype) -> Tuple[Tensor, Tensor, Tensor]:
    """Sampling positions of the default (unshifted, unscaled) windows.

    A handful of small tensor ops, computed in float64 and cast; ``height``
    and ``width`` may be symbolic sizes (no symbolic float is formed, and
    no tensor is made from the sizes themselves).

    Args:
        height (int): Padded map height Hp, a multiple of ``window_size``.
        width (int): Padded map width Wp, a multiple of ``window_size``.
        window_size (int): Window side ws.
        device (torch.device): Device of the grids.
        dtype (torch.dtype): Floating dtype of the grids.

    Returns:
        tuple[Tensor, Tensor, Tensor]:

        - ``base`` of shape (nW, 1, N, 2): the pixel centres ``c + r`` of
          every token of every window;
        - ``relative`` of shape (N, 2): the token positions ``r`` relative
          to their window's centre;
        - ``unit`` of shape (2, ): a window's width and height, the unit of
          the regressed offsets: ``(1 / nw, 1 / nh)``.
    """
    f64 = dict(device=device, dtype=torch.float64)
    # Pixel spacing in normalised coordinates is 2 / (side - 1); a 1-pixel
    # side has no extent (grid_sample maps every coordinate to its only
    # pixel). Tensors are divided by the (possibly symbolic) int sides, so no
    # symbolic float is ever formed.
    span_x = _at_least_one(width - 1)
    span_y = _at_least_one(height - 1)
    offsets = (torch.arange(window_size, **f64) - (window_size - 1) / 2) * 2
    ry, rx = torch.meshgrid(offsets / span_y, offsets / span_x, indexing='ij')
    relative = torch.stack([rx, ry], dim=-1).view(-1, 2)

    half = (window_size - 1) / 2
    windows_h, windows_w = height // window_size, width // window_size
    # Integer ranges, then cast: the length of a floating range of a
    # symbolic size is a ceiling some tracers cannot bound.
    cy = torch.arange(windows_h, device=device).to(torch.float64)
    cx = torch.arange(windows_w, device=device).to(torch.float64)
    cy = (cy * window_size + half) * 2 / span_y - 1
    cx = (cx * window_size + half) * 2 / span_x - 1
    cy, cx = torch.meshgrid(cy, cx, indexing='ij')
    centres = torch.stack([cx, cy], dim=-1).view(-1, 1, 1, 2)
    one = torch.ones((), **f64)
    unit = torch.stack([one / windows_w, one / windows_h])
    return ((centres + relative).to(dtype), relative.to(dtype), unit.to(dtype))


def varied_window_grid(base: Tensor, relative: Tensor, unit: Tensor,
                       offsets: Tensor, scales: Tensor) -> Tensor:
    """Sampling positions of the varied-size windows.

    For window w with centre c, default token positions r (relative to c),
    regressed offsets (ox, oy) and scales (sx, sy), token positions are
    ``p = c + r * (1 + s) + (ox / nw, oy / nh)``.

    Args:
        base (Tensor): Default positions ``c + r``, shape (nW, 1, N, 2).
        relative (Tensor): Relative positions ``r``, shape (N, 2).
        unit (Tensor): ``(1 / nw, 1 / nh)``, shape (2, ).
        offsets (Tensor): Regressed (ox, oy) per window and head, shape
            (B, nW, heads, 2), in units of a window.
        scales (Tensor): Regressed (sx, sy), shape (B, nW, heads, 2).

    Returns:
        Tensor: Grid of shape (B, nW, heads, N, 2), dtype of ``base``.
    """
    return (base + relative * scales.unsqueeze(-2) +
            (offsets * unit).unsqueeze(-2))


def sampling_grid(offsets: Tensor, scales: Tensor, map_hw: Tuple[int, int],
                  window_size: int) -> Tensor:
    """Where every head of every window samples its keys and values.

    :func:`varied_window_grid` of the :func:`default_window_grid` of the
    padded map. That default grid depends only on the map size: in eager
    mode it is kept per size, device and dtype (built outside autograd and
    inference mode, so training reuses what evaluation built); while
    ``torch.compile``, ``torch.export`` or ``torch.jit.trace`` records, it
    is built afresh, since sizes may be symbolic and no tensor may outlive
    the trace.

    Args:
        offsets (Tensor): Regressed (ox, oy), shape (B, nW, heads, 2).
        scales (Tensor): Regressed (sx, sy), shape (B, nW, heads, 2).
        map_hw (tuple[int, int]): (Hp, Wp), the padded map's size.
        window_size (int): Window side ws.

    Returns:
        Tensor: Positions of shape (B, nW, heads, ws * ws, 2), (x, y) in
        ``grid_sample``'s normalised coordinates (``align_corners=True``)
        over the padded map, dtype of ``offsets``; computed outside autocast.
    """
    default = _kept_default_window_grid if not is_tracing() else \
        default_window_grid
    with torch.autocast(offsets.device.type, enabled=False):
        base, relative, unit = default(*map_hw, window_size, offsets.device,
                                       offsets.dtype)
        return varied_window_grid(base, relative, unit, offsets, scales)


@functools.lru_cache(maxsize=64)
def _kept_default_window_grid(height: int, width: int, window_size: int,
                              device: torch.device,
                              dtype: torch.dtype) -> Tuple[Tensor, ...]:
    """:func:`default_window_grid`, kept per size, device and dtype."""
    with torch.inference_mode(False), torch.no_grad():
        return default_window_grid(height, width, window_size, device, dtype)


def relative_position_bias(table: Tensor, index: Tensor) -> Tensor:
    """Swin's relative position bias of every token pair and head.

    Args:
        table (Tensor): Bias table of shape ((2 ws - 1)^2, heads).
        index (Tensor): Its row for every token pair, (N, N), from
            :func:`relative_position_index`.

    Returns:
        Tensor: Bias of shape (heads, N, N).
    """
    num_tokens = index.shape[0]
    bias = table[index.view(-1)]
    return bias.view(num_tokens, num_tokens, -1).permute(2, 0, 1)

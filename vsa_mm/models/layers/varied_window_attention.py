"""The varied-window attention as one function with selectable backends.

:class:`~vsa_mm.models.layers.VSAWindowAttention` holds the parameters and
regresses each window's offsets and scales; :func:`varied_window_attention`
computes the attention from them with the backend the caller names, or
with the one ``'auto'`` picks. The backends, and the rule of ``'auto'``,
are in :mod:`vsa_mm.models.layers.backends`.
"""
from typing import Optional

from torch import Tensor

from .backends import AttentionCall, choose_backend


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
        backend (str): ``'auto'`` or a name in
            :data:`~vsa_mm.models.layers.backends.BACKENDS`. Defaults to
            ``'auto'``.

    Returns:
        Tensor: Attended tokens of shape (B, H * W, D), row-major, in the
        dtype of the projection's output.

    Raises:
        ValueError: If the backend is unknown or cannot compute this call
            (for ``'triton'``: device, dtype, window or head size, dropout),
            with the reason.
    """
    call = AttentionCall(x_map, offsets, scales, qkv_weight, qkv_bias,
                         bias_table, bias_index, scale, window_size, num_heads,
                         attn_drop, training)
    return choose_backend(backend, call).attend(call)

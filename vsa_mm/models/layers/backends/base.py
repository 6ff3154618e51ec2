"""What every backend takes and is: one call, two functions."""
from typing import Callable, NamedTuple, Optional

import torch
from torch import Tensor

from vsa_mm.compat import autocast_dtype


class AttentionCall(NamedTuple):
    """One call of the varied-window attention, as every backend takes it.

    Attributes:
        x_map (Tensor): Input map of shape (B, H, W, C).
        offsets (Tensor): Regressed (ox, oy) per window and head, float32
            (float64 for float64 inputs), shape (B, nW, h, 2), in units of
            a window.
        scales (Tensor): Regressed (sx, sy), same shape and dtype.
        qkv_weight (Tensor): Weight of the q/k/v projection, (3 * D, C).
        qkv_bias (Tensor, optional): Its bias, (3 * D, ).
        bias_table (Tensor): Swin's relative position bias table,
            ((2 ws - 1)^2, h).
        bias_index (Tensor): Its row for every token pair, (N, N).
        scale (float): Scale of the queries.
        window_size (int): Window side ws.
        num_heads (int): Number of heads h; ``D`` is divisible by it.
        attn_drop (float): Dropout rate of the attention weights.
        training (bool): Apply the dropout.
    """
    x_map: Tensor
    offsets: Tensor
    scales: Tensor
    qkv_weight: Tensor
    qkv_bias: Optional[Tensor]
    bias_table: Tensor
    bias_index: Tensor
    scale: float
    window_size: int
    num_heads: int
    attn_drop: float
    training: bool

    @property
    def out_dims(self) -> int:
        """D, the width of q, k, v and of the output."""
        return self.qkv_weight.shape[0] // 3

    @property
    def head_dims(self) -> int:
        """d = D / h."""
        return self.out_dims // self.num_heads

    @property
    def device(self) -> torch.device:
        return self.x_map.device

    @property
    def projection_dtype(self) -> torch.dtype:
        """The dtype of the q/k/v projection's output, autocast included."""
        return autocast_dtype(self.device.type) or self.x_map.dtype


class Backend(NamedTuple):
    """A way to compute the varied-window attention.

    Attributes:
        unsupported_reason (callable): ``(call) -> str | None``: a sentence
            naming what in the :class:`AttentionCall` the backend cannot
            compute, or None.
        attend (callable): ``(call) -> Tensor``: the attended tokens
            (B, H * W, D), row-major, in the dtype of the projection's
            output.
    """
    unsupported_reason: Callable[[AttentionCall], Optional[str]]
    attend: Callable[[AttentionCall], Tensor]


def always_supported(call: AttentionCall) -> None:
    """The ``unsupported_reason`` of a backend that computes every call."""
    return None

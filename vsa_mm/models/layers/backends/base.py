"""What every backend takes and is: one call, two functions."""
from dataclasses import dataclass
from typing import Callable, NamedTuple, Optional

import torch
from torch import Tensor

from vsa_mm.compat import autocast_dtype


@dataclass(frozen=True)
class AttentionCall:
    """One call of the varied-window attention, as every backend takes it:
    the arguments of
    :func:`~vsa_mm.models.layers.varied_window_attention.varied_window_attention`
    (but ``backend``), under the same names, with the same shapes and
    dtypes; ``x_map`` is (B, H, W, C), ``offsets`` and ``scales`` are
    (B, nW, h, 2)."""
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

"""Plain multi-head self-attention (full or windowed) for the baselines."""
from typing import Optional, Sequence, Union

import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

from vsa_mm.registry import MODELS


@MODELS.register_module()
class MultiheadSelfAttention(BaseModule):
    """Multi-head self-attention on PyTorch's ``scaled_dot_product_attention``.

    The ViTAEv2 baselines' attention. With ``window_size`` it attends within
    non-overlapping windows (no shift, no position bias), after zero-padding
    the map symmetrically to a window multiple (extra row/column at the
    bottom/right), as the official ViTAEv2 code does; otherwise over all
    tokens. The output width may differ from the input width, as in
    ViTAEv2's reduction cells.

    Args:
        embed_dims (int): Input channels C.
        num_heads (int): Attention heads.
        out_dims (int, optional): Output (and q, k, v) width; ``embed_dims``
            when None. Defaults to None.
        window_size (int, optional): Window side; None for full attention.
            Defaults to None.
        qkv_bias (bool): Bias in the q, k, v projection. Defaults to True.
        value_skip (bool): Add the values to the output, the skip
            connection of ViTAEv2's full-attention reduction cells (whose
            input width differs from the output's). Defaults to False.
        attn_drop (float): Attention dropout. Defaults to 0.
        proj_drop (float): Output dropout. Defaults to 0.
        init_cfg (dict | list[dict], optional): Initialisation config.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 out_dims: Optional[int] = None,
                 window_size: Optional[int] = None,
                 qkv_bias: bool = True,
                 value_skip: bool = False,
                 attn_drop: float = 0.,
                 proj_drop: float = 0.,
                 init_cfg: Union[dict, list, None] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.out_dims = out_dims or embed_dims
        if self.out_dims % num_heads:
            raise ValueError(f'out_dims ({self.out_dims}) must be divisible '
                             f'by num_heads ({num_heads})')
        if window_size is not None and window_size < 1:
            raise ValueError(f'window_size must be >= 1, got {window_size}')
        self.embed_dims = embed_dims
        self.num_heads = num_heads
        self.window_size = window_size
        self.value_skip = value_skip
        self.attn_drop = attn_drop
        self.qkv = nn.Linear(embed_dims, 3 * self.out_dims, bias=qkv_bias)
        self.proj = nn.Linear(self.out_dims, self.out_dims)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: Tensor, hw_shape: Sequence[int]) -> Tensor:
        """Attend.

        Args:
            x (Tensor): Tokens of shape (B, H * W, embed_dims).
            hw_shape (Sequence[int]): (H, W).

        Returns:
            Tensor: Shape (B, H * W, out_dims).
        """
        if self.window_size is None:
            return self._attend(x)
        batch, _, channels = x.shape
        height, width = hw_shape
        ws = self.window_size
        pad_h, pad_w = -height % ws, -width % ws
        top, left = pad_h // 2, pad_w // 2
        x = x.view(batch, height, width, channels)
        x = F.pad(x, (0, 0, left, pad_w - left, top, pad_h - top))
        padded_h, padded_w = height + pad_h, width + pad_w
        windows = x.view(batch, padded_h // ws, ws, padded_w // ws, ws,
                         channels).permute(0, 1, 3, 2, 4,
                                           5).reshape(-1, ws * ws, channels)
        out = self._attend(windows).view(batch, padded_h // ws, padded_w // ws,
                                         ws, ws, -1)
        out = out.permute(0, 1, 3, 2, 4, 5).reshape(batch, padded_h, padded_w,
                                                    -1)
        out = out[:, top:top + height, left:left + width]
        return out.reshape(batch, height * width, self.out_dims)

    def _attend(self, x: Tensor) -> Tensor:
        """(B, N, C) -> (B, N, out_dims) over all N tokens."""
        batch, tokens, _ = x.shape
        qkv = self.qkv(x).view(batch, tokens, 3, self.num_heads, -1)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        out = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.attn_drop if self.training else 0.)
        out = self.proj_drop(
            self.proj(out.transpose(1, 2).reshape(batch, tokens, -1)))
        if self.value_skip:
            out = out + v.transpose(1, 2).reshape(batch, tokens, -1)
        return out

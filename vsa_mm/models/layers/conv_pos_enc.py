"""Convolutional position encoding on token sequences."""
from typing import Sequence

import torch.nn as nn
from torch import Tensor

from vsa_mm.registry import MODELS
from .window_geometry import map_to_tokens, tokens_to_map


@MODELS.register_module()
class ConvPosEnc(nn.Module):
    """Depthwise convolution over the token map (a conditional position
    encoding).

    Returns the convolution's output only; callers choose where to add it
    (Swin + VSA adds it to the residual stream, ViTAEv2's normal cells to the
    attention's input).

    Args:
        embed_dims (int): Channels C.
        kernel_size (int): Odd kernel size; padding keeps the map size.
            Defaults to 7.

    Examples:
        >>> import torch
        >>> cpe = ConvPosEnc(32, kernel_size=7)
        >>> cpe(torch.rand(2, 5 * 6, 32), (5, 6)).shape
        torch.Size([2, 30, 32])
    """

    def __init__(self, embed_dims: int, kernel_size: int = 7) -> None:
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(
                f'kernel_size must be a positive odd int, got {kernel_size}')
        self.proj = nn.Conv2d(
            embed_dims,
            embed_dims,
            kernel_size,
            padding=kernel_size // 2,
            groups=embed_dims)

    def forward(self, x: Tensor, hw_shape: Sequence[int]) -> Tensor:
        """Convolve the tokens as a map.

        Args:
            x (Tensor): Tokens of shape (B, H * W, C).
            hw_shape (Sequence[int]): (H, W).

        Returns:
            Tensor: Shape (B, H * W, C).
        """
        return map_to_tokens(self.proj(tokens_to_map(x, hw_shape)))

"""What the unfused backends share: windows in, softmax attention, tokens
out."""
from typing import Callable

import torch.nn.functional as F
from torch import Tensor

from ..window_geometry import (crop_to_tokens, padded_hw,
                               relative_position_bias, sampling_grid,
                               window_reverse)
from .base import AttentionCall

#: ``(call, grid, bias) -> windows``: attends every window, given where its
#: heads sample (B, nW, h, N, 2) and the position bias (h, N, N); returns
#: (B, nW, h, N, d).
WindowAttention = Callable[[AttentionCall, Tensor, Tensor], Tensor]


def attend_in_windows(call: AttentionCall,
                      attend_windows: WindowAttention) -> Tensor:
    """The varied-window attention of ``call`` by window.

    Computes the sampling grid and the relative position bias, lets
    ``attend_windows`` attend every window, then reverses the windows and
    crops the padding.

    Args:
        call (AttentionCall): The call.
        attend_windows (callable): The backend's attention of the windows.

    Returns:
        Tensor: Attended tokens of shape (B, H * W, D).
    """
    height, width = call.x_map.shape[1:3]
    map_hw = padded_hw(height, width, call.window_size)
    grid = sampling_grid(call.offsets, call.scales, map_hw, call.window_size)
    bias = relative_position_bias(call.bias_table, call.bias_index)
    windows = attend_windows(call, grid, bias)
    return crop_to_tokens(
        window_reverse(windows, call.window_size, *map_hw), height, width)


def softmax_attention(q: Tensor, k: Tensor, v: Tensor, bias: Tensor,
                      attn_drop: float, training: bool) -> Tensor:
    """``softmax(q k^T + bias) v`` with dropout on the weights.

    Args:
        q (Tensor): Scaled queries, (..., h, N, d).
        k (Tensor): Keys, (..., h, M, d).
        v (Tensor): Values, (..., h, M, d).
        bias (Tensor): Added to the logits, broadcastable to (..., h, N, M).
        attn_drop (float): Dropout rate of the attention weights.
        training (bool): Apply the dropout.

    Returns:
        Tensor: Shape (..., h, N, d).
    """
    attn = q @ k.transpose(-2, -1) + bias.to(q.dtype)
    attn = F.dropout(attn.softmax(dim=-1), attn_drop, training)
    return attn @ v

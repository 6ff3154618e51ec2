"""The attention step shared by the unfused backends."""
import torch.nn.functional as F
from torch import Tensor


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

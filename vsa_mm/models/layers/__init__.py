"""Layers: the varied-size window attention and its helpers."""
from .conv_pos_enc import ConvPosEnc
from .multihead_attention import MultiheadSelfAttention
from .vsa_attention import VSAWindowAttention, WindowRegressionHead

__all__ = [
    'ConvPosEnc', 'MultiheadSelfAttention', 'VSAWindowAttention',
    'WindowRegressionHead'
]

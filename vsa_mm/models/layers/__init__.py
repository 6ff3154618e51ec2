"""Layers: the varied-size window attention and its helpers."""
from .adaptive_padding import SymbolicAdaptivePadding, make_padding_symbolic
from .conv_pos_enc import ConvPosEnc
from .multihead_attention import MultiheadSelfAttention
from .vsa_attention import VSAWindowAttention, WindowRegressionHead

__all__ = [
    'SymbolicAdaptivePadding', 'make_padding_symbolic', 'ConvPosEnc',
    'MultiheadSelfAttention', 'VSAWindowAttention', 'WindowRegressionHead'
]

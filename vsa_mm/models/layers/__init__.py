"""Layers: the varied-size window attention and its helpers."""
from .conv_pos_enc import ConvPosEnc
from .ffn import FFN
from .multihead_attention import MultiheadSelfAttention
from .patch_bricks import SymbolicAdaptivePadding, make_patch_bricks_symbolic
from .vsa_attention import (VSAWindowAttention, WindowRegressionHead,
                            move_windows)

__all__ = [
    'SymbolicAdaptivePadding', 'make_patch_bricks_symbolic', 'ConvPosEnc',
    'FFN', 'MultiheadSelfAttention', 'VSAWindowAttention',
    'WindowRegressionHead', 'move_windows'
]

"""Models of vsa_mm: the VSA layer and the backbones built on it."""
from .backbones import SwinTransformerVSA, ViTAEv2
from .layers import ConvPosEnc, MultiheadSelfAttention, VSAWindowAttention

__all__ = [
    'ConvPosEnc', 'MultiheadSelfAttention', 'SwinTransformerVSA', 'ViTAEv2',
    'VSAWindowAttention'
]

"""Models of vsa_mm: the VSA layer and the backbones built on it."""
from .backbones import SwinTransformerVSA, ViTAEv2VSA
from .layers import ConvPosEnc, VSAWindowAttention

__all__ = [
    'ConvPosEnc', 'SwinTransformerVSA', 'ViTAEv2VSA', 'VSAWindowAttention'
]

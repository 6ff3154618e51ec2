"""Backbones built on VSAWindowAttention."""
from .swin_vsa import SwinTransformerVSA
from .vitaev2 import ViTAEv2

__all__ = ['SwinTransformerVSA', 'ViTAEv2']

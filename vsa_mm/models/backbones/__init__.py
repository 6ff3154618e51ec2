"""Backbones built on VSAWindowAttention."""
from .swin_vsa import SwinTransformerVSA

__all__ = ['SwinTransformerVSA']

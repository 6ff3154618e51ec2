"""Layers: the varied-size window attention and its helpers."""
from .vsa_attention import VSAWindowAttention, WindowRegressionHead

__all__ = ['VSAWindowAttention', 'WindowRegressionHead']

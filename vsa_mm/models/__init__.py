"""Models of vsa_mm: the VSA layer and the backbones built on it."""
from .layers import VSAWindowAttention

__all__ = ['VSAWindowAttention']

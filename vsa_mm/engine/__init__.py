"""Integration with MMEngine's runner."""
from .checkpoint_loaders import register_checkpoint_loaders

__all__ = ['register_checkpoint_loaders']

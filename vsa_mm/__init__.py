"""vsa_mm: Varied-Size Window Attention for the OpenMMLab 2.x stack.

Importing the package (for example through a config's
``custom_imports = dict(imports=['vsa_mm'], allow_failed_imports=False)``)
registers its models in the ``vsa_mm`` registry scope and makes MMEngine
checkpoints loadable on torch >= 2.6.
"""
from .engine import register_checkpoint_loaders
from .version import __version__

register_checkpoint_loaders()

from . import models  # noqa: E402,F401  registers the models

__all__ = ['__version__', 'register_checkpoint_loaders']

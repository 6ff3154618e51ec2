"""vsa_mm: Varied-Size Window Attention for the OpenMMLab 2.x stack.

Importing the package (for example through a config's
``custom_imports = dict(imports=['vsa_mm'], allow_failed_imports=False)``)
registers its models, hooks and metrics in the ``vsa_mm`` registry scope, makes
MMEngine checkpoints loadable on torch >= 2.6 and makes MMEngine's local
file writes (checkpoints included) atomic.
"""
from .engine import register_atomic_local_backend, register_checkpoint_loaders
from .version import __version__

register_checkpoint_loaders()
register_atomic_local_backend()

from . import evaluation  # noqa: E402,F401  registers the metrics
from . import models  # noqa: E402,F401  registers the models

__all__ = [
    '__version__', 'register_checkpoint_loaders',
    'register_atomic_local_backend'
]

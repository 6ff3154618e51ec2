"""vsa_mm: Varied-Size Window Attention for the OpenMMLab 2.x stack.

Importing the package (for example through a config's
``custom_imports = dict(imports=['vsa_mm'], allow_failed_imports=False)``)
registers its models, hooks and metrics in the ``vsa_mm`` registry scope.

It also changes five things in MMEngine and torch for the whole process.
Each is logged once at INFO (MMLogger ``vsa_mm``) when applied, and each is
turned off by setting its environment variable to ``0`` before the import:

1. ``VSA_MM_SAFE_GLOBALS``: ``torch.serialization.add_safe_globals`` with
   the types MMEngine checkpoints hold besides tensors (``HistoryBuffer``,
   built through its constructor only, NumPy arrays, numeric dtypes and
   scalars; :func:`vsa_mm.engine.mmengine_safe_globals`). ``torch.load``
   keeps ``weights_only=True``: ``load_from``, ``resume`` and
   ``init_cfg=dict(type='Pretrained')`` load the checkpoints of runs with
   ``vsa_mm.ExactResumeHook`` (every vsa_mm training config has it;
   it stores history buffers without the ``builtins.getattr`` that
   MMEngine's own pickling needs), and a file that pickles anything else,
   code included, is refused.
2. ``VSA_MM_WEIGHTS_ONLY_HTTP`` (MMEngine <= 0.10.7 only): MMEngine's
   ``http(s)://`` loader, also behind ``openmmlab://``, ``torchvision://``
   and ``mmcls://``, is replaced by one that passes ``weights_only=True``
   (MMEngine 0.10.7 downloads through ``torch.hub`` with
   ``weights_only=False``).
3. ``VSA_MM_ATOMIC_WRITES``: MMEngine's ``local`` file backend is replaced
   by :class:`vsa_mm.engine.AtomicLocalBackend`, which writes checkpoints,
   ``last_checkpoint`` and dumped files atomically (temporary file, fsync,
   rename).

4. ``VSA_MM_FLOP_HANDLES``: MMEngine's FLOP counter, which every
   OpenMMLab ``get_flops`` tool uses, counts VSA's ``vsa_mm::bilinear_gather``
   operator and ``scaled_dot_product_attention``
   (:func:`vsa_mm.analysis.register_flop_handles`).
5. ``VSA_MM_EAGER_OPTIMIZER_STEP``: when a config sets ``compile``, the
   Runner compiles ``train_step`` with the optimizer step left eager
   (:mod:`vsa_mm.engine.compile_train_step`); compiling it fails on the
   ``ConfigDict`` parameter groups of optimizers built from configs.

:func:`vsa_mm.engine.applied_side_effects` lists those applied.
"""
from .engine import (register_atomic_local_backend,
                     register_eager_optimizer_step,
                     register_mmengine_safe_globals,
                     register_weights_only_http_loader)
from .version import __version__

register_mmengine_safe_globals()
register_weights_only_http_loader()
register_atomic_local_backend()
register_eager_optimizer_step()

from . import evaluation  # noqa: E402,F401  registers the metrics
from . import models  # noqa: E402,F401  registers the models
from .analysis import register_flop_handles  # noqa: E402

register_flop_handles()

__all__ = [
    '__version__', 'register_mmengine_safe_globals',
    'register_weights_only_http_loader', 'register_atomic_local_backend',
    'register_eager_optimizer_step', 'register_flop_handles'
]

"""The runtime opt-in: three changes to MMEngine, applied only when asked.

``import vsa_mm`` registers and changes nothing of MMEngine's or torch's
but an unsafe local checkpoint loader (:mod:`vsa_mm`).
:func:`install` applies three process-wide changes that make training
with MMEngine 0.10.7 safer; a config opts in with one line::

    custom_imports = dict(
        imports=['vsa_mm', 'vsa_mm.runtime.enable'],
        allow_failed_imports=False)

(every config vsa_mm ships has it), and ``tools/train.py`` and
``tools/test.py`` call :func:`install` themselves. The changes, each with
an environment switch that leaves it out (``0``, ``false``, ``no`` or
``off``):

1. ``VSA_MM_ATOMIC_WRITES``: MMEngine's ``local`` file backend becomes
   :class:`~vsa_mm.checkpoint.atomic_io.AtomicLocalBackend`, so
   checkpoints, ``last_checkpoint`` and dumped files are written to a
   temporary file, synced and renamed into place: an interrupted run never
   leaves a truncated checkpoint behind.
2. ``VSA_MM_WEIGHTS_ONLY_HTTP``: the ``http(s)://`` loader of MMEngine's
   ``CheckpointLoader``, also behind ``openmmlab://``, ``torchvision://``
   and ``mmcls://``, becomes
   :func:`~vsa_mm.checkpoint.safe_load.load_http_checkpoint`, which
   downloads with ``weights_only=True`` (MMEngine's, in 0.10.7 and in the
   onedl-mmengine fork, uses torch hub's default, ``weights_only=False``).
3. ``VSA_MM_EAGER_OPTIMIZER_STEP``: when a config sets ``compile``, the
   Runner compiles ``train_step`` with the optimizer step left eager
   (:func:`~vsa_mm.engine.compile_train_step.keep_optimizer_step_eager`);
   compiling the step fails on the ``ConfigDict`` parameter groups of
   optimizers built from configs, and would recompile at every learning
   rate change.

When it first applies them, :func:`install` logs one INFO line (MMLogger
``vsa_mm``) saying what changed.
"""
import functools
from typing import Tuple

from mmengine.fileio import register_backend
from mmengine.logging import MMLogger
from mmengine.runner import Runner
from mmengine.runner import checkpoint as mmengine_checkpoint
from mmengine.runner.checkpoint import CheckpointLoader

from ..checkpoint.atomic_io import AtomicLocalBackend
from ..checkpoint.safe_load import load_http_checkpoint
from ..engine.compile_train_step import keep_optimizer_step_eager
from ..env_switches import switch

#: What each part changes, by its environment switch.
PARTS = {
    'VSA_MM_ATOMIC_WRITES':
    'MMEngine\'s "local" file backend writes atomically',
    'VSA_MM_WEIGHTS_ONLY_HTTP':
    ('http(s)/openmmlab/torchvision checkpoints download with '
     'weights_only=True'),
    'VSA_MM_EAGER_OPTIMIZER_STEP':
    'compile=True leaves the optimizer step eager',
}
_MARK = '_vsa_mm_runtime'
_installed: Tuple[str, ...] = ()


def _install_atomic_writes() -> None:
    register_backend('local', AtomicLocalBackend, force=True, prefixes='')


def _install_weights_only_http() -> None:
    CheckpointLoader.register_scheme(
        prefixes=('http://', 'https://'),
        loader=load_http_checkpoint,
        force=True)
    mmengine_checkpoint.load_from_http = load_http_checkpoint


def _install_eager_optimizer_step() -> None:
    original = Runner._maybe_compile
    if getattr(original, _MARK, False):
        return

    @functools.wraps(original)
    def _maybe_compile(self: Runner, target: str) -> None:
        if target == 'train_step' and self.cfg.get('compile'):
            keep_optimizer_step_eager(self.optim_wrapper)
        original(self, target)

    setattr(_maybe_compile, _MARK, True)
    Runner._maybe_compile = _maybe_compile


def install() -> Tuple[str, ...]:
    """Apply the runtime opt-in (idempotent).

    Returns:
        tuple[str, ...]: The switches of the parts in effect, in
        :data:`PARTS` order.
    """
    global _installed
    if _installed:
        return _installed
    applied = []
    if switch('VSA_MM_ATOMIC_WRITES', default=True):
        _install_atomic_writes()
        applied.append('VSA_MM_ATOMIC_WRITES')
    if switch('VSA_MM_WEIGHTS_ONLY_HTTP', default=True):
        _install_weights_only_http()
        applied.append('VSA_MM_WEIGHTS_ONLY_HTTP')
    if switch('VSA_MM_EAGER_OPTIMIZER_STEP', default=True):
        _install_eager_optimizer_step()
        applied.append('VSA_MM_EAGER_OPTIMIZER_STEP')
    _installed = tuple(applied)
    what = '; '.join(PARTS[name] for name in _installed) or 'nothing'
    MMLogger.get_instance(
        'vsa_mm', logger_name='vsa_mm').info(
            f'vsa_mm.runtime installed: {what} (help(vsa_mm.runtime) says how '
            'to leave parts out)')
    return _installed


def installed() -> Tuple[str, ...]:
    """The switches of the parts :func:`install` applied (empty before)."""
    return _installed

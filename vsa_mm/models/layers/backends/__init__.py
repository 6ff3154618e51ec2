"""The backends of the varied-window attention: one file each, one table.

Every backend computes the same function from the same
:class:`~.base.AttentionCall` (:class:`~.base.Backend`):

================  ================  ========================================
name              file              how
================  ================  ========================================
``'reference'``   ``reference.py``  keys and values sampled with
                                    ``F.grid_sample``; the readable
                                    definition
``'gather'``      ``gather.py``     keys and values sampled together by an
                                    exact bilinear row gather (custom
                                    operators), recomputed in backward
``'triton'``      ``triton_fused``  sampling, attention, window reverse and
                                    crop in one Triton kernel each way
================  ================  ========================================

A new backend is a file with ``unsupported_reason(call)`` and
``attend(call)``, and an entry in :data:`BACKENDS`.

``'auto'`` (:func:`resolve_backend`) is stated here and nowhere else:

- on the CPU, ``'gather'`` (measured fastest there,
  ``docs/benchmarks.md``);
- on CUDA, ``'gather'`` while a model is exported or traced (ONNX knows its
  operator) and, when autograd records, under
  ``torch.use_deterministic_algorithms(True)`` (its backward is
  deterministic; ``grid_sample``'s adds gradients atomically); otherwise
  ``'reference'``;
- on other devices, ``'reference'``.

``'auto'`` never picks ``'triton'``: the fused kernels of this revision
have run in Triton's interpreter and compiled for sm_80 and sm_90, but have
not been timed on a GPU; it is opt-in (``backend='triton'``).
"""
import functools
import logging
from typing import Dict

import torch
from mmengine.logging import print_log

from vsa_mm.compat import is_exporting
from ..window_geometry import is_tracing
from . import gather, reference, triton_fused
from .base import AttentionCall, Backend

#: The backends, by name.
BACKENDS: Dict[str, Backend] = {
    'reference': reference.BACKEND,
    'gather': gather.BACKEND,
    'triton': triton_fused.BACKEND,
}
#: Values of ``backend``: ``'auto'`` and the names of :data:`BACKENDS`.
VSA_BACKENDS = ('auto', *BACKENDS)


def check_backend(backend: object) -> str:
    """Validate a ``backend`` argument.

    Args:
        backend (str): One of :data:`VSA_BACKENDS`.

    Returns:
        str: ``backend``.

    Raises:
        TypeError: If ``backend`` is not a str.
        ValueError: If it is not a known backend.
    """
    if not isinstance(backend, str):
        raise TypeError(f'backend must be a str, got {backend!r}')
    if backend not in VSA_BACKENDS:
        raise ValueError(
            f'backend must be one of {VSA_BACKENDS}, got {backend!r}')
    return backend


def _exporting() -> bool:
    """Whether ``torch.export`` or ``torch.jit.trace`` records this call."""
    return is_exporting() or torch.jit.is_tracing()


def _deterministic_backward_needed() -> bool:
    """Whether autograd records under
    ``torch.use_deterministic_algorithms(True)``."""
    return torch.are_deterministic_algorithms_enabled(
    ) and torch.is_grad_enabled()


@functools.lru_cache(maxsize=None)
def _log_auto_choice(device_type: str, backend: str, why: str) -> None:
    """Say once per device and choice what ``'auto'`` picked, at DEBUG."""
    print_log(
        f"VSA backend 'auto' on {device_type}: {backend!r}{why}",
        logger='current',
        level=logging.DEBUG)


def resolve_backend(backend: str, device: torch.device) -> str:
    """The backend ``backend`` stands for in this call: ``'auto'`` by the
    rule above, any other name as it is.

    Examples:
        >>> resolve_backend('auto', torch.device('cpu'))
        'gather'
        >>> resolve_backend('auto', torch.device('cuda'))
        'reference'
        >>> resolve_backend('triton', torch.device('cuda'))
        'triton'
    """
    if backend != 'auto':
        return backend
    why = ''
    if device.type == 'cpu':
        chosen = 'gather'
    elif device.type == 'cuda' and _exporting():
        chosen = 'gather'
        why = ' (exporting: the gather operator has an ONNX translation)'
    elif device.type == 'cuda' and _deterministic_backward_needed():
        chosen = 'gather'
        why = (' (deterministic algorithms are on: the backward of '
               "'reference' adds gradients atomically)")
    else:
        chosen = 'reference'
    if not is_tracing():
        _log_auto_choice(device.type, chosen, why)
    return chosen


def choose_backend(backend: str, call: AttentionCall) -> Backend:
    """The backend that computes ``call``.

    Args:
        backend (str): One of :data:`VSA_BACKENDS`.
        call (AttentionCall): The call.

    Returns:
        Backend: The chosen backend.

    Raises:
        TypeError: If ``backend`` is not a str.
        ValueError: If it is unknown, or cannot compute ``call`` (the
            message says why).
    """
    name = resolve_backend(check_backend(backend), call.device)
    chosen = BACKENDS[name]
    reason = chosen.unsupported_reason(call)
    if reason is not None:
        raise ValueError(f'backend={name!r} cannot compute this call: '
                         f'{reason}')
    return chosen


__all__ = [
    'AttentionCall', 'Backend', 'BACKENDS', 'VSA_BACKENDS', 'check_backend',
    'choose_backend', 'resolve_backend'
]

"""Registries of vsa_mm.

``HOOKS`` holds the runner hooks of :mod:`vsa_mm.engine` (scope ``vsa_mm``,
built as ``type='vsa_mm.<Name>'``).

``MODELS`` is a child of MMEngine's root ``MODELS`` registry with the scope
``vsa_mm``: every module registered here can be built from any OpenMMLab
config as ``type='vsa_mm.<Name>'``, and as ``type='<Name>'`` when the default
scope is ``vsa_mm``.

``METRICS`` holds the evaluation metrics of :mod:`vsa_mm.evaluation`
(scope ``vsa_mm``, built as ``type='vsa_mm.<Name>'`` in an evaluator).
"""
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import Registry

MODELS = Registry(
    'model',
    parent=MMENGINE_MODELS,
    scope='vsa_mm',
    locations=['vsa_mm.models'])

HOOKS = Registry(
    'hook',
    parent=MMENGINE_HOOKS,
    scope='vsa_mm',
    locations=['vsa_mm.engine'])

METRICS = Registry(
    'metric',
    parent=MMENGINE_METRICS,
    scope='vsa_mm',
    locations=['vsa_mm.evaluation'])

__all__ = ['MODELS', 'HOOKS', 'METRICS']

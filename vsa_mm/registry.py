"""Registries of vsa_mm.

``MODELS`` is a child of MMEngine's root ``MODELS`` registry with the scope
``vsa_mm``: every module registered here can be built from any OpenMMLab
config as ``type='vsa_mm.<Name>'``, and as ``type='<Name>'`` when the default
scope is ``vsa_mm``.
"""
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import Registry

MODELS = Registry(
    'model',
    parent=MMENGINE_MODELS,
    scope='vsa_mm',
    locations=['vsa_mm.models'])

__all__ = ['MODELS']

"""Registries of vsa_mm.

``HOOKS`` holds the runner hooks of :mod:`vsa_mm.engine` (scope ``vsa_mm``,
built as ``type='vsa_mm.<Name>'``).

``MODELS`` is a child of MMEngine's root ``MODELS`` registry with the scope
``vsa_mm``: every module registered here can be built from any OpenMMLab
config as ``type='vsa_mm.<Name>'``, and as ``type='<Name>'`` when the default
scope is ``vsa_mm``.

``METRICS`` holds the evaluation metrics of :mod:`vsa_mm.evaluation`
(scope ``vsa_mm``, built as ``type='vsa_mm.<Name>'`` in an evaluator).

A misspelt ``vsa_mm.<Name>`` fails with a ``KeyError`` that names the
registry (``vsa_mm::model``, ...) and its closest registered names.

The package is also registered with MMEngine's config loader, which
resolves ``<package>::<path>`` only for the packages of its
``MODULE2PACKAGE`` table: once vsa_mm is imported, a config's
``_base_ = ['vsa_mm::demo/swin-tiny-vsa_demo-imagenet.py']`` names a config
shipped in the installed package (``vsa_mm/.mim/configs``). MMEngine then
gives the base's unscoped dicts ``_scope_='vsa_mm'``, a scope that only
holds vsa_mm's own types; :func:`drop_package_scope` removes it again.
"""
import difflib
from typing import Any, Optional

from mmengine.config import Config
from mmengine.config.utils import MODULE2PACKAGE
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import Registry


class VSARegistry(Registry):
    """A :class:`Registry` whose misses name itself and close matches.

    MMEngine's message for an unknown ``vsa_mm.<Name>`` names the registry
    that built the config (``mmdet::model``, ...), not this one, and no
    alternatives. A key of this scope that is found neither here nor in the
    parents raises :class:`KeyError` with both instead.
    """

    def get(self, key: str) -> Optional[Any]:
        """As :meth:`Registry.get`; a miss in this scope raises KeyError.

        Raises:
            KeyError: If ``key`` (with this scope or none) is not found.
        """
        obj = super().get(key)
        if obj is None and isinstance(key, str):
            scope, name = self.split_scope_key(key)
            if scope in (None, self.scope):
                raise KeyError(self._missing(name))
        return obj

    def __contains__(self, key: str) -> bool:
        try:
            return self.get(key) is not None
        except KeyError:
            return False

    def _missing(self, name: str) -> str:
        known = sorted(self.module_dict)
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
        hint = (f'close matches: {", ".join(close)}'
                if close else f'registered: {", ".join(known)}')
        return (f'{self.scope}.{name} is not in the '
                f'{self.scope}::{self.name} registry; {hint}')


MODELS = VSARegistry(
    'model',
    parent=MMENGINE_MODELS,
    scope='vsa_mm',
    locations=['vsa_mm.models'])

HOOKS = VSARegistry(
    'hook', parent=MMENGINE_HOOKS, scope='vsa_mm', locations=['vsa_mm.engine'])

METRICS = VSARegistry(
    'metric',
    parent=MMENGINE_METRICS,
    scope='vsa_mm',
    locations=['vsa_mm.evaluation'])

MODULE2PACKAGE.setdefault('vsa_mm', 'vsa_mm')


def drop_package_scope(cfg: Config) -> Config:
    """Undo the ``_scope_='vsa_mm'`` of ``vsa_mm::`` bases, in place.

    MMEngine sets ``_scope_`` to the package of a ``<package>::`` base on
    each of its dicts with a ``type`` and no ``_scope_``, as if the package
    were a library scope. vsa_mm's configs are mmdet, mmseg and mmpretrain
    configs, whose types the ``vsa_mm`` scope does not hold: that
    ``_scope_`` is removed from every dict whose type is not one of
    vsa_mm's, which then builds in the config's ``default_scope`` as it
    does when the base is named by its path.

    Args:
        cfg (Config): A loaded config.

    Returns:
        Config: ``cfg``.
    """
    own = set(MODELS.module_dict) | set(HOOKS.module_dict) | set(
        METRICS.module_dict)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            kind = node.get('type')
            if node.get('_scope_') == 'vsa_mm' and isinstance(kind, str) \
                    and Registry.split_scope_key(kind)[1] not in own:
                node.pop('_scope_')
            for value in node.values():
                walk(value)
        elif isinstance(node, (list, tuple)):
            for value in node:
                walk(value)

    walk(cfg._cfg_dict)
    return cfg


__all__ = ['MODELS', 'HOOKS', 'METRICS', 'drop_package_scope']

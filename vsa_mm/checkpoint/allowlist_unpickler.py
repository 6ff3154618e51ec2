"""An unpickler that builds only allowlisted globals, for older torches.

Where torch's ``weights_only`` allowlist maps pickled names to objects
(:data:`vsa_mm.compat.NAMED_SAFE_GLOBALS`), vsa_mm loads MMEngine
checkpoints with it (:mod:`vsa_mm.checkpoint.safe_load`). Older releases
have no allowlist or one without names, and their ``weights_only``
unpickler refuses the history buffers of every MMEngine checkpoint.

There, vsa_mm loads with ``torch.load(pickle_module=...)`` and the module
:func:`allowlist_pickle_module` makes: torch still reads the archive and
its tensors, and the unpickler

- resolves a global only by its name in the allowlist (torch's own
  ``weights_only`` allowlist plus the entries given), so no other function
  or class can be reached, let alone called;
- sets state (``BUILD``) only on instances of allowlisted classes, tensors
  and ordered dicts, never on a class, function or module.

A refusal is a ``pickle.UnpicklingError`` worded like torch's.
"""
import _compat_pickle
import codecs
import collections
import pickle
import types
from typing import Any, Dict, Iterable, Tuple, Union

import torch

SafeGlobal = Union[Any, Tuple[Any, str]]

#: What later torches allow by default beyond the releases that need this
#: module: plain containers and numbers, bytes as protocol 2 pickles them
#: (``_codecs.encode(str, 'latin1')``), devices and every dtype.
NEWER_TORCH_DEFAULTS = (
    set,
    bytearray,
    complex,
    collections.Counter,
    codecs.encode,
    torch.device,
    *((value, f'torch.{name}') for name, value in vars(torch).items()
      if isinstance(value, torch.dtype)),
)

#: How a refusal starts, as in torch's ``weights_only`` errors.
REFUSAL_PREFIX = 'Weights only load failed. WeightsUnpickler error: '


def global_name(entry: SafeGlobal) -> Tuple[str, Any]:
    """The pickled name and object of an allowlist entry.

    Args:
        entry: An object (allowed under ``module.qualname``) or an
            ``(object, name)`` pair, as for
            ``torch.serialization.add_safe_globals``.

    Returns:
        tuple[str, Any]: ``(name, object)``.

    Examples:
        >>> global_name(collections.OrderedDict)
        ('collections.OrderedDict', <class 'collections.OrderedDict'>)
        >>> global_name((len, 'builtins.size'))[0]
        'builtins.size'
    """
    if isinstance(entry, tuple):
        obj, name = entry
        return name, obj
    return f'{entry.__module__}.{entry.__qualname__}', entry


def _refuse(reason: str) -> pickle.UnpicklingError:
    return pickle.UnpicklingError(REFUSAL_PREFIX + reason)


class AllowlistUnpickler(pickle._Unpickler):
    """A pure-Python unpickler gated by :attr:`allowed`.

    The pure-Python implementation, because its opcodes can be checked
    one by one (``BUILD`` here); the C unpickler only lets ``find_class``
    be replaced.

    Attributes:
        allowed (dict[str, Any]): Pickled global name -> object.
    """

    allowed: Dict[str, Any] = {}

    def load(self) -> Any:
        """Unpickle; a refusal from an allowlisted loader (e.g. a history
        buffer's checks), like one from here, reads as a refusal."""
        try:
            return super().load()
        except pickle.UnpicklingError as error:
            if str(error).startswith(REFUSAL_PREFIX):
                raise
            raise _refuse(str(error)) from None

    def find_class(self, module: str, name: str) -> Any:
        if self.proto < 3 and self.fix_imports:
            # Python 2 names, as protocols 0-2 write them (__builtin__).
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        full_name = f'{module}.{name}'
        if full_name not in self.allowed:
            raise _refuse(f'Unsupported global: GLOBAL {full_name} was not '
                          'an allowed global by default')
        return self.allowed[full_name]

    def _buildable(self, obj: Any) -> bool:
        if isinstance(obj, (type, types.FunctionType, types.ModuleType,
                            types.BuiltinFunctionType)):
            return False
        allowed_types = {
            value
            for value in self.allowed.values() if isinstance(value, type)
        }
        return isinstance(obj, (torch.Tensor, collections.OrderedDict)) or \
            type(obj) in allowed_types

    def _load_build(self) -> None:
        target = self.stack[-2]  # the state is on top
        if not self._buildable(target):
            raise _refuse(
                'Can only build Tensor, Parameter, OrderedDict or types '
                f'allowlisted, but got {type(target)}')
        pickle._Unpickler.load_build(self)

    dispatch = dict(pickle._Unpickler.dispatch)
    dispatch[pickle.BUILD[0]] = _load_build


def allowlist_pickle_module(entries: Iterable[SafeGlobal]) -> types.ModuleType:
    """A ``pickle_module`` for ``torch.load`` that allows only ``entries``
    and torch's own ``weights_only`` globals.

    Args:
        entries (Iterable): Objects or ``(object, name)`` pairs.

    Returns:
        module: With ``Unpickler`` (an :class:`AllowlistUnpickler`) and
        ``load``, as ``torch.load`` uses them.
    """
    from vsa_mm.compat import torch_weights_only_globals
    allowed = dict(torch_weights_only_globals())
    allowed.update(global_name(entry) for entry in NEWER_TORCH_DEFAULTS)
    allowed.update(global_name(entry) for entry in entries)
    unpickler = type('Unpickler', (AllowlistUnpickler, ), {'allowed': allowed})
    module = types.ModuleType('vsa_mm_allowlist_pickle')
    module.Unpickler = unpickler
    module.load = lambda file, **kwargs: unpickler(file, **kwargs).load()
    return module

"""The ``VSA_MM_*`` environment switches, read one way everywhere.

A switch is off when its variable is ``0``, ``false``, ``no`` or ``off``
(any case, surrounding spaces ignored) and on when it is ``1``, ``true``,
``yes`` or ``on``; an unset or empty variable takes the switch's default.
Any other value is an error, so a typo never silently picks a side.

The switches:

- ``VSA_MM_SAFE_GLOBALS`` (default on): ``import vsa_mm`` puts the types of
  MMEngine checkpoints on torch's ``weights_only`` allowlist
  (:mod:`vsa_mm.checkpoint.safe_load`);
- ``VSA_MM_FLOP_HANDLES`` (default on): ``import vsa_mm`` teaches MMEngine's
  FLOP counter vsa_mm's operators (:mod:`vsa_mm.analysis`);
- ``VSA_MM_ATOMIC_WRITES``, ``VSA_MM_WEIGHTS_ONLY_HTTP``,
  ``VSA_MM_EAGER_OPTIMIZER_STEP`` (default on): the parts of the runtime
  opt-in (:func:`vsa_mm.runtime.install`);
- ``VSA_MM_TRACEBACK`` (default off): the command-line tools raise instead
  of printing one line (:mod:`vsa_mm.cli.tool`).
"""
import os

_OFF_VALUES = ('0', 'false', 'no', 'off')
_ON_VALUES = ('1', 'true', 'yes', 'on')


def switch(name: str, default: bool) -> bool:
    """The state of the environment switch ``name``.

    Args:
        name (str): The variable, e.g. ``'VSA_MM_ATOMIC_WRITES'``.
        default (bool): The state when it is unset or empty.

    Returns:
        bool: Whether the switch is on.

    Raises:
        ValueError: If the variable holds anything but an on or off value.

    Examples:
        >>> import os
        >>> os.environ['VSA_MM_EXAMPLE'] = 'Off'
        >>> switch('VSA_MM_EXAMPLE', default=True)
        False
        >>> os.environ['VSA_MM_EXAMPLE'] = 'false'
        >>> switch('VSA_MM_EXAMPLE', default=False)
        False
        >>> del os.environ['VSA_MM_EXAMPLE']
        >>> switch('VSA_MM_EXAMPLE', default=True)
        True
    """
    value = os.environ.get(name, '').strip().lower()
    if not value:
        return default
    if value in _OFF_VALUES:
        return False
    if value in _ON_VALUES:
        return True
    raise ValueError(f'{name}={os.environ[name]!r}: use one of '
                     f'{_ON_VALUES + _OFF_VALUES}')

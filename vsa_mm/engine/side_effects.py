"""The switches and the log of what importing vsa_mm changes in MMEngine.

Every change is applied by a ``register_*`` function of
:mod:`vsa_mm.engine`, which :mod:`vsa_mm` calls on import. Each one:

- can be turned off before the import with an environment variable
  ``VSA_MM_<NAME>=0`` (also ``false``, ``no`` or ``off``);
- is logged once per process, at INFO, by the ``vsa_mm`` MMLogger, when it
  is applied.

:func:`applied` lists the changes that are in effect.
"""
import os
from typing import Dict

from mmengine.logging import MMLogger

_OFF_VALUES = ('0', 'false', 'no', 'off')
_applied: Dict[str, str] = {}


def enabled(switch: str) -> bool:
    """Whether the environment variable ``switch`` leaves a change on.

    Args:
        switch (str): Name of the variable, e.g. ``'VSA_MM_ATOMIC_WRITES'``.

    Returns:
        bool: False if the variable is ``0``, ``false``, ``no`` or ``off``
        (any case), True if it is unset or has any other value.

    Examples:
        >>> import os
        >>> os.environ['VSA_MM_EXAMPLE'] = 'off'
        >>> enabled('VSA_MM_EXAMPLE')
        False
        >>> del os.environ['VSA_MM_EXAMPLE']
        >>> enabled('VSA_MM_EXAMPLE')
        True
    """
    value = os.environ.get(switch, '').strip().lower()
    return value not in _OFF_VALUES


def announce(key: str, message: str) -> None:
    """Record the change ``key`` and log ``message`` the first time.

    Args:
        key (str): Short name of the change.
        message (str): What changed and how to turn it off.
    """
    if key in _applied:
        return
    _applied[key] = message
    if MMLogger.check_instance_created('vsa_mm'):
        logger = MMLogger.get_instance('vsa_mm')
    else:
        logger = MMLogger.get_instance('vsa_mm', logger_name='vsa_mm')
    logger.info(message)


def applied() -> Dict[str, str]:
    """The changes applied in this process, by short name.

    Returns:
        dict[str, str]: A copy; values are the logged messages.
    """
    return dict(_applied)

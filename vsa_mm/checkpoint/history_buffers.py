"""MMEngine's history buffers in checkpoints, read without running code.

MMEngine 0.10.7 pickles each :class:`~mmengine.logging.HistoryBuffer` of the
message hub (``checkpoint['message_hub']['log_scalars']``) as an empty
object plus its ``__dict__``, to which ``__getstate__`` adds the class-wide
``statistics_methods`` dict. Its values are functions (``HistoryBuffer.min``,
...), which pickle protocol 2 stores as
``builtins.getattr(HistoryBuffer, 'min')``. On load, ``__setstate__`` merges
them into that class-wide dict. Allowlisting ``getattr`` itself for
``torch.load(weights_only=True)`` would let a file fetch any attribute of
any allowlisted object. Instead the allowlist maps:

- the name ``builtins.getattr`` to :func:`history_buffer_statistic`, which
  returns only ``HistoryBuffer``'s own ``min``, ``max``, ``current`` and
  ``mean`` and refuses anything else;
- the name ``mmengine.logging.history_buffer.HistoryBuffer`` to
  :class:`HistoryBufferLoader`, which builds buffers through the
  constructor from checked data, in MMEngine's format (an empty object,
  then its state) or in the constructor form below; unknown state is
  refused.

:func:`portable_message_hub` (used by :class:`vsa_mm.ExactResumeHook`) makes
buffers pickle as ``HistoryBuffer(log_history, count_history, max_length)``,
without ``getattr``: such a file also loads with plain torch, without
vsa_mm.
"""
import pickle
from typing import Any, Callable, Dict, Sequence, Tuple

import numpy as np
from mmengine.logging import HistoryBuffer

#: The name under which buffers are pickled.
HISTORY_BUFFER_NAME = 'mmengine.logging.history_buffer.HistoryBuffer'
#: The name under which MMEngine's format fetches the statistics methods.
GETATTR_NAME = 'builtins.getattr'
#: The statistics methods a history buffer pickles.
STATISTICS_METHODS = ('min', 'max', 'current', 'mean')
_STATE_KEYS = frozenset(
    {'max_length', '_log_history', '_count_history', 'statistics_methods'})


def history_buffer_statistic(owner: Any, name: str) -> Callable:
    """``getattr(owner, name)`` for a history buffer's statistics only.

    Args:
        owner: What the file names as the object: ``HistoryBuffer`` (which
            the allowlist maps to :class:`HistoryBufferLoader`).
        name (str): One of :data:`STATISTICS_METHODS`.

    Returns:
        callable: ``HistoryBuffer.<name>``.

    Raises:
        pickle.UnpicklingError: For any other object or name.

    Examples:
        >>> history_buffer_statistic(HistoryBufferLoader, 'mean').__name__
        'mean'
    """
    if owner in (HistoryBufferLoader, HistoryBuffer) and isinstance(
            name, str) and name in STATISTICS_METHODS:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'refused {GETATTR_NAME}({owner!r}, {name!r}): a checkpoint may '
        f"only fetch HistoryBuffer's statistics methods "
        f'{STATISTICS_METHODS} this way')


def _check_array(name: str, value: Any) -> None:
    if not isinstance(value, (np.ndarray, list, tuple)):
        raise pickle.UnpicklingError(
            f'{HISTORY_BUFFER_NAME}: {name} must be an array, got '
            f'{type(value).__name__}')


def _check_max_length(value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise pickle.UnpicklingError(
            f'{HISTORY_BUFFER_NAME}: max_length must be an int, got '
            f'{type(value).__name__}')


class HistoryBufferLoader:
    """Builds a :class:`HistoryBuffer` from plain data, nothing else.

    ``HistoryBufferLoader(log_history, count_history, max_length)`` returns
    ``HistoryBuffer(log_history, count_history, max_length)`` after checking
    the arguments. Called without arguments (how the unpickler starts an
    object in MMEngine's format) it returns a loader whose
    :meth:`__setstate__` turns it into the buffer the state describes.

    Examples:
        >>> buffer = HistoryBufferLoader([1.0, 3.0], [1, 1], 10)
        >>> type(buffer).__name__, float(buffer.mean())
        ('HistoryBuffer', 2.0)
    """

    def __new__(cls, *args: Any) -> Any:
        if not args:
            return super().__new__(cls)
        if len(args) != 3:
            raise pickle.UnpicklingError(
                f'{HISTORY_BUFFER_NAME} takes (log_history, count_history, '
                f'max_length), got {len(args)} arguments')
        log_history, count_history, max_length = args
        _check_array('log_history', log_history)
        _check_array('count_history', count_history)
        _check_max_length(max_length)
        return HistoryBuffer(log_history, count_history, max_length)

    def __setstate__(self, state: Dict[str, Any]) -> None:
        """Become the buffer of MMEngine's pickled ``state``.

        The statistics methods in ``state`` must be ``HistoryBuffer``'s own
        (they already are its defaults, so nothing class-wide changes).

        Raises:
            pickle.UnpicklingError: For state with other keys or values.
        """
        if not isinstance(state, dict) or not _STATE_KEYS.issuperset(state):
            keys = sorted(state) if isinstance(state, dict) else state
            raise pickle.UnpicklingError(
                f'{HISTORY_BUFFER_NAME}: unexpected state {keys!r}')
        methods = state.get('statistics_methods', {})
        if not isinstance(methods, dict) or any(
                getattr(HistoryBuffer, name, None) is not method
                for name, method in methods.items()):
            raise pickle.UnpicklingError(
                f'{HISTORY_BUFFER_NAME}: statistics methods other than '
                f"HistoryBuffer's own {STATISTICS_METHODS}")
        log_history = state.get('_log_history', [])
        count_history = state.get('_count_history', [])
        max_length = state.get('max_length', 1000000)
        _check_array('log_history', log_history)
        _check_array('count_history', count_history)
        _check_max_length(max_length)
        self.__class__ = HistoryBuffer
        HistoryBuffer.__init__(self, log_history, count_history,
                               int(max_length))


class _PortableHistoryBuffer:
    """Pickles as ``HistoryBuffer(log_history, count_history, max_length)``.

    Stands for a buffer in a checkpoint dict that is about to be saved.
    """

    def __init__(self, buffer: HistoryBuffer) -> None:
        log_history, count_history = buffer.data
        self.args = (np.array(log_history), np.array(count_history),
                     int(buffer.max_length))

    def __reduce__(self) -> Tuple[type, Sequence]:
        return HistoryBuffer, self.args


def portable_message_hub(checkpoint: dict) -> int:
    """Make a checkpoint's history buffers pickle through the constructor.

    Replaces, in place, every :class:`HistoryBuffer` of
    ``checkpoint['message_hub']['log_scalars']`` by an object that pickles
    as ``HistoryBuffer(log_history, count_history, max_length)`` (same
    arrays, same dtypes). Use it on a checkpoint dict right before it is
    saved (``before_save_checkpoint``), not on live objects.

    Args:
        checkpoint (dict): A checkpoint dict built by MMEngine's Runner.

    Returns:
        int: The number of buffers replaced.
    """
    hub = checkpoint.get('message_hub')
    scalars = hub.get('log_scalars') if isinstance(hub, dict) else None
    if not isinstance(scalars, dict):
        return 0
    replaced = 0
    for key, value in scalars.items():
        if isinstance(value, HistoryBuffer):
            scalars[key] = _PortableHistoryBuffer(value)
            replaced += 1
    return replaced

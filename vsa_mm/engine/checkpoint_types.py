"""MMEngine's history buffers, written and read without ``getattr``.

MMEngine 0.10.7 pickles each :class:`~mmengine.logging.HistoryBuffer` of the
message hub (``checkpoint['message_hub']['log_scalars']``) with its
``__getstate__``, which adds the class-wide ``statistics_methods`` dict.
Its values are functions (``HistoryBuffer.min``, ...), and pickle protocol 2
stores those as ``builtins.getattr(HistoryBuffer, 'min')``: loading such a
file with ``weights_only=True`` needs ``getattr`` on the allowlist, and its
``__setstate__`` writes what the file holds into that class-wide dict.

Instead:

- :func:`portable_message_hub` (called by :class:`vsa_mm.ExactResumeHook`
  before a checkpoint is saved) makes each buffer pickle as a call of its
  constructor with its two arrays and its length limit;
- :class:`HistoryBufferLoader` is what the allowlist maps the name
  ``mmengine.logging.history_buffer.HistoryBuffer`` to: it builds buffers
  only through that constructor, and refuses the ``__setstate__`` form.

A file written this way also loads without vsa_mm (``weights_only=False``
calls the real constructor).
"""
import pickle
from typing import Any, Sequence, Tuple

import numpy as np
from mmengine.logging import HistoryBuffer

#: The name under which buffers are pickled.
HISTORY_BUFFER_NAME = 'mmengine.logging.history_buffer.HistoryBuffer'


class HistoryBufferLoader:
    """Builds a :class:`HistoryBuffer` from plain data, nothing else.

    ``HistoryBufferLoader(log_history, count_history, max_length)`` returns
    ``HistoryBuffer(log_history, count_history, max_length)`` after checking
    the arguments. Called without arguments (how the unpickler creates an
    object whose state is set afterwards, MMEngine's own form) it raises
    :class:`pickle.UnpicklingError`.

    Examples:
        >>> buffer = HistoryBufferLoader([1.0, 3.0], [1, 1], 10)
        >>> type(buffer).__name__, float(buffer.mean())
        ('HistoryBuffer', 2.0)
    """

    def __new__(cls, *args: Any) -> HistoryBuffer:  # type: ignore[misc]
        if not args:
            raise pickle.UnpicklingError(
                f'{HISTORY_BUFFER_NAME} pickled with its statistics methods '
                '(MMEngine\'s format, which needs builtins.getattr) is '
                'refused; checkpoints saved with vsa_mm.ExactResumeHook '
                'store history buffers as plain arrays')
        if len(args) != 3:
            raise pickle.UnpicklingError(
                f'{HISTORY_BUFFER_NAME} takes (log_history, count_history, '
                f'max_length), got {len(args)} arguments')
        log_history, count_history, max_length = args
        for name, value in (('log_history', log_history), ('count_history',
                                                           count_history)):
            if not isinstance(value, (np.ndarray, list, tuple)):
                raise pickle.UnpicklingError(
                    f'{HISTORY_BUFFER_NAME}: {name} must be an array, got '
                    f'{type(value).__name__}')
        if isinstance(max_length, bool) or not isinstance(max_length, int):
            raise pickle.UnpicklingError(
                f'{HISTORY_BUFFER_NAME}: max_length must be an int, got '
                f'{type(max_length).__name__}')
        return HistoryBuffer(log_history, count_history, max_length)


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

"""Loading checkpoints with a ``weights_only`` unpickler, on every torch.

A ``weights_only`` unpickler builds tensors, plain containers, numbers and
strings, and only those other types that are on an allowlist; anything
else is refused, so loading a checkpoint cannot run code hidden in it.
vsa_mm loads every checkpoint through :func:`weights_only_load`:

- where ``torch.serialization.add_safe_globals`` maps names to objects
  (:data:`vsa_mm.compat.NAMED_SAFE_GLOBALS`), with
  ``torch.load(weights_only=True)`` and that
  allowlist;
- on older torches, with ``torch.load`` and the allowlist unpickler of
  :mod:`vsa_mm.checkpoint.allowlist_unpickler` (their own ``weights_only``
  unpickler cannot be taught MMEngine's types).

MMEngine 0.10.7 calls ``torch.load`` without ``weights_only``. Its
checkpoints hold a few types beyond tensors: the message hub's
:class:`~mmengine.logging.HistoryBuffer` objects, the NumPy arrays and
scalars inside them, and, in MMEngine's own format, the buffers' statistics
methods pickled as ``builtins.getattr(HistoryBuffer, 'min')``.
:func:`register_mmengine_safe_globals` (called by ``import vsa_mm``)
allowlists exactly these (:func:`mmengine_safe_globals`), with
``builtins.getattr`` mapped to
:func:`~vsa_mm.checkpoint.history_buffers.history_buffer_statistic`, which
returns a history buffer's own statistics methods and refuses everything
else. Where MMEngine's own loader of local files would unpickle code
(:func:`mmengine_loads_local_files_weights_only`), it also registers
:func:`load_from_local_weights_only` as that loader, so that ``load_from``,
``resume`` and ``init_cfg=dict(type='Pretrained')`` refuse code there too;
elsewhere MMEngine's own loader is left as it is. Either way they load the
checkpoints of any MMEngine run. Off switch: ``VSA_MM_SAFE_GLOBALS=0``.

MMEngine (0.10.7, and the onedl-mmengine fork 0.10.12) downloads
``http(s)://``, ``openmmlab://``, ``torchvision://`` and ``mmcls://``
checkpoints with ``torch.hub.load_state_dict_from_url``, whose default is
``weights_only=False``; :func:`load_http_checkpoint` downloads the same
way and loads with :func:`weights_only_load`, which the runtime opt-in
(:func:`vsa_mm.runtime.install`) makes MMEngine's.

:func:`load_checkpoint_file`, for vsa_mm's tools and converters, loads with
that allowlist plus entries the caller injects for one load (official
checkpoints need two more: see :mod:`vsa_mm.models.utils.official_init`).
"""
import contextlib
import os
import os.path as osp
import pickle
import re
import zipfile
from typing import IO, Any, Callable, Iterator, List, Optional, Sequence, Union
from urllib.parse import urlparse

import numpy as np
import torch
from mmengine.dist import barrier, get_dist_info
from mmengine.logging import MMLogger
from mmengine.runner import checkpoint as mmengine_checkpoint
from mmengine.runner.checkpoint import CheckpointLoader

from ..compat import NAMED_SAFE_GLOBALS, WEIGHTS_ONLY_BY_DEFAULT
from ..env_switches import switch
from .allowlist_unpickler import allowlist_pickle_module
from .history_buffers import (GETATTR_NAME, HISTORY_BUFFER_NAME,
                              HistoryBufferLoader, history_buffer_statistic)

MapLocation = Union[str, torch.device, Callable, dict, None]
SafeGlobal = Union[Callable, tuple]

#: Environment variable that keeps the MMEngine types off the allowlist.
SAFE_GLOBALS_SWITCH = 'VSA_MM_SAFE_GLOBALS'
#: What the onedl-mmengine fork (0.10.12) loads every checkpoint with: a
#: ``torch.load`` that retries a refused file with ``weights_only=False``.
UNSAFE_FALLBACK_LOADER = '_safe_torch_load'
#: Command-line flag of the tools that may load a file without the check.
UNSAFE_FLAG = '--unsafe-load'

_NUMERIC_DTYPES = (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8,
                   np.uint16, np.uint32, np.uint64, np.float16, np.float32,
                   np.float64, np.complex64, np.complex128)


def _numpy_multiarray():
    """NumPy's ``multiarray`` module (``numpy._core`` from NumPy 2)."""
    try:
        from numpy._core import multiarray
    except ImportError:  # NumPy 1.x
        from numpy.core import multiarray
    return multiarray


def mmengine_safe_globals() -> List[SafeGlobal]:
    """The types that MMEngine checkpoints hold besides tensors.

    - ``mmengine.logging.history_buffer.HistoryBuffer``, mapped to
      :class:`~vsa_mm.checkpoint.history_buffers.HistoryBufferLoader`: the
      message hub's logged scalars, in MMEngine's format (an empty object
      whose state follows) or built through the constructor from two arrays
      and an int (the format :class:`vsa_mm.ExactResumeHook` writes);
    - ``builtins.getattr``, mapped to
      :func:`~vsa_mm.checkpoint.history_buffers.history_buffer_statistic`:
      only ``HistoryBuffer``'s own ``min``, ``max``, ``current`` and
      ``mean``, as MMEngine's format pickles its statistics methods;
    - ``numpy.ndarray``, ``numpy.dtype`` and NumPy's ``_reconstruct``: the
      arrays inside the history buffers. ``_reconstruct`` only makes an
      empty array of an allowlisted array class.
    - NumPy's ``scalar``: NumPy numbers, e.g. the runner's ``eta`` in the
      message hub, metric values in ``meta``.
    - the dtype classes of the numeric and boolean dtypes (NumPy >= 1.25
      restores a dtype's state through its class). Object, string and
      structured dtypes are not on the list.

    ``_reconstruct`` and ``scalar`` are accepted under both their NumPy 2
    names (``numpy._core.multiarray.*``) and their NumPy 1 names
    (``numpy.core.multiarray.*``), with either NumPy installed, so that
    checkpoints load across the two.

    Returns:
        list: Entries for ``torch.serialization.add_safe_globals``.
    """
    multiarray = _numpy_multiarray()
    entries: List[SafeGlobal] = [(HistoryBufferLoader, HISTORY_BUFFER_NAME),
                                 (history_buffer_statistic, GETATTR_NAME),
                                 np.ndarray, np.dtype]
    entries += [(function, f'{module}.{function.__name__}')
                for function in (multiarray._reconstruct, multiarray.scalar)
                for module in ('numpy._core.multiarray',
                               'numpy.core.multiarray')]
    entries += [type(np.dtype(scalar)) for scalar in _NUMERIC_DTYPES]
    return list(dict.fromkeys(entries))


#: The allowlist of :func:`weights_only_load` on torches without named
#: safe globals (torch's own stands in for it on the others).
_ALLOWLIST: List[SafeGlobal] = []


def register_mmengine_safe_globals() -> bool:
    """Allowlist :func:`mmengine_safe_globals` for checkpoint loading.

    On torch's allowlist where it maps names
    (:data:`vsa_mm.compat.NAMED_SAFE_GLOBALS`), else on
    :func:`weights_only_load`'s. Where MMEngine's loader of local files
    (the empty prefix of
    :class:`~mmengine.runner.checkpoint.CheckpointLoader`) would unpickle
    code (:func:`mmengine_loads_local_files_weights_only`), it becomes
    :func:`load_from_local_weights_only`. Idempotent and silent. Does
    nothing when ``VSA_MM_SAFE_GLOBALS=0``.

    Returns:
        bool: Whether the types are on the allowlist.
    """
    if not switch(SAFE_GLOBALS_SWITCH, default=True):
        return False
    _add_safe_globals(mmengine_safe_globals())
    if not mmengine_loads_local_files_weights_only():
        CheckpointLoader.register_scheme(
            prefixes='', loader=load_from_local_weights_only, force=True)
    return True


def get_safe_globals() -> List[SafeGlobal]:
    """The allowlist of :func:`weights_only_load` beyond torch's own types.

    Returns:
        list: Objects and ``(object, name)`` pairs.
    """
    if NAMED_SAFE_GLOBALS.available:
        return list(torch.serialization.get_safe_globals())
    return list(_ALLOWLIST)


def _add_safe_globals(entries: Sequence[SafeGlobal]) -> None:
    present = get_safe_globals()
    added = [entry for entry in entries if entry not in present]
    if NAMED_SAFE_GLOBALS.available:
        torch.serialization.add_safe_globals(added)
    else:
        _ALLOWLIST.extend(added)


def set_safe_globals(entries: Sequence[SafeGlobal]) -> None:
    """Make ``entries`` the allowlist of :func:`weights_only_load` (torch's
    own types stay allowed).

    Args:
        entries (Sequence): Objects and ``(object, name)`` pairs.
    """
    if NAMED_SAFE_GLOBALS.available:
        torch.serialization.clear_safe_globals()
        torch.serialization.add_safe_globals(list(entries))
    else:
        _ALLOWLIST[:] = entries


@contextlib.contextmanager
def extra_safe_globals(entries: Sequence[SafeGlobal]) -> Iterator[None]:
    """Allowlist ``entries`` for :func:`weights_only_load` (and, on torch
    2.6 and later, any ``torch.load(weights_only=True)``) in the ``with``
    block.

    Entries that were already allowlisted stay allowlisted afterwards
    (unlike ``torch.serialization.safe_globals``, which removes them).

    Args:
        entries (Sequence): As for ``torch.serialization.add_safe_globals``.
    """
    before = get_safe_globals()
    _add_safe_globals(entries)
    try:
        yield
    finally:
        set_safe_globals(before)


def weights_only_load(
    file: Union[str, os.PathLike, IO[bytes]],
    map_location: MapLocation = None,
    extra_globals: Sequence[SafeGlobal] = ()
) -> Any:
    """``torch.load`` that builds only allowlisted types, on every torch.

    The allowlist: torch's own, what :func:`register_mmengine_safe_globals`
    added, and ``extra_globals`` for this load only.

    Args:
        file (str | os.PathLike | file): What ``torch.load`` takes.
        map_location: As for :func:`torch.load`.
        extra_globals (Sequence): Objects or ``(object, name)`` pairs.

    Returns:
        The loaded object.

    Raises:
        pickle.UnpicklingError: If the file holds anything else; the
            message starts with ``'Weights only load failed'``.
    """
    with extra_safe_globals(extra_globals):
        if NAMED_SAFE_GLOBALS.available:
            return torch.load(
                file, map_location=map_location, weights_only=True)
        # weights_only=False only because torch refuses a pickle_module
        # with weights_only=True: the allowlist unpickler is the check.
        return torch.load(
            file,
            map_location=map_location,
            pickle_module=allowlist_pickle_module(_ALLOWLIST),
            weights_only=False)


def load_from_local_weights_only(filename: str,
                                 map_location: MapLocation) -> Any:
    """MMEngine's loader of local checkpoints, with :func:`weights_only_load`.

    Args:
        filename (str): A local path (``~`` expanded).
        map_location: As for :func:`torch.load`.

    Returns:
        The loaded checkpoint.

    Raises:
        FileNotFoundError: If there is no such file.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return weights_only_load(filename, map_location)


def mmengine_loads_local_files_weights_only() -> bool:
    """Whether MMEngine's own loader of local files refuses pickled code.

    MMEngine 0.10.7 passes ``torch.load`` no ``weights_only``, so it relies
    on torch's default (:data:`vsa_mm.compat.WEIGHTS_ONLY_BY_DEFAULT`). The
    onedl-mmengine fork loads through :data:`UNSAFE_FALLBACK_LOADER`, which
    retries a refused checkpoint with ``weights_only=False`` (after a
    warning), so a checkpoint's code runs on every torch.

    Returns:
        bool: True where torch defaults to ``weights_only`` and MMEngine
        has no such fallback.
    """
    falls_back = hasattr(mmengine_checkpoint, UNSAFE_FALLBACK_LOADER)
    return WEIGHTS_ONLY_BY_DEFAULT.available and not falls_back


def load_http_checkpoint(filename: str,
                         map_location: MapLocation = None,
                         model_dir: Optional[str] = None,
                         progress: Optional[bool] = None) -> Any:
    """MMEngine's http(s) loader with :func:`weights_only_load`.

    Local rank 0 downloads first; the other ranks then read the cached file.

    Args:
        filename (str): URL.
        map_location: As for :func:`torch.load`.
        model_dir (str, optional): Download directory; torch hub's
            checkpoint directory when None.
        progress (bool, optional): Show a download progress bar; by
            default when stdin is a terminal, as MMEngine's loader does.

    Returns:
        The loaded checkpoint.
    """
    if progress is None:
        progress = os.isatty(0)
    rank, world_size = get_dist_info()
    if rank == 0:
        path = _download(filename, model_dir, progress)
    if world_size > 1:
        barrier()
        if rank > 0:
            path = _download(filename, model_dir, progress)
    return weights_only_load(path, map_location)


def _download(url: str, model_dir: Optional[str], progress: bool) -> str:
    """Where torch hub keeps ``url``'s file, downloaded there if missing
    (as ``torch.hub.load_state_dict_from_url`` does)."""
    model_dir = model_dir or osp.join(torch.hub.get_dir(), 'checkpoints')
    os.makedirs(model_dir, exist_ok=True)
    path = osp.join(model_dir, osp.basename(urlparse(url).path))
    if not osp.exists(path):
        torch.hub.download_url_to_file(url, path, progress=progress)
    return path


class UnsafeCheckpointError(ValueError):
    """A checkpoint that the ``weights_only`` unpickler refused."""


_ANSI = re.compile(r'\x1b\[[0-9;]*m')


def strip_ansi(text: str) -> str:
    """``text`` without terminal colour codes (torch colours its errors)."""
    return _ANSI.sub('', text)


_REASON_PATTERNS = (
    re.compile(r'WeightsUnpickler error:\s*(\S.*)'),
    re.compile(r'(Trying to load unsupported GLOBAL .+)'),
    re.compile(r'(Unsupported global: GLOBAL \S+)'),
    re.compile(r'(Trying to call reduce for unrecognized function .+)'),
    re.compile(r'(Can only \S+ .+)'),
)


def refusal_reason(error: BaseException) -> str:
    """The line of a ``weights_only`` error that says what was refused.

    Args:
        error (BaseException): Raised by ``torch.load``.

    Returns:
        str: E.g. ``'Unsupported global: GLOBAL exec was not an allowed
        global by default'``; the first line of the message if no known
        line is found.
    """
    text = strip_ansi(str(error))
    for pattern in _REASON_PATTERNS:
        match = pattern.search(text)
        if match:
            reason = match.group(1).strip()
            return reason.split('. Please use')[0].rstrip('.')
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0].rstrip('.') if lines else type(error).__name__


def refused_globals(filename: str) -> List[str]:
    """GLOBALs of a ``torch.save`` file that are not allowlisted.

    Args:
        filename (str): A local ``torch.save`` (zip) file.

    Returns:
        list[str]: Sorted names such as ``'builtins.exec'``; empty when the
        file cannot be read that way or every GLOBAL is allowed (a refusal
        can also come from how an allowed type is used).
    """
    try:
        return sorted(
            torch.serialization.get_unsafe_globals_in_checkpoint(filename))
    except Exception:  # not a zip checkpoint: nothing to list
        return []


def describe_refusal(error: BaseException,
                     filename: Union[str, Sequence[str], None] = None,
                     hint: str = '',
                     certain: bool = False) -> str:
    """A one-line explanation of a ``weights_only`` refusal.

    Args:
        error (BaseException): The ``pickle.UnpicklingError``.
        filename (str | Sequence[str], optional): The file that was probably
            refused, or candidates: the first local file with unallowed
            GLOBALs is named, with them.
        hint (str): Appended, e.g. how to opt in for a trusted file.
        certain (bool): ``filename`` (a str) is known to be the refused
            file; it is named even without unallowed GLOBALs.

    Returns:
        str: What was refused and why.
    """
    candidates = [filename] if isinstance(filename, str) else list(filename
                                                                   or [])
    named, names = None, []
    for candidate in candidates:
        if isinstance(candidate, str) and osp.isfile(candidate):
            names = refused_globals(candidate)
            if names:
                named = candidate
                break
    if named is None and certain and isinstance(filename, str):
        named = filename
    what = f'refused to load {named}' if named else \
        'refused to load a checkpoint'
    if names:
        detail = (f'it pickles {", ".join(names)}, which '
                  f'{"is" if len(names) == 1 else "are"} not on the '
                  "allowlist of torch.load(weights_only=True)")
    else:
        detail = ('torch.load(weights_only=True) refused it: '
                  f'{refusal_reason(error)}')
    text = (f'{what}: {detail}; loading such a file could run code hidden '
            'in it')
    return f'{text}. {hint}' if hint else f'{text}.'


def check_checkpoint_file(filename: str) -> None:
    """Fail clearly unless ``filename`` looks like a whole ``torch.save``.

    Args:
        filename (str): Local path.

    Raises:
        FileNotFoundError: If it does not exist.
        ValueError: If it is a directory, empty, truncated (a zip archive
            without its central directory), or not a ``torch.save`` file.
    """
    if not osp.exists(filename):
        raise FileNotFoundError(f'checkpoint {filename!r} does not exist')
    if not osp.isfile(filename):
        raise ValueError(f'checkpoint {filename!r} is not a file')
    with open(filename, 'rb') as file:
        head = file.read(4)
    if zipfile.is_zipfile(filename):
        with zipfile.ZipFile(filename) as archive:
            names = archive.namelist()
        if not any(name == 'data.pkl' or name.endswith('/data.pkl')
                   for name in names):
            raise ValueError(f'{filename!r} is a zip archive without '
                             'data.pkl, not a torch.save checkpoint')
        return
    if not head:
        raise ValueError(f'checkpoint {filename!r} is empty')
    if head.startswith(b'PK\x03\x04'):
        raise ValueError(
            f'checkpoint {filename!r} is truncated: its zip archive has no '
            'central directory (an interrupted write or download)')
    if head[:1] != b'\x80':  # neither zip nor a (legacy format) pickle
        raise ValueError(f'{filename!r} is not a checkpoint written by '
                         f'torch.save (it starts with {head!r})')


def _is_url(filename: str) -> bool:
    return '://' in filename


def load_checkpoint_file(filename: str,
                         map_location: MapLocation = 'cpu',
                         extra_globals: Sequence[SafeGlobal] = (),
                         unsafe: bool = False,
                         hint: str = '') -> Any:
    """Load a checkpoint (path or URL) for vsa_mm's tools and converters.

    Local files with :func:`weights_only_load`, URLs through MMEngine's
    :class:`CheckpointLoader` (whose http(s) loader the runtime opt-in
    makes :func:`load_http_checkpoint`), with the allowlist plus
    ``extra_globals`` (for this load only).

    Args:
        filename (str): Local path or any MMEngine checkpoint URL.
        map_location: As for :func:`torch.load`. Defaults to ``'cpu'``.
        extra_globals (Sequence): Types to accept during this load, e.g.
            :data:`~vsa_mm.models.utils.official_init.OFFICIAL_CHECKPOINT_GLOBALS`.
        unsafe (bool): Unpickle everything (``weights_only=False``): only
            for files you trust. Logged as a warning.
        hint (str): Added to a refusal's message.

    Returns:
        The loaded checkpoint.

    Raises:
        FileNotFoundError: If a local file does not exist.
        ValueError: If a local file is not a whole checkpoint, or cannot be
            read as one.
        UnsafeCheckpointError: If the unpickler refuses the file; the
            message names the refused types.
    """
    if not isinstance(filename, str):
        raise TypeError(
            f'checkpoint must be a str, got {type(filename).__name__}')
    local = not _is_url(filename)
    if local:
        filename = osp.expanduser(filename)
        check_checkpoint_file(filename)
    if unsafe:
        MMLogger.get_instance('vsa_mm').warning(
            f'loading {filename} with weights_only=False ({UNSAFE_FLAG}): '
            'any code pickled in it runs')
        if local:
            return torch.load(
                filename, map_location=map_location, weights_only=False)
        return torch.hub.load_state_dict_from_url(
            filename, map_location=map_location, weights_only=False)
    with extra_safe_globals(extra_globals):
        try:
            if local:
                return weights_only_load(filename, map_location)
            return CheckpointLoader.load_checkpoint(
                filename, map_location=map_location, logger='current')
        except pickle.UnpicklingError as error:
            if 'Weights only load failed' not in str(error):
                raise ValueError(f'{filename!r} could not be read as a '
                                 f'checkpoint: {error}') from None
            raise UnsafeCheckpointError(
                describe_refusal(error, filename, hint,
                                 certain=True)) from None
        except (RuntimeError, EOFError) as error:
            raise ValueError(f'{filename!r} could not be read as a '
                             f'checkpoint: {error}') from None

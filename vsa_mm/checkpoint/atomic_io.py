"""Atomic file writes: vsa_mm's one writer, and MMEngine's local backend.

MMEngine writes a checkpoint by opening its final path and writing into it,
so a run killed in the middle leaves a truncated ``epoch_N.pth`` that looks
like a checkpoint. :func:`atomic_writer` writes into a temporary file beside
the target, syncs it to disk, renames it into place and syncs the directory,
so a path either holds its previous content or the complete new one.

Everything vsa_mm writes goes through it: the converted checkpoints of
``tools/model_converters``, :class:`vsa_mm.ExactResumeHook`'s files, and,
with the runtime opt-in (:func:`vsa_mm.runtime.install`), MMEngine's
checkpoints, ``last_checkpoint`` pointers and dumped files through
:class:`AtomicLocalBackend` as MMEngine's ``local`` backend.
"""
import contextlib
import os
import os.path as osp
import tempfile
from pathlib import Path
from typing import BinaryIO, Iterator, Union

from mmengine.fileio import LocalBackend

PathLike = Union[str, Path]


def _fsync_directory(directory: str) -> None:
    """Make a rename inside ``directory`` durable (where supported)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. platforms without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_writer(path: PathLike,
                  make_dirs: bool = True) -> Iterator[BinaryIO]:
    """A binary file whose content replaces ``path`` only when complete.

    The file is a temporary file beside ``path``. When the ``with`` block
    ends normally it is flushed, synced, given the permissions a new file
    would get, and renamed over ``path``; if the block raises, it is removed
    and ``path`` keeps its previous content (or stays absent).

    Args:
        path (str | Path): Destination.
        make_dirs (bool): Create missing parent directories. When False, a
            missing parent directory raises :class:`FileNotFoundError`
            naming it. Defaults to True.

    Yields:
        BinaryIO: The temporary file, opened for writing.

    Raises:
        FileNotFoundError: If the parent directory is missing and
            ``make_dirs`` is False.
        NotADirectoryError: If the parent path is not a directory.

    Examples:
        >>> import tempfile, os.path as osp
        >>> target = osp.join(tempfile.mkdtemp(), 'out.bin')
        >>> with atomic_writer(target) as f:
        ...     _ = f.write(b'complete')
        >>> open(target, 'rb').read()
        b'complete'
    """
    path = osp.abspath(os.fspath(path))
    directory = osp.dirname(path)
    if make_dirs:
        os.makedirs(directory, exist_ok=True)
    elif not osp.exists(directory):
        raise FileNotFoundError(
            f'directory {directory!r} of {path!r} does not exist')
    if not osp.isdir(directory):
        raise NotADirectoryError(
            f'{directory!r} (parent of {path!r}) is not a directory')
    fd, tmp = tempfile.mkstemp(
        prefix=f'.{osp.basename(path)}.', suffix='.partial', dir=directory)
    try:
        with os.fdopen(fd, 'wb') as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
    _fsync_directory(directory)


def atomic_write_bytes(path: PathLike,
                       data: bytes,
                       make_dirs: bool = True) -> None:
    """Write ``data`` to ``path`` so that readers never see a partial file.

    Args:
        path (str | Path): Destination.
        data (bytes): The complete new content.
        make_dirs (bool): Create missing parent directories (see
            :func:`atomic_writer`). Defaults to True.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f'data must be bytes, got {type(data).__name__}')
    with atomic_writer(path, make_dirs=make_dirs) as file:
        file.write(data)


class AtomicLocalBackend(LocalBackend):
    """:class:`mmengine.fileio.LocalBackend` with atomic ``put``/``put_text``.

    Examples:
        >>> import tempfile, os.path as osp
        >>> backend = AtomicLocalBackend()
        >>> path = osp.join(tempfile.mkdtemp(), 'a', 'b.txt')
        >>> backend.put_text('done', path)
        >>> backend.get_text(path)
        'done'
    """

    def put(self, obj: bytes, filepath: PathLike) -> None:
        """Atomically write bytes to ``filepath``."""
        atomic_write_bytes(filepath, obj)

    def put_text(self,
                 obj: str,
                 filepath: PathLike,
                 encoding: str = 'utf-8') -> None:
        """Atomically write text to ``filepath``."""
        atomic_write_bytes(filepath, obj.encode(encoding))

"""Atomic writes for MMEngine's local file backend.

MMEngine writes a checkpoint by opening its final path and writing into it,
so a run killed in the middle leaves a truncated ``epoch_N.pth`` that looks
like a checkpoint. :class:`AtomicLocalBackend` writes into a temporary file
beside the target, syncs it to disk and renames it into place, so a path
either holds the previous content or the complete new one.

Importing :mod:`vsa_mm` registers it as MMEngine's ``local`` backend, which
every checkpoint, ``last_checkpoint`` pointer and dumped file goes through.
"""
import os
import os.path as osp
import tempfile
from pathlib import Path
from typing import Union

from mmengine.fileio import LocalBackend, register_backend


def atomic_write_bytes(path: Union[str, Path], data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers never see a partial file.

    Args:
        path (str | Path): Destination; missing parent directories are made.
        data (bytes): The complete new content.
    """
    path = osp.abspath(os.fspath(path))
    directory = osp.dirname(path)
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f'.{osp.basename(path)}.', suffix='.partial', dir=directory)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


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

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        """Atomically write bytes to ``filepath``."""
        atomic_write_bytes(filepath, obj)

    def put_text(self,
                 obj: str,
                 filepath: Union[str, Path],
                 encoding: str = 'utf-8') -> None:
        """Atomically write text to ``filepath``."""
        atomic_write_bytes(filepath, obj.encode(encoding))


def register_atomic_local_backend() -> None:
    """Make :class:`AtomicLocalBackend` MMEngine's ``local`` backend."""
    register_backend('local', AtomicLocalBackend, force=True, prefixes='')

"""Shared fixtures: the embedded demo data (generated once per session), a
full disk.

Without a GPU, Triton's interpreter runs the fused backend's kernels on the
CPU; Triton must see ``TRITON_INTERPRET=1`` before it is first imported.

The suite runs in pytest-xdist workers (``-n`` in ``setup.cfg``); each
worker, and every process it starts, gets its share of the CPU cores so
that the workers do not oversubscribe them.
"""
import os
import os.path as osp

import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault('TRITON_INTERPRET', '1')

from vsa_mm.demo_data import make_demo_data


def _share_cores_between_workers() -> None:
    workers = int(os.environ.get('PYTEST_XDIST_WORKER_COUNT', '1'))
    if workers > 1:
        threads = max(1, (os.cpu_count() or 1) // workers)
        os.environ.setdefault('OMP_NUM_THREADS', str(threads))
        torch.set_num_threads(int(os.environ['OMP_NUM_THREADS']))


_share_cores_between_workers()


@pytest.fixture(scope='session')
def demo_workspace(tmp_path_factory) -> str:
    """A directory holding ``data/demo`` (the demo configs' data root)."""
    root = tmp_path_factory.mktemp('workspace')
    make_demo_data(osp.join(str(root), 'data', 'demo'))
    return str(root)


@pytest.fixture(scope='session')
def runtime() -> tuple:
    """vsa_mm's runtime opt-in, as tools/train.py applies it. It cannot be
    undone: tests that need MMEngine untouched run in subprocesses."""
    from vsa_mm.runtime import install
    return install()


@pytest.fixture
def disk_full(monkeypatch) -> pytest.MonkeyPatch:
    """Every ``os.fsync`` fails as on a full disk, until ``.undo()``."""

    def crash(fd):
        raise OSError('disk full')

    monkeypatch.setattr(os, 'fsync', crash)
    return monkeypatch

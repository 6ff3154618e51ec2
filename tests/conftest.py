"""Shared fixtures: the embedded demo data, generated once per session.

Without a GPU, Triton's interpreter runs the fused backend's kernels on the
CPU; Triton must see ``TRITON_INTERPRET=1`` before it is first imported.
"""
import os
import os.path as osp

import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault('TRITON_INTERPRET', '1')

from vsa_mm.datasets import make_demo_data


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

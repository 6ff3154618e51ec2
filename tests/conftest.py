"""Shared fixtures: the embedded demo data, generated once per session."""
import os.path as osp

import pytest

from vsa_mm.datasets import make_demo_data


@pytest.fixture(scope='session')
def demo_workspace(tmp_path_factory) -> str:
    """A directory holding ``data/demo`` (the demo configs' data root)."""
    root = tmp_path_factory.mktemp('workspace')
    make_demo_data(osp.join(str(root), 'data', 'demo'))
    return str(root)

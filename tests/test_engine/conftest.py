"""Fixtures of the engine tests."""
import os

import pytest


@pytest.fixture
def disk_full(monkeypatch) -> pytest.MonkeyPatch:
    """Every ``os.fsync`` fails as on a full disk, until ``.undo()``."""

    def crash(fd):
        raise OSError('disk full')

    monkeypatch.setattr(os, 'fsync', crash)
    return monkeypatch

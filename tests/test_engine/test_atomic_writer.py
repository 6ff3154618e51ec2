"""One atomic writer, used by MMEngine's backend and by the converters."""
import os

import pytest
import torch

from vsa_mm.checkpoint.atomic_io import atomic_write_bytes, atomic_writer
from vsa_mm.cli import convert_files


def test_a_failed_write_keeps_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / 'out.pth'
    path.write_bytes(b'old')
    with pytest.raises(RuntimeError, match='boom'):
        with atomic_writer(path) as file:
            file.write(b'half of the new')
            raise RuntimeError('boom')
    assert path.read_bytes() == b'old'
    assert sorted(os.listdir(tmp_path)) == ['out.pth']


def test_file_and_directory_are_synced(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, 'fsync',
                        lambda fd: synced.append(fd) or real_fsync(fd))
    atomic_write_bytes(tmp_path / 'a.bin', b'data')
    assert len(synced) == 2  # the temporary file, then the directory
    assert (tmp_path / 'a.bin').read_bytes() == b'data'


def test_missing_directory_is_an_error_when_not_made(tmp_path):
    target = tmp_path / 'missing' / 'out.pth'
    with pytest.raises(FileNotFoundError, match='missing'):
        atomic_write_bytes(target, b'x', make_dirs=False)
    assert not (tmp_path / 'missing').exists()
    atomic_write_bytes(target, b'x')  # the default makes it
    assert target.read_bytes() == b'x'


def test_rejects_text(tmp_path):
    with pytest.raises(TypeError, match='str'):
        atomic_write_bytes(tmp_path / 'a', 'text')


def test_converters_write_through_the_same_writer(tmp_path, disk_full):
    """A crash while a converter writes keeps the previous file."""
    dst = tmp_path / 'converted.pth'
    dst.write_bytes(b'previous')
    weights = {'norm.weight': torch.ones(2)}
    with pytest.raises(OSError, match='disk full'):
        convert_files._save_classifier(str(dst), weights, {}, 'src.pth')
    assert dst.read_bytes() == b'previous'
    assert sorted(os.listdir(tmp_path)) == ['converted.pth']
    disk_full.undo()
    convert_files._save_classifier(str(dst), weights, {}, 'src.pth')
    saved = torch.load(dst, weights_only=True)
    assert saved['meta']['converted_from'] == 'src.pth'
    assert 'backbone.norm.weight' in saved['state_dict']

"""Converters: each bad input fails with one line naming the bad value,
and nothing already on disk is lost or half-written."""
import argparse
import os.path as osp
from collections import deque

import pytest
import torch
from helpers.tools import CONVERTERS, assert_one_line_error, converter

PREVIOUS = b'previous conversion, must survive'


@pytest.fixture
def existing(tmp_path):
    """A destination that already holds a file."""
    dst = tmp_path / 'converted.pth'
    dst.write_bytes(PREVIOUS)
    return dst


@pytest.fixture
def mmengine_checkpoint(tmp_path):
    """A valid checkpoint, but of another model (a plain classifier)."""
    path = tmp_path / 'other_model.pth'
    torch.save(
        {
            'state_dict': {
                'head.fc.weight': torch.zeros(4, 8),
                'head.fc.bias': torch.zeros(4)
            },
            'meta': {
                'epoch': 3
            }
        }, path)
    return str(path)


@pytest.mark.parametrize('name', CONVERTERS)
def test_missing_source(tmp_path, name):
    src = str(tmp_path / 'nowhere.pth')
    assert_one_line_error(
        converter(name, src, str(tmp_path / 'out.pth')), 'nowhere.pth',
        'does not exist')
    assert not (tmp_path / 'out.pth').exists()


def test_source_that_is_not_a_checkpoint(tmp_path, existing):
    src = tmp_path / 'notes.pth'
    src.write_text('these are notes, not weights')
    assert_one_line_error(
        converter('swin-vsa', str(src), str(existing), '--force'), str(src),
        'not a checkpoint written by torch.save')
    assert existing.read_bytes() == PREVIOUS


def test_truncated_source(tmp_path, existing, mmengine_checkpoint):
    src = tmp_path / 'cut.pth'
    with open(mmengine_checkpoint, 'rb') as f:
        src.write_bytes(f.read()[:300])
    assert_one_line_error(
        converter('swin', str(src), str(existing), '--force'), str(src),
        'truncated')
    assert existing.read_bytes() == PREVIOUS


@pytest.mark.parametrize('name,expected', [
    ('swin', 'not a Swin checkpoint'),
    ('swin-vsa', 'not a Swin checkpoint'),
    ('vitaev2-vsa', 'ViTAE-VSA layout'),
])
def test_checkpoint_of_another_model(name, expected, existing,
                                     mmengine_checkpoint):
    assert_one_line_error(
        converter(name, mmengine_checkpoint, str(existing), '--force'),
        mmengine_checkpoint, expected)
    assert existing.read_bytes() == PREVIOUS


def test_destination_in_a_missing_directory(tmp_path, mmengine_checkpoint):
    dst = tmp_path / 'no' / 'such' / 'dir' / 'out.pth'
    assert_one_line_error(
        converter('swin', mmengine_checkpoint, str(dst)), str(dst),
        'does not exist')
    assert not (tmp_path / 'no').exists()


def test_source_equal_to_destination(mmengine_checkpoint):
    with open(mmengine_checkpoint, 'rb') as f:
        before = f.read()
    assert_one_line_error(
        converter('vitaev2-vsa', mmengine_checkpoint, mmengine_checkpoint,
                  '--force'), mmengine_checkpoint, 'is the source')
    with open(mmengine_checkpoint, 'rb') as f:
        assert f.read() == before


def test_existing_destination_needs_force(existing, mmengine_checkpoint):
    assert_one_line_error(
        converter('swin-vsa', mmengine_checkpoint, str(existing)),
        str(existing), 'exists', '--force')
    assert existing.read_bytes() == PREVIOUS


def test_destination_that_is_a_directory(tmp_path, mmengine_checkpoint):
    assert_one_line_error(
        converter('swin', mmengine_checkpoint, str(tmp_path)), str(tmp_path),
        'is a directory')


def test_official_trainer_types_are_accepted_others_need_unsafe_load(
        tmp_path, existing):
    """timm's ``args`` loads (and the file then fails only as weights of
    another model); an unknown type is refused unless --unsafe-load."""
    weights = {'head.weight': torch.zeros(2, 2)}
    timm_like = tmp_path / 'timm_like.pth'
    torch.save(
        {
            'state_dict': weights,
            'args': argparse.Namespace(model='x', lr=1e-3)
        }, timm_like)
    assert_one_line_error(
        converter('vitaev2-vsa', str(timm_like), str(existing), '--force'),
        str(timm_like), 'no ViTAE-VSA backbone weights')
    odd = tmp_path / 'odd.pth'
    torch.save({'state_dict': weights, 'queue': deque([1, 2])}, odd)
    assert_one_line_error(
        converter('swin', str(odd), str(existing), '--force'), str(odd),
        'collections.deque', '--unsafe-load')
    line = assert_one_line_error(
        converter('swin', str(odd), str(existing), '--force', '--unsafe-load'),
        'not a Swin checkpoint')
    assert 'deque' not in line  # it loaded; only the weights are wrong
    assert existing.read_bytes() == PREVIOUS


def test_help_documents_the_flags():
    result = converter('swin-vsa', '--help')
    assert result.returncode == 0
    text = ' '.join(result.stdout.split())
    assert '--unsafe-load' in text and 'only for files you trust' in text
    assert '--force' in text


def test_bad_command_line_is_one_line():
    result = converter('swin', 'only_source.pth')
    assert result.returncode == 2
    assert_one_line_error(result, 'the following arguments are required')
    assert not osp.exists('only_source.pth')

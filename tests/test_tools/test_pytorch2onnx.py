"""tools/deployment/pytorch2onnx.py: a config plus checkpoint to ONNX."""
import os.path as osp

import pytest
import torch
from helpers.models import SWIN_SMALL
from helpers.tools import (DEMO_CONFIGS, assert_one_line_error, error_lines,
                           run_tool)
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope

from vsa_mm.models.layers import move_windows

pytest.importorskip('onnxruntime', reason='pip install onnxruntime')

TOOL = 'deployment/pytorch2onnx.py'


@pytest.fixture(scope='module')
def small_classifier(tmp_path_factory):
    """A config that shrinks the demo classifier, and a checkpoint of it
    whose windows move (non-zero regression heads)."""
    root = tmp_path_factory.mktemp('small')
    config = root / 'small_swin_vsa.py'
    base = str(DEMO_CONFIGS['mmpretrain'])
    arch = dict(_delete_=True, **SWIN_SMALL)
    config.write_text(f'_base_ = [{base!r}]\n'
                      f'model = dict(backbone=dict(arch={arch!r}, '
                      'drop_path_rate=0.), head=dict(in_channels=256))\n')
    cfg = Config.fromfile(str(config))
    init_default_scope(cfg.default_scope)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    move_windows(model)
    checkpoint = root / 'small.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, checkpoint)
    return str(config), str(checkpoint)


def test_exports_and_verifies_with_onnxruntime(small_classifier, tmp_path):
    config, checkpoint = small_classifier
    work = tmp_path / 'work'
    result = run_tool(
        TOOL,
        config,
        checkpoint,
        '--work-dir',
        str(work),
        '--shape',
        '96',
        '96',
        '--batch',
        '1',
        cwd=str(tmp_path),
        timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    onnx_file = work / 'small_swin_vsa_backbone.onnx'
    assert onnx_file.is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ['work']
    output = result.stdout + result.stderr
    assert 'onnxruntime matches PyTorch at input (1, 3, 96, 96)' in output
    assert 'onnxruntime matches PyTorch at input (2, 3, 77, 81)' in output


@pytest.mark.parametrize('args, fragments', [
    (['--shape', '32', '48'], ['--shape must be at least 64', '(32, 48)']),
    (['--batch', '0'], ['--batch must be >= 1', '0']),
    (['--part', 'head'], ['invalid choice', "'head'"]),
])
def test_bad_arguments_are_one_line(small_classifier, tmp_path, args,
                                    fragments):
    config, checkpoint = small_classifier
    result = run_tool(
        TOOL, config, checkpoint, *args, cwd=str(tmp_path), timeout=300)
    assert_one_line_error(result, *fragments)
    assert not osp.exists(tmp_path / 'work_dirs')
    assert error_lines(result)

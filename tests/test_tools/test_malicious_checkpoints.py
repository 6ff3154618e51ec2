"""A checkpoint that would run code is refused by every entry point.

The checkpoint is a real ``torch.save`` zip whose payload, if unpickled,
creates a marker file. Each tool must fail with one line saying what was
refused and why, and the marker must not exist.
"""
import os.path as osp

import pytest
import torch
from helpers.payloads import write_malicious
from helpers.tools import (CONVERTERS, DEMO_CONFIGS, assert_one_line_error,
                           converter, run_tool)

WHY = 'could run code'


@pytest.fixture
def evil(tmp_path):
    marker = str(tmp_path / 'marker')
    weights = {'backbone.patch_embed.projection.weight': torch.zeros(1)}
    return write_malicious(str(tmp_path / 'evil.pth'), marker, weights), marker


def test_the_payload_is_live(evil):
    path, marker = evil
    torch.load(path, weights_only=False)
    assert osp.exists(marker)


@pytest.mark.parametrize('kind', CONVERTERS)
def test_converters(evil, tmp_path, kind):
    path, marker = evil
    dst = tmp_path / 'out.pth'
    line = assert_one_line_error(
        converter(kind, path, str(dst)), path, 'builtins.exec', WHY,
        '--unsafe-load', 'only for files you trust')
    assert line.startswith(f'{CONVERTERS[kind][0]}.py: error: ')
    assert not osp.exists(marker) and not dst.exists()


def _train(workspace, *args):
    return run_tool(
        'train.py',
        str(DEMO_CONFIGS['mmpretrain']),
        '--work-dir',
        osp.join(workspace, 'work_dirs', 'evil'),
        *args,
        cwd=workspace)


@pytest.mark.parametrize('entry', ['load_from', 'resume', 'init_cfg'])
def test_train(evil, demo_workspace, entry):
    path, marker = evil
    args = {
        'load_from': ['--cfg-options', f'load_from={path}'],
        'resume': ['--resume', path],
        'init_cfg': [
            '--cfg-options', 'model.backbone.init_cfg.type=Pretrained',
            f'model.backbone.init_cfg.checkpoint={path}',
            'model.backbone.init_cfg.prefix=backbone.'
        ],
    }[entry]
    line = assert_one_line_error(
        _train(demo_workspace, *args), 'builtins.exec', WHY)
    assert line.startswith('train.py: error: ')
    assert not osp.exists(marker)


def test_test(evil, demo_workspace):
    path, marker = evil
    assert_one_line_error(
        run_tool(
            'test.py',
            str(DEMO_CONFIGS['mmpretrain']),
            path,
            '--work-dir',
            osp.join(demo_workspace, 'work_dirs', 'ev'),
            cwd=demo_workspace), path, 'builtins.exec', WHY)
    assert not osp.exists(marker)


@pytest.mark.parametrize('tool', ['visualize_windows', 'visualize_detections'])
def test_visualization_tools(evil, demo_workspace, tmp_path, tool):
    path, marker = evil
    image = osp.join(demo_workspace, 'data/demo/coco/val2017/'
                     'val_000000.jpg')
    out = tmp_path / 'drawn.png'
    config = str(DEMO_CONFIGS['mmdet'])
    args = (['--config', config, '--checkpoint', path, '--image', image]
            if tool == 'visualize_windows' else [config, path, image])
    assert_one_line_error(
        run_tool(f'{tool}.py', *args, '--out', str(out), cwd=demo_workspace),
        'builtins.exec', WHY)
    assert not osp.exists(marker) and not out.exists()

"""Checkpoints of real runs load with plain ``torch.load(weights_only=True)``.

Each tiny demo config (classification, detection, segmentation) trains a
few iterations with ``vsa_mm.ExactResumeHook`` and MMEngine's ``EMAHook``
through ``tools/train.py``; every checkpoint it writes (regular, last and
best) must load with ``weights_only=True`` and hold no GLOBAL beyond the
allowlist. The classification run is then resumed from its checkpoint.
"""
import glob
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from engine_helpers import REPO

import vsa_mm  # noqa: F401  allowlists MMEngine's checkpoint types
from vsa_mm.checkpoint.safe_load import mmengine_safe_globals

pytestmark = pytest.mark.slow

DEMO = REPO / 'configs' / 'demo'
HOOKS = ("custom_hooks = [\n"
         "    dict(type='EMAHook', momentum=0.05, update_buffers=True,\n"
         "         priority='ABOVE_NORMAL'),\n"
         "    dict(type='vsa_mm.ExactResumeHook'),\n"
         "]\n")
RUNS = {
    'mmpretrain': ('swin-tiny-vsa_demo-imagenet.py',
                   'train_dataloader = dict(dataset=dict(indices=16))\n'
                   'val_dataloader = dict(dataset=dict(indices=4))\n'
                   'train_cfg = dict(max_epochs=2, val_interval=1)\n'
                   'default_hooks = dict(checkpoint=dict(interval=1))\n'),
    'mmdet': ('mask-rcnn_swin-t-vsa_fpn_demo-coco.py',
              'train_dataloader = dict(dataset=dict(indices=4))\n'
              'val_dataloader = dict(dataset=dict(indices=2))\n'
              'train_cfg = dict(max_epochs=1, val_interval=1)\n'
              'default_hooks = dict(checkpoint=dict(interval=1))\n'),
    'mmseg':
    ('upernet_swin-t-vsa_demo-cityscapes.py',
     'val_dataloader = dict(dataset=dict(indices=2))\n'
     'train_cfg = dict(max_iters=2, val_interval=2)\n'
     "default_hooks = dict(checkpoint=dict(interval=2, save_best='mIoU',"
     " rule='greater'))\n"),
}


def _names(entries) -> set:
    return {
        entry[1] if isinstance(entry, tuple) else
        f'{entry.__module__}.{entry.__qualname__}'
        for entry in entries
    }


def _train(workspace: str, config: str, work_dir: str, *args: str) -> str:
    env = dict(os.environ, PYTHONWARNINGS='ignore')
    proc = subprocess.run([
        sys.executable,
        str(REPO / 'tools' / 'train.py'), config, '--work-dir', work_dir, *args
    ],
                          cwd=workspace,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    return proc.stdout


@pytest.mark.parametrize('task', sorted(RUNS))
def test_checkpoints_load_with_weights_only(demo_workspace, tmp_path, task):
    base, overrides = RUNS[task]
    config = tmp_path / f'{task}_checkpoints.py'
    config.write_text(f'_base_ = [{str(DEMO / base)!r}]\n{HOOKS}{overrides}')
    work_dir = str(tmp_path / 'work')
    _train(demo_workspace, str(config), work_dir)

    checkpoints = sorted(glob.glob(osp.join(work_dir, '*.pth')))
    assert checkpoints
    allowlist = _names(mmengine_safe_globals())
    for path in checkpoints:
        checkpoint = torch.load(path, weights_only=True)
        assert 'ema_state_dict' in checkpoint, path
        assert checkpoint['meta']['rng_states'], path
        assert checkpoint['message_hub']['log_scalars'], path
        assert torch.serialization.get_unsafe_globals_in_checkpoint(
            path) == [], path
        # what the file needs beyond torch's own list is all ours
        saved = torch.serialization.get_safe_globals()
        torch.serialization.clear_safe_globals()
        try:
            needed = set(
                torch.serialization.get_unsafe_globals_in_checkpoint(path))
        finally:
            torch.serialization.add_safe_globals(saved)
        assert needed and needed <= allowlist, needed - allowlist
        assert 'builtins.getattr' not in needed

    if task == 'mmpretrain':
        output = _train(demo_workspace, str(config), work_dir, '--resume',
                        osp.join(work_dir, 'epoch_1.pth'))
        assert 'resumed epoch: 1' in output
        assert osp.isfile(osp.join(work_dir, 'epoch_2.pth'))

"""Kill a training run with SIGKILL and resume it with ``--resume``."""
import os
import os.path as osp
import signal
import subprocess
import time

import pytest
import torch
from helpers.e2e import BIN, DEMO_CONFIGS, mim

pytestmark = pytest.mark.slow

# 6 training images in 3 iterations per epoch, validation on 2 images after
# every epoch (the hook must keep it from changing training), a checkpoint
# after every epoch.
OVERRIDES = """
train_cfg = dict(max_epochs=4, val_interval=1)
train_dataloader = dict(dataset=dict(indices=6))
val_dataloader = dict(dataset=dict(indices=2))
default_hooks = dict(checkpoint=dict(interval=1, max_keep_ckpts=2))
"""


def _config(directory: str) -> str:
    path = osp.join(directory, 'resume_config.py')
    with open(path, 'w') as f:
        f.write(f'_base_ = [{DEMO_CONFIGS["mmdet"]!r}]\n{OVERRIDES}')
    return path


def _last_checkpoint(work_dir: str) -> str:
    try:
        with open(osp.join(work_dir, 'last_checkpoint')) as f:
            return f.read().strip()
    except FileNotFoundError:
        return ''


def _train_until_killed(config: str, work_dir: str, cwd: str) -> None:
    """Start training; SIGKILL it once epoch 2's checkpoint is recorded."""
    proc = subprocess.Popen([
        osp.join(BIN, 'mim'), 'train', 'mmdet', config, '--gpus', '0',
        '--work-dir', work_dir
    ],
                            cwd=cwd,
                            start_new_session=True,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                            env=dict(os.environ, PYTHONWARNINGS='ignore'))
    deadline = time.monotonic() + 600
    try:
        while not _last_checkpoint(work_dir).endswith('epoch_2.pth'):
            assert proc.poll() is None, 'training ended before the kill'
            assert time.monotonic() < deadline, 'no second checkpoint'
            time.sleep(0.1)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _weights(path: str) -> dict:
    return torch.load(path, weights_only=True)['state_dict']


def test_sigkill_then_resume_matches_uninterrupted_run(demo_workspace,
                                                       tmp_path):
    config = _config(str(tmp_path))
    reference = str(tmp_path / 'uninterrupted')
    mim('train', 'mmdet', config, '--work-dir', reference, cwd=demo_workspace)

    work_dir = str(tmp_path / 'killed')
    _train_until_killed(config, work_dir, demo_workspace)
    assert not osp.exists(osp.join(work_dir, 'epoch_4.pth'))
    # What a crash while writing the next checkpoint leaves behind: the
    # atomic writer's temporary file, and (from a writer that is not
    # atomic) a truncated checkpoint that last_checkpoint names.
    with open(osp.join(work_dir, 'epoch_2.pth'), 'rb') as f:
        head = f.read(1 << 20)
    with open(osp.join(work_dir, '.epoch_3.pth.x1y2.partial'), 'wb') as f:
        f.write(head)
    with open(osp.join(work_dir, 'epoch_3.pth'), 'wb') as f:
        f.write(head)
    with open(osp.join(work_dir, 'last_checkpoint'), 'w') as f:
        f.write(osp.join(work_dir, 'epoch_3.pth'))

    output = mim(
        'train',
        'mmdet',
        config,
        '--work-dir',
        work_dir,
        '--resume',
        cwd=demo_workspace)
    assert 'resumed epoch: 2, iter: 6' in output

    expected = _weights(osp.join(reference, 'epoch_4.pth'))
    resumed = _weights(osp.join(work_dir, 'epoch_4.pth'))
    assert expected.keys() == resumed.keys()
    for key, value in expected.items():
        assert torch.equal(value, resumed[key]), key

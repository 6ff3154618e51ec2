"""MMEngine's ``compile = True`` trains a (shrunk) demo classifier through
tools/train.py: inductor compiles the Swin + VSA train step on the CPU."""
import math
import os.path as osp
import sys

import pytest
from helpers.e2e import DEMO_CONFIGS, REPO, run, train_losses

pytestmark = pytest.mark.slow

TINY_COMPILED = """_base_ = [{base!r}]
model = dict(
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=32, depths=[1, 1, 1, 1],
                  num_heads=[1, 2, 4, 8]),
        drop_path_rate=0.),
    head=dict(in_channels=256))
train_dataloader = dict(batch_size=2, dataset=dict(indices=4))
val_dataloader = dict(dataset=dict(indices=2))
train_cfg = dict(max_epochs=2, val_interval=2)
default_hooks = dict(checkpoint=dict(interval=1))
compile = True
"""


def test_compile_true_trains_the_demo_classifier(demo_workspace, tmp_path):
    config = tmp_path / 'tiny_compiled.py'
    config.write_text(TINY_COMPILED.format(base=DEMO_CONFIGS['mmpretrain']))
    work_dir = str(tmp_path / 'work')
    output = run([
        sys.executable,
        osp.join(REPO, 'tools', 'train.py'),
        str(config), '--work-dir', work_dir
    ],
                 cwd=demo_workspace,
                 timeout=1500)
    assert 'Model has been "compiled"' in output
    assert 'compile=True leaves the optimizer step eager' in output
    assert osp.exists(osp.join(work_dir, 'epoch_2.pth'))
    losses = train_losses(work_dir)
    assert len(losses) == 4 and all(math.isfinite(loss) for loss in losses)

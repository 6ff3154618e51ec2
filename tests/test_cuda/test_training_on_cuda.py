"""The GPU tier, training: ``pytest -m cuda`` on a machine with a CUDA GPU.

mmcv's CUDA ops against its CPU ops, then short runs of the demo configs
through ``tools/train.py`` on CUDA: Mask R-CNN (RoIAlign, NMS), UperNet with
SyncBN, mixed precision and two-process NCCL. ``make gpu-check`` runs this
module as its ``training`` step, after compiling mmcv's CUDA ops.
"""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from helpers.cuda import CUDA, CUDA_TIER
from helpers.e2e import free_port
from helpers.paths import CONFIGS, REPO, TOOLS

pytestmark = CUDA_TIER

#: The shortest run of each demo config that saves a checkpoint: its
#: ``--cfg-options`` and the checkpoint it leaves. The classifier needs two
#: epochs (its cosine schedule begins after a one-epoch warm-up); the
#: segmentor's loop counts iterations.
SHORT_RUNS = {
    'demo/mask-rcnn_swin-t-vsa_fpn_demo-coco.py':
    (('train_dataloader.dataset.indices=4', 'train_cfg.max_epochs=1',
      'train_cfg.val_interval=10', 'default_hooks.checkpoint.interval=1'),
     'epoch_1.pth'),
    'demo/upernet_swin-t-vsa_demo-cityscapes.py':
    (('train_cfg.max_iters=2', 'train_cfg.val_interval=10',
      'default_hooks.checkpoint.interval=2'), 'iter_2.pth'),
    'demo/swin-tiny-vsa_demo-imagenet.py':
    (('train_dataloader.dataset.indices=4', 'train_cfg.max_epochs=2',
      'train_cfg.val_interval=10', 'default_hooks.checkpoint.interval=1'),
     'epoch_2.pth'),
}


def _train(config: str,
           workspace: str,
           work_dir: str,
           *options: str,
           launcher: tuple = ()) -> subprocess.CompletedProcess:
    """A short run (:data:`SHORT_RUNS`) of a demo config through
    tools/train.py, batches of 2; ``options`` are more ``--cfg-options``
    (or flags after them)."""
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(
            filter(None, [str(REPO), os.environ.get('PYTHONPATH')])))
    return subprocess.run([
        *(launcher or (sys.executable, )),
        str(TOOLS / 'train.py'),
        str(CONFIGS / config), '--work-dir', work_dir, '--cfg-options',
        'train_dataloader.batch_size=2', *SHORT_RUNS[config][0], *options
    ],
                          cwd=workspace,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=1200)


def _assert_trained(result: subprocess.CompletedProcess, config: str,
                    work_dir: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    checkpoint = osp.join(work_dir, SHORT_RUNS[config][1])
    assert osp.exists(checkpoint), output[-3000:]


def test_mmcv_cuda_ops_match_their_cpu_ops():
    """The ops Mask R-CNN runs on CUDA tensors (NMS, RoIAlign) exist in this
    mmcv and agree with its CPU kernels; without them the detector's
    training fails deep inside mmdet."""
    from mmcv.ops import get_compiling_cuda_version, nms, roi_align
    assert get_compiling_cuda_version() not in ('', 'not available'), (
        'mmcv was built without its CUDA ops: run dev/setup_env.sh on '
        'this machine (it builds them where torch sees a GPU)')
    generator = torch.Generator().manual_seed(0)
    corners = torch.rand(64, 2, generator=generator) * 40
    boxes = torch.cat(
        [corners, corners + 4 + torch.rand(64, 2, generator=generator) * 20],
        dim=1)
    scores = torch.rand(64, generator=generator)
    _, keep = nms(boxes, scores, iou_threshold=0.5)
    _, keep_cuda = nms(boxes.to(CUDA), scores.to(CUDA), iou_threshold=0.5)
    assert 0 < len(keep) < 64
    assert torch.equal(keep_cuda.cpu(), keep)

    features = torch.randn(2, 8, 16, 16, generator=generator)
    rois = torch.cat(
        [torch.randint(0, 2,
                       (64, 1), generator=generator).float(), boxes / 4], 1)
    pooled = roi_align(features, rois, (7, 7), 1.0, 2, 'avg', True)
    pooled_cuda = roi_align(
        features.to(CUDA), rois.to(CUDA), (7, 7), 1.0, 2, 'avg', True)
    assert pooled.abs().sum() > 0
    torch.testing.assert_close(pooled_cuda.cpu(), pooled, atol=1e-5, rtol=0)


@pytest.mark.parametrize('config', [
    'demo/mask-rcnn_swin-t-vsa_fpn_demo-coco.py',
    'demo/upernet_swin-t-vsa_demo-cityscapes.py'
])
def test_detector_and_segmentor_train_on_cuda(config, demo_workspace,
                                              tmp_path):
    """mmcv's CUDA ops (RoIAlign, NMS) and SyncBN in one process."""
    work_dir = str(tmp_path / 'work')
    result = _train(
        config, demo_workspace, work_dir,
        *(['model.decode_head.norm_cfg.type=SyncBN']
          if 'upernet' in config else []))
    _assert_trained(result, config, work_dir)


def test_amp_training(demo_workspace, tmp_path):
    config = 'demo/swin-tiny-vsa_demo-imagenet.py'
    work_dir = str(tmp_path / 'work')
    result = _train(config, demo_workspace, work_dir, '--amp')
    _assert_trained(result, config, work_dir)
    assert 'AmpOptimWrapper' in result.stdout + result.stderr


@pytest.mark.skipif(
    torch.cuda.device_count() < 2, reason='NCCL DDP needs 2 or more GPUs')
def test_two_process_nccl_ddp(demo_workspace, tmp_path):
    config = 'demo/swin-tiny-vsa_demo-imagenet.py'
    work_dir = str(tmp_path / 'work')
    result = _train(
        config,
        demo_workspace,
        work_dir,
        '--launcher',
        'pytorch',
        launcher=(sys.executable, '-m', 'torch.distributed.run',
                  '--nproc_per_node=2', f'--master_port={free_port()}'))
    _assert_trained(result, config, work_dir)
    assert 'nccl' in (result.stdout + result.stderr).lower()

"""Train and test the tiny demo configs through ``mim``, as users do.

Each test trains from a fixed seed on the embedded demo data, checks that
the loss fell and a checkpoint was written, then evaluates the checkpoint
with ``mim test`` through the library's real metric.
"""
import os.path as osp

import pytest
from e2e import DEMO_CONFIGS, REPO, mim, read_test_metrics, train_losses

pytestmark = pytest.mark.slow


def _train(task: str, workspace: str, name: str, *options: str) -> str:
    work_dir = osp.join(workspace, 'work_dirs', name)
    mim('train', task, DEMO_CONFIGS[task], '--work-dir', work_dir,
        *options, cwd=workspace)
    losses = train_losses(work_dir)
    assert len(losses) >= 20
    start, end = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    assert end < 0.9 * start, (start, end)
    return work_dir


def test_mmdet_mask_rcnn(demo_workspace):
    work_dir = _train('mmdet', demo_workspace, 'det', '--cfg-options',
                      'train_cfg.max_epochs=2')
    checkpoint = osp.join(work_dir, 'epoch_2.pth')
    assert osp.isfile(checkpoint)
    metrics = read_test_metrics(
        mim('test', 'mmdet', DEMO_CONFIGS['mmdet'], '--checkpoint',
            checkpoint, '--work-dir', work_dir, cwd=demo_workspace))
    for key in ('coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/segm_mAP',
                'coco/segm_mAP_50'):
        assert 0.0 <= metrics[key] <= 1.0, metrics


def _ms_flip_twin(directory: str) -> str:
    """The shipped ms+flip test config, re-based on the tiny config."""
    shipped = osp.join(REPO, 'configs', 'mmseg', 'swin_vsa',
                       'upernet_swin-t-vsa_8xb2-40k_cityscapes-512x1024'
                       '_ms-flip-test.py')
    with open(shipped) as f:
        text = f.read()
    base = "['./upernet_swin-t-vsa_8xb2-40k_cityscapes-512x1024.py']"
    assert base in text
    path = osp.join(directory, 'ms_flip_test.py')
    with open(path, 'w') as f:
        f.write(text.replace(base, repr([DEMO_CONFIGS['mmseg']])))
    return path


def test_mmseg_upernet(demo_workspace, tmp_path):
    work_dir = _train('mmseg', demo_workspace, 'seg')
    checkpoint = osp.join(work_dir, 'iter_30.pth')
    assert osp.isfile(checkpoint)
    single = read_test_metrics(
        mim('test', 'mmseg', DEMO_CONFIGS['mmseg'], '--checkpoint',
            checkpoint, '--work-dir', work_dir, cwd=demo_workspace))
    multi = read_test_metrics(
        mim('test', 'mmseg', DEMO_CONFIGS['mmseg'], '--checkpoint',
            checkpoint, '--work-dir', work_dir, '--tta',
            cwd=demo_workspace))
    twin = read_test_metrics(
        mim('test', 'mmseg', _ms_flip_twin(str(tmp_path)), '--checkpoint',
            checkpoint, '--work-dir', work_dir, cwd=demo_workspace))
    for metrics in (single, multi):
        assert 0.0 < metrics['mIoU'] <= 100.0, metrics
        assert 0.0 < metrics['aAcc'] <= 100.0, metrics
    assert multi['mIoU'] != single['mIoU']  # the augmented test did run
    assert twin['mIoU'] == multi['mIoU']  # *_ms-flip-test configs = --tta


def test_mmpretrain_classifier(demo_workspace):
    work_dir = _train('mmpretrain', demo_workspace, 'cls')
    checkpoint = osp.join(work_dir, 'epoch_24.pth')
    assert osp.isfile(checkpoint)
    metrics = read_test_metrics(
        mim('test', 'mmpretrain', DEMO_CONFIGS['mmpretrain'], '--checkpoint',
            checkpoint, '--work-dir', work_dir, cwd=demo_workspace))
    assert 0.0 <= metrics['accuracy/top1'] <= 100.0, metrics

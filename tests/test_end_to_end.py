"""Train and test the tiny demo configs through ``mim``, as users do.

Each test trains from a fixed seed on the embedded demo data, checks that
the loss fell and a checkpoint was written, then evaluates the checkpoint
with ``mim test`` through the library's real metric.
"""
import os.path as osp

import pytest
from e2e import DEMO_CONFIGS, mim, read_test_metrics, train_losses

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


def test_mmseg_upernet(demo_workspace):
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
    for metrics in (single, multi):
        assert 0.0 < metrics['mIoU'] <= 100.0, metrics
        assert 0.0 < metrics['aAcc'] <= 100.0, metrics
    assert multi['mIoU'] != single['mIoU']  # the augmented test did run


def test_mmpretrain_classifier(demo_workspace):
    work_dir = _train('mmpretrain', demo_workspace, 'cls')
    checkpoint = osp.join(work_dir, 'epoch_24.pth')
    assert osp.isfile(checkpoint)
    metrics = read_test_metrics(
        mim('test', 'mmpretrain', DEMO_CONFIGS['mmpretrain'], '--checkpoint',
            checkpoint, '--work-dir', work_dir, cwd=demo_workspace))
    assert 0.0 <= metrics['accuracy/top1'] <= 100.0, metrics

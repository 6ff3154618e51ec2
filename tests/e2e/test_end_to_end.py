"""Train and test the tiny demo configs through ``mim``, as users do.

Each test trains from a fixed seed on the embedded demo data, checks that
the loss fell and a checkpoint was written, then evaluates with ``mim
test`` through the library's real metric both the weights training started
from (saved by a test hook before the first iteration) and the trained
ones: the trained model must beat the untrained one by a margin.

The margins are well below the measured gains (CPU, seed 0; see each
test), so that they hold across platforms, yet far above what training
that does not learn would give (both numbers then match).
"""
import os.path as osp
from typing import Dict, Tuple

import pytest
from helpers.e2e import (DEMO_CONFIGS, REPO, UNTRAINED_CHECKPOINT, mim,
                         read_test_metrics, train_losses,
                         write_untrained_saving_config)

pytestmark = pytest.mark.slow

#: Least gain of the trained model over the untrained one.
DET_MARGIN = 0.03  # COCO box and mask mAP_50
SEG_MARGIN = 10.0  # mIoU, %
CLS_MARGIN = 20.0  # top-1, %


def _train(task: str, workspace: str, directory: str, name: str, *options:
           str) -> str:
    """Train ``task``'s demo config; also saves its untrained weights."""
    work_dir = osp.join(workspace, 'work_dirs', name)
    config = write_untrained_saving_config(directory, DEMO_CONFIGS[task])
    mim('train', task, config, '--work-dir', work_dir, *options, cwd=workspace)
    losses = train_losses(work_dir)
    assert len(losses) >= 20
    start, end = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    assert end < 0.9 * start, (start, end)
    assert osp.isfile(osp.join(work_dir, UNTRAINED_CHECKPOINT))
    return work_dir


def _test(task: str, workspace: str, work_dir: str, checkpoint: str, *options:
          str) -> Dict[str, float]:
    return read_test_metrics(
        mim('test',
            task,
            DEMO_CONFIGS[task],
            '--checkpoint',
            osp.join(work_dir, checkpoint),
            '--work-dir',
            work_dir,
            *options,
            cwd=workspace))


def _untrained_and_trained(task: str, workspace: str, work_dir: str,
                           trained: str) -> Tuple[dict, dict]:
    before = _test(task, workspace, work_dir, UNTRAINED_CHECKPOINT)
    after = _test(task, workspace, work_dir, trained)
    print(f'\n{task} untrained: {before}\n{task} trained: {after}')
    return before, after


def test_mmdet_mask_rcnn(demo_workspace, tmp_path):
    work_dir = _train('mmdet', demo_workspace, str(tmp_path), 'det',
                      '--cfg-options', 'train_cfg.max_epochs=2')
    before, after = _untrained_and_trained('mmdet', demo_workspace, work_dir,
                                           'epoch_2.pth')
    for key in ('coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/segm_mAP',
                'coco/segm_mAP_50'):
        assert 0.0 <= before[key] <= 1.0 and 0.0 <= after[key] <= 1.0
    # measured (2 epochs): box mAP_50 0.010 -> 0.088, mask 0.000 -> 0.065
    assert after['coco/bbox_mAP_50'] >= before['coco/bbox_mAP_50'] + \
        DET_MARGIN, (before, after)
    assert after['coco/segm_mAP_50'] >= before['coco/segm_mAP_50'] + \
        DET_MARGIN, (before, after)


def _ms_flip_twin(directory: str) -> str:
    """The shipped ms+flip test config, re-based on the tiny config."""
    shipped = osp.join(
        REPO, 'configs', 'mmseg', 'swin_vsa',
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


#: The augmented tests (6 scales x 2 flips, each a sliding-window pass) cost
#: about 17 single-scale passes per image: they run on one validation image.
ONE_IMAGE = ('--cfg-options', 'test_dataloader.dataset.indices=1')


def test_mmseg_upernet(demo_workspace, tmp_path):
    work_dir = _train('mmseg', demo_workspace, str(tmp_path), 'seg')
    before, single = _untrained_and_trained('mmseg', demo_workspace, work_dir,
                                            'iter_30.pth')
    # measured (30 iterations): mIoU 0.59 -> 20.79
    assert single['mIoU'] >= before['mIoU'] + SEG_MARGIN, (before, single)
    assert 0.0 < single['aAcc'] <= 100.0, single
    one = _test('mmseg', demo_workspace, work_dir, 'iter_30.pth', *ONE_IMAGE)
    multi = _test('mmseg', demo_workspace, work_dir, 'iter_30.pth', '--tta',
                  *ONE_IMAGE)
    twin = read_test_metrics(
        mim('test',
            'mmseg',
            _ms_flip_twin(str(tmp_path)),
            '--checkpoint',
            osp.join(work_dir, 'iter_30.pth'),
            '--work-dir',
            work_dir,
            *ONE_IMAGE,
            cwd=demo_workspace))
    for metrics in (one, multi):
        assert 0.0 < metrics['mIoU'] <= 100.0, metrics
        assert 0.0 < metrics['aAcc'] <= 100.0, metrics
    assert multi['mIoU'] != one['mIoU']  # the augmented test did run
    assert twin['mIoU'] == multi['mIoU']  # *_ms-flip-test configs = --tta


def test_mmpretrain_classifier(demo_workspace, tmp_path):
    work_dir = _train('mmpretrain', demo_workspace, str(tmp_path), 'cls')
    before, after = _untrained_and_trained('mmpretrain', demo_workspace,
                                           work_dir, 'epoch_24.pth')
    for metrics in (before, after):
        assert 0.0 <= metrics['accuracy/top1'] <= 100.0, metrics
    # measured (24 epochs, EMA weights): top-1 25.0 -> 62.5 (16 validation
    # images of 4 classes, 6.25 points each)
    assert after['accuracy/top1'] >= before['accuracy/top1'] + CLS_MARGIN, \
        (before, after)

"""The libraries' flags of tools/train.py and tools/test.py, run for real.

Each test runs a tool on a tiny demo config on the CPU, from a current
directory that holds only the demo data, and checks what the flag does and
that nothing was written into that directory.
"""
import os
import os.path as osp
import pickle
from typing import Callable, Dict

import pytest
import torch
from helpers.tools import (DEMO_CONFIGS, Result, assert_one_line_error,
                           run_tool, write_untrained_checkpoint)
from mmengine.config import Config

MMDET = str(DEMO_CONFIGS['mmdet'])
MMSEG = str(DEMO_CONFIGS['mmseg'])
MMPRETRAIN = str(DEMO_CONFIGS['mmpretrain'])


@pytest.fixture(scope='module')
def untrained(tmp_path_factory) -> Callable[[str], str]:
    """The initialised weights of a task's demo model, saved once."""
    root = tmp_path_factory.mktemp('untrained')
    saved: Dict[str, str] = {}

    def checkpoint(task: str) -> str:
        if task not in saved:
            saved[task] = write_untrained_checkpoint(
                str(DEMO_CONFIGS[task]), str(root / f'{task}.pth'))
        return saved[task]

    return checkpoint


@pytest.fixture
def cwd(tmp_path, demo_workspace) -> str:
    """A current directory that holds only the demo data."""
    path = tmp_path / 'cwd'
    path.mkdir()
    (path / 'data').symlink_to(osp.join(demo_workspace, 'data'))
    return str(path)


def succeeded(result: Result) -> str:
    assert result.returncode == 0, result.stderr[-3000:] + \
        result.stdout[-3000:]
    return result.stdout + result.stderr


def run_test_tool_into(config: str, checkpoint: str, work, cwd: str, *options:
                       str) -> str:
    """``tools/test.py`` on two test images, predictions dumped to
    ``preds.pkl`` and drawn into ``vis/``, relative to ``work``."""
    return succeeded(
        run_tool(
            'test.py',
            config,
            checkpoint,
            *options,
            '--work-dir',
            str(work),
            '--out',
            'preds.pkl',
            '--show-dir',
            'vis',
            '--cfg-options',
            'test_dataloader.dataset.indices=2',
            *(['model.test_cfg.rcnn.max_per_img=10']
              if config == MMDET else []),
            cwd=cwd))


def load_pickle(path) -> list:
    with open(path, 'rb') as f:
        return pickle.load(f)


def test_test_out_and_show_dir_go_into_the_work_dir(tmp_path, cwd, untrained):
    work = tmp_path / 'work'
    run_test_tool_into(MMDET, untrained('mmdet'), work, cwd)
    images = ['val_000000.jpg', 'val_000001.jpg']
    preds = load_pickle(work / 'preds.pkl')  # DumpDetResults
    assert [osp.basename(p['img_path']) for p in preds] == images
    for pred in preds:
        instances = pred['pred_instances']
        assert 0 < len(instances['bboxes']) <= 10
        assert len(instances['masks']) == len(instances['bboxes'])
        assert 'counts' in instances['masks'][0]  # RLE
    assert sorted(os.listdir(work / 'vis')) == images
    assert os.listdir(cwd) == ['data']


def test_test_tta_out_and_show_dir_mmseg(tmp_path, cwd, untrained):
    # The demo config's ms+flip pipeline takes minutes: one scale here.
    config = tmp_path / 'seg_tta.py'
    config.write_text(
        f'_base_ = [{MMSEG!r}]\n'
        'tta_pipeline = [\n'
        "    dict(type='LoadImageFromFile'),\n"
        "    dict(type='TestTimeAug', transforms=[\n"
        "        [dict(type='Resize', scale_factor=0.5, keep_ratio=True)],\n"
        "        [dict(type='RandomFlip', prob=0., direction='horizontal'),\n"
        "         dict(type='RandomFlip', prob=1., direction='horizontal')],\n"
        "        [dict(type='LoadAnnotations')],\n"
        "        [dict(type='PackSegInputs')]])]\n")
    work = tmp_path / 'work'
    run_test_tool_into(str(config), untrained('mmseg'), work, cwd, '--tta')
    ran = Config.fromfile(str(work / 'seg_tta.py'))  # the runner's config
    assert ran.model.type == 'SegTTAModel'
    assert ran.model.module.type == 'EncoderDecoder'
    assert ran.test_dataloader.dataset.pipeline[1].type == 'TestTimeAug'
    preds = load_pickle(work / 'preds.pkl')  # DumpResults
    assert len(preds) == 2
    for pred in preds:
        height, width = pred['ori_shape']
        assert pred['pred_sem_seg']['data'].shape == (1, height, width)
    drawn = sorted(os.listdir(work / 'vis'))
    assert len(drawn) == 2 and all(name.endswith('.png') for name in drawn)
    assert os.listdir(cwd) == ['data']


def test_test_show_wait_time_and_absolute_out(tmp_path, cwd, untrained):
    work, out = tmp_path / 'work', tmp_path / 'elsewhere' / 'preds.pkl'
    succeeded(
        run_tool(
            'test.py',
            MMPRETRAIN,
            untrained('mmpretrain'),
            '--work-dir',
            str(work),
            '--out',
            str(out),
            '--show',
            '--wait-time',
            '0.1',
            '--show-dir',
            'vis',
            cwd=cwd,
            env=dict(MPLBACKEND='Agg')))
    hook = Config.fromfile(str(
        work / osp.basename(MMPRETRAIN))).default_hooks.visualization
    assert (hook.enable, hook.show, hook.wait_time) == (True, True, 0.1)
    val = osp.join(cwd, 'data', 'demo', 'imagenet', 'val')
    count = sum(len(files) for _, _, files in os.walk(val))
    assert len(load_pickle(out)) == count
    assert not (work / 'preds.pkl').exists()
    assert len(os.listdir(work / 'vis')) == count
    assert os.listdir(cwd) == ['data']


@pytest.mark.parametrize('args,fragments', [
    (['--out', 'preds.txt'], ['preds.txt', '.pkl']),
    (['--show', '--wait-time', '-1'], ['wait_time', '-1']),
    (['--tta'], ['tta_model', 'tta_pipeline']),
])
def test_test_bad_flags_are_one_line(tmp_path, cwd, args, fragments):
    work, checkpoint = tmp_path / 'work', tmp_path / 'empty.pth'
    torch.save({'state_dict': {}}, checkpoint)  # never loaded
    assert_one_line_error(
        run_tool(
            'test.py',
            MMPRETRAIN,
            str(checkpoint),
            '--work-dir',
            str(work),
            *args,
            cwd=cwd), *fragments)
    assert not work.exists()


def test_train_work_dir_cfg_options_auto_scale_lr_and_resume(tmp_path, cwd):
    work = tmp_path / 'work'
    options = [
        '--work-dir',
        str(work), '--cfg-options', 'default_hooks.checkpoint.interval=1',
        'train_dataloader.dataset.indices=8',
        'val_dataloader.dataset.indices=8'
    ]  # one iteration an epoch
    succeeded(
        run_tool(
            'train.py',
            MMPRETRAIN,
            '--auto-scale-lr',
            *options,
            'train_cfg.max_epochs=2',
            cwd=cwd))
    cfg = Config.fromfile(MMPRETRAIN)
    batch = cfg.train_dataloader.batch_size  # one process
    scaled = cfg.optim_wrapper.optimizer.lr * batch / \
        cfg.auto_scale_lr.base_batch_size
    second = torch.load(
        work / 'epoch_2.pth', map_location='cpu', weights_only=True)
    groups = second['optimizer']['param_groups']
    assert max(g['initial_lr'] for g in groups) == pytest.approx(scaled)
    ran = Config.fromfile(str(work / osp.basename(MMPRETRAIN)))
    assert ran.train_cfg.max_epochs == 2 and ran.auto_scale_lr.enable

    log = succeeded(
        run_tool(
            'train.py',
            MMPRETRAIN,
            '--resume',
            *options,
            'train_cfg.max_epochs=3',
            cwd=cwd))
    assert f"resumed epoch: 2, iter: {second['meta']['iter']}" in log
    assert 'Epoch(train) [3]' in log and 'Epoch(train) [2]' not in log
    assert (work / 'epoch_3.pth').exists()
    assert os.listdir(cwd) == ['data']


@pytest.mark.skipif(
    torch.cuda.is_available(), reason='tests the CPU-only message')
def test_train_amp_without_an_accelerator_is_one_line(tmp_path, cwd):
    work = tmp_path / 'work'
    assert_one_line_error(
        run_tool(
            'train.py', MMPRETRAIN, '--amp', '--work-dir', str(work), cwd=cwd),
        '--amp', 'CUDA', 'AmpOptimWrapper', 'docs/visualization.md')
    assert not work.exists()

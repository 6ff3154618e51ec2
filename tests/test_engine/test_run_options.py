"""The config changes behind the tools' flags, and the ``vsa_mm::`` prefix."""
import os.path as osp

import pytest
from mmengine.config import Config

from vsa_mm.cli.run_options import (dump_results_metric, enable_tta,
                                    enable_visualization, in_work_dir, task_of)
from vsa_mm.registry import drop_package_scope

HOOKS = {
    'mmdet': 'DetVisualizationHook',
    'mmseg': 'SegVisualizationHook',
    'mmpretrain': 'VisualizationHook',
}


def task_config(task: str, **extra) -> Config:
    return Config(
        dict(
            default_scope=task,
            work_dir='/runs/a',
            default_hooks=dict(visualization=dict(type=HOOKS[task])),
            visualizer=dict(
                type='Visualizer',
                vis_backends=[dict(type='LocalVisBackend')]),
            **extra))


@pytest.mark.parametrize('scope', [None, 'mmengine', 'vsa_mm'])
def test_task_of_names_a_scope_that_is_no_task(scope):
    with pytest.raises(ValueError, match=repr(scope)):
        task_of(Config(dict(default_scope=scope)))


def test_in_work_dir_normalises():
    assert in_work_dir('../b/p.pkl', '/runs/a') == '/runs/b/p.pkl'
    assert osp.isabs(in_work_dir('p.pkl', 'relative/work'))


def test_visualization_mmdet():
    cfg = task_config('mmdet')
    enable_visualization(cfg, show=True, wait_time=0.5, show_dir='vis')
    hook = cfg.default_hooks.visualization
    assert (hook.draw, hook.show, hook.wait_time) == (True, True, 0.5)
    assert hook.test_out_dir == '/runs/a/vis'


def test_visualization_mmseg_writes_images_into_show_dir():
    cfg = task_config('mmseg')
    enable_visualization(cfg, show_dir='/elsewhere/vis')
    hook = cfg.default_hooks.visualization
    assert (hook.draw, hook.show, hook.interval) == (True, False, 1)
    assert cfg.visualizer.vis_backends == [
        dict(type='LocalVisBackend', img_save_dir='/elsewhere/vis')
    ]


def test_visualization_mmpretrain_without_show_dir():
    cfg = task_config('mmpretrain')
    enable_visualization(cfg, show=True)
    hook = cfg.default_hooks.visualization
    assert (hook.enable, hook.show, hook.interval) == (True, True, 1)
    assert hook.out_dir is None


def test_visualization_needs_the_hook_and_a_valid_wait():
    cfg = task_config('mmdet')
    with pytest.raises(ValueError, match='-1'):
        enable_visualization(cfg, show=True, wait_time=-1)
    del cfg.default_hooks['visualization']
    with pytest.raises(ValueError, match='default_hooks.visualization'):
        enable_visualization(cfg, show=True)


def test_tta_wraps_the_model_and_replaces_the_pipeline():
    pipeline = [dict(type='LoadImageFromFile'), dict(type='TestTimeAug')]
    cfg = task_config(
        'mmseg',
        model=dict(type='EncoderDecoder'),
        tta_model=dict(type='SegTTAModel'),
        tta_pipeline=pipeline,
        test_dataloader=dict(dataset=dict(pipeline=[])))
    enable_tta(cfg)
    assert cfg.model == dict(
        type='SegTTAModel', module=dict(type='EncoderDecoder'))
    assert cfg.test_dataloader.dataset.pipeline == pipeline
    with pytest.raises(ValueError, match="'tta_model'"):
        enable_tta(task_config('mmseg', tta_pipeline=pipeline))


def test_dump_metric_per_task(tmp_path):
    from mmdet.evaluation import DumpDetResults
    from mmengine.evaluator import DumpResults
    out = str(tmp_path / 'p.pkl')
    assert type(dump_results_metric('mmdet', out)) is DumpDetResults
    assert type(dump_results_metric('mmseg', out)) is DumpResults
    with pytest.raises(ValueError, match="'p.json'"):
        dump_results_metric('mmdet', 'p.json')
    with pytest.raises(ValueError, match="'mmocr'"):
        dump_results_metric('mmocr', out)


def test_vsa_mm_prefix_is_registered_and_its_scope_dropped():
    from mmengine.config.utils import _get_package_and_cfg_path
    assert _get_package_and_cfg_path('vsa_mm::demo/a.py') == ('vsa_mm',
                                                              'demo/a.py')
    cfg = Config(
        dict(
            param_scheduler=[dict(type='LinearLR', _scope_='vsa_mm')],
            custom_hooks=[
                dict(type='vsa_mm.ExactResumeHook', _scope_='vsa_mm')
            ],
            model=dict(type='MaskRCNN', _scope_='mmdet'),
            backbone=dict(type='SwinTransformerVSA', _scope_='vsa_mm')))
    drop_package_scope(cfg)
    assert '_scope_' not in cfg.param_scheduler[0]
    assert cfg.custom_hooks[0]._scope_ == 'vsa_mm'  # vsa_mm's own types
    assert cfg.backbone._scope_ == 'vsa_mm'
    assert cfg.model._scope_ == 'mmdet'

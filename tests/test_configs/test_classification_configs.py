"""Every shipped config builds its model through its library's registry."""
import glob
import importlib
import os.path as osp
import re

import pytest
import torch
from helpers.paths import REPO
from mmengine.config import Config
from mmengine.registry import DefaultScope

ROOT = str(REPO)
CONFIGS = sorted(
    path for path in glob.glob(
        osp.join(ROOT, 'configs', 'mmpretrain', '*', '*.py'))
    if '_base_' not in path)


def test_there_are_configs():
    names = {osp.basename(path) for path in CONFIGS}
    assert {
        'swin-tiny-vsa_8xb128_in1k.py', 'swin-small-vsa_8xb128_in1k.py',
        'vitaev2-s-vsa_8xb128_in1k.py', 'vitaev2-48m-vsa_8xb128_in1k.py',
        'vitaev2-48m-vsa_in21k-pre_8xb128_in1k.py',
        'vitaev2-b-vsa_in21k-pre_8xb128_in1k.py', 'vitaev2-s_8xb128_in1k.py',
        'vitaev2-s-window_8xb128_in1k.py'
    } <= names


@pytest.mark.parametrize(
    'path', CONFIGS, ids=[osp.basename(p) for p in CONFIGS])
def test_classification_config_builds_and_computes_a_loss(path):
    cfg = Config.fromfile(path)
    ours = 'swin/' not in osp.relpath(path, ROOT)  # not mmpretrain's Swin
    if ours:
        assert cfg.custom_imports == dict(
            imports=['vsa_mm', 'vsa_mm.runtime.enable'],
            allow_failed_imports=False)
        importlib.import_module('vsa_mm')
    # The ImageNet-22K weights of the fine-tunes are not available here.
    cfg.model.backbone.pop('init_cfg', None)
    from mmpretrain.registry import MODELS
    from mmpretrain.structures import DataSample

    # As the Runner does: the top-level preprocessor completes the model's.
    cfg.model.setdefault('data_preprocessor', cfg.get('data_preprocessor'))
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(cfg.model)
    model.init_weights()
    # The recipes' values are locked by test_recipes.py.
    assert cfg.model.backbone.type.startswith('vsa_mm.') == ours
    gpus, batch = re.search(r'_(\d+)xb(\d+)_', osp.basename(path)).groups()
    assert cfg.train_dataloader.batch_size == int(batch)
    assert int(gpus) * int(batch) == 1024
    resize = cfg.test_dataloader.dataset.pipeline[1]
    # Swin evaluates at crop 0.875 (256 -> 224), ViTAE at 0.9 (248 -> 224)
    assert resize.scale == (248 if 'vitaev2' in path else 256)
    size = 64 if ours else 224  # mmpretrain's Swin needs 7x7 at stage 4
    samples = [DataSample().set_gt_label(label) for label in (1, 7)]
    data = model.data_preprocessor(
        dict(
            inputs=[torch.randint(0, 255,
                                  (3, size, size), dtype=torch.uint8)] * 2,
            data_samples=samples),
        training=True)
    losses = model(**data, mode='loss')
    assert torch.isfinite(losses['loss'])

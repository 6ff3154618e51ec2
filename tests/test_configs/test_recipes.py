"""The shipped recipes carry the values of the official runs.

Sources, per value: ViTAE-VSA's ``Image-Classification/main.py`` (lr scaling
by batch / 512, EMA decay 0.99996 per 512 images, 10 warm-up epochs from
1e-6, min lr 1e-5, 10 cool-down epochs, drop path 0.1) and
``training_scripts/*.sh`` (weight decay, 48M's 0.055 / drop path 0.25);
QFormer's Swin trainer (``main.py``, ``config.py``: EMA decay 0.99996 per
iteration, gradient clipping 5.0); ViTAE-VSA's
``Object-Detection/configs/`` (drop path per config, warm-up 500 iterations
at ratio 0.001, weight decay 0.045 in the two ViTAEv2-S 1x configs); Swin's
ImageNet-22K -> 1K fine-tune (2e-5 per 512 images).
"""
import math
import re
from typing import List

import pytest
import torch
from helpers.paths import CONFIGS, REPO
from mmengine.config import Config
from mmengine.registry import PARAM_SCHEDULERS

from vsa_mm.models.backbones import ViTAEv2

VITAE_1K = {
    # config: (arch, drop path, weight decay)
    'mmpretrain/vitaev2/vitaev2-s_8xb128_in1k.py': ('s', 0.1, 0.05),
    'mmpretrain/vitaev2/vitaev2-s-window_8xb128_in1k.py':
    ('s-window', 0.1, 0.05),
    'mmpretrain/vitaev2_vsa/vitaev2-s-vsa_8xb128_in1k.py':
    ('s-vsa', 0.1, 0.05),
    'mmpretrain/vitaev2_vsa/vitaev2-48m-vsa_8xb128_in1k.py':
    ('48m-vsa', 0.25, 0.055),
}
SWIN_1K = {
    'mmpretrain/swin_vsa/swin-tiny-vsa_8xb128_in1k.py': ('tiny', 0.2),
    'mmpretrain/swin_vsa/swin-small-vsa_8xb128_in1k.py': ('small', 0.3),
}
FINETUNE_22K = {
    'mmpretrain/vitaev2_vsa/vitaev2-48m-vsa_in21k-pre_8xb128_in1k.py':
    ('48m-vsa', 'checkpoints/vitaev2-48m-vsa_in21k.pth'),
    'mmpretrain/vitaev2_vsa/vitaev2-b-vsa_in21k-pre_8xb128_in1k.py':
    ('b-vsa', 'checkpoints/vitaev2-b-vsa_in21k.pth'),
}

_MASK = 'mask-rcnn_{}_fpn_ms-crop-{}_coco.py'
_CASCADE = 'cascade-mask-rcnn_{}_fpn_giou-4conv1fc_ms-crop-{}_coco.py'
# config: (nominal drop path, per-stage layout, weight decay)
VITAE_S = {'1x': (0.1, 'official', 0.045), '3x': (0.1, 'official', 0.05)}
SWIN_DETECTION = (0.2, None, 0.05)
DETECTION = {
    **{
        f'mmdet/vitaev2/{pattern.format(model, sched)}': VITAE_S[sched]
        for model in ('vitaev2-s', 'vitaev2-s-window')
        for pattern in (_MASK, _CASCADE)
        for sched in ('1x', '3x')
    },
    f"mmdet/vitaev2_vsa/{_MASK.format('vitaev2-s-vsa', '1x')}":
    (0.1, 'official', 0.05),
    f"mmdet/vitaev2_vsa/{_MASK.format('vitaev2-s-vsa', '3x')}":
    (0.25, 'official', 0.05),
    f"mmdet/vitaev2_vsa/{_CASCADE.format('vitaev2-s-vsa', '1x')}":
    (0.05, 'official', 0.05),
    f"mmdet/vitaev2_vsa/{_CASCADE.format('vitaev2-s-vsa', '3x')}":
    (0.25, 'official', 0.05),
    f"mmdet/vitaev2_vsa/{_MASK.format('vitaev2-48m-vsa', '3x')}":
    (0.35, 'official', 0.05),
    f"mmdet/vitaev2_vsa/{_CASCADE.format('vitaev2-48m-vsa', '3x')}":
    (0.45, 'official', 0.05),
    **{
        f'mmdet/swin_vsa/{pattern.format("swin-t-vsa", sched)}': SWIN_DETECTION
        for pattern in (_MASK, _CASCADE)
        for sched in ('1x', '3x')
    },
}
SEGMENTATION = sorted(
    str(path.relative_to(CONFIGS))
    for path in CONFIGS.glob('mmseg/*/upernet_*.py')
    if '_base_' not in path.parts)


def load(relative: str) -> Config:
    return Config.fromfile(str(CONFIGS / relative))


def official_drop_path_rates(depths: List[int], rate: float) -> List[float]:
    """Per-cell rates as the official ViTAEv2 code computes them:
    ``dpr[startDpr:NC_depth[i] + startDpr]`` with ``startDpr = 0 if i == 0
    else NC_depth[i - 1]``, written out here independently of vsa_mm."""
    step = rate / (sum(depths) - 1)
    dpr = [k * step for k in range(sum(depths))]
    rates = []
    for i, depth in enumerate(depths):
        start = 0 if i == 0 else depths[i - 1]
        rates += dpr[start:start + depth]
    return rates


def built_drop_path_rates(backbone_cfg: dict) -> List[float]:
    cfg = {
        k: v
        for k, v in backbone_cfg.items() if k not in ('type', 'init_cfg')
    }
    model = ViTAEv2(**cfg)
    return [
        cell.drop_path.drop_prob for stage in model.stages
        for cell in stage.normals
    ]


def hook(cfg: Config, hook_type: str) -> dict:
    found = [h for h in cfg.custom_hooks if h['type'] == hook_type]
    assert len(found) == 1, f'{hook_type} in {cfg.custom_hooks}'
    return found[0]


def simulate_epoch_lr(cfg: Config, epochs: int) -> List[float]:
    """The lr of each epoch under the config's (epoch-stepped) schedulers."""
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=cfg.optim_wrapper.optimizer.lr)
    schedulers = []
    for scheduler in cfg.param_scheduler:
        assert not scheduler.get('convert_to_iter_based', False)
        schedulers.append(
            PARAM_SCHEDULERS.build(dict(scheduler, optimizer=optimizer)))
    lrs = []
    for _ in range(epochs):
        lrs.append(optimizer.param_groups[0]['lr'])
        for scheduler in schedulers:
            scheduler.step()
    return lrs


def timm_cosine_lr(epoch: int) -> float:
    """timm's CosineLRScheduler with the official ViTAE arguments (peak
    1e-3, warm-up 10 epochs from 1e-6, min 1e-5, 300-epoch cycle)."""
    peak, warmup_lr, min_lr = 1e-3, 1e-6, 1e-5
    if epoch < 10:
        return warmup_lr + epoch * (peak - warmup_lr) / 10
    if epoch >= 300:
        return min_lr
    cosine = 1 + math.cos(math.pi * epoch / 300)
    return min_lr + 0.5 * (peak - min_lr) * cosine


@pytest.mark.parametrize('relative', sorted(VITAE_1K))
def test_vitaev2_imagenet_recipe(relative):
    arch, drop_path, weight_decay = VITAE_1K[relative]
    cfg = load(relative)
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.lr) == ('AdamW', 1e-3)
    assert optimizer.weight_decay == weight_decay
    assert optimizer.eps == 1e-8 and tuple(optimizer.betas) == (0.9, 0.999)
    # timm's create_optimizer: no decay on 1-D parameters and biases only
    # (relative position bias tables are decayed).
    paramwise = cfg.optim_wrapper.paramwise_cfg
    assert paramwise.flat_decay_mult == 0 and paramwise.bias_decay_mult == 0
    assert not paramwise.get('custom_keys')
    assert 'clip_grad' not in cfg.optim_wrapper
    assert cfg.train_dataloader.batch_size == 128
    assert cfg.auto_scale_lr.base_batch_size == 1024
    assert cfg.train_cfg.max_epochs == 310
    ema = hook(cfg, 'EMAHook')
    # 0.99996 per 512 images = 0.99992 per iteration of 1024 images.
    assert ema['momentum'] == pytest.approx(1 - 0.99996**2, rel=1e-3)
    assert ema['update_buffers'] is True
    checkpoint = cfg.default_hooks.checkpoint
    assert checkpoint.save_best == 'accuracy/top1'
    assert checkpoint.rule == 'greater'
    backbone = cfg.model.backbone
    assert (backbone.arch, backbone.drop_path_rate,
            backbone.drop_path_schedule) == (arch, drop_path, 'official')


def test_vitaev2_schedule_matches_timm_within_the_stated_bound():
    cfg = load('mmpretrain/vitaev2_vsa/vitaev2-s-vsa_8xb128_in1k.py')
    lrs = simulate_epoch_lr(cfg, 310)
    expected = [timm_cosine_lr(epoch) for epoch in range(310)]
    # Warm-up and cool-down are exact; the cosine differs in phase only.
    assert lrs[:10] == pytest.approx(expected[:10], rel=1e-9)
    assert lrs[10] == pytest.approx(1e-3)
    assert lrs[300:] == pytest.approx(expected[300:], rel=1e-9)
    gap = max(abs(a - b) for a, b in zip(lrs, expected)) / 1e-3
    assert 0.02 < gap < 0.031


@pytest.mark.parametrize('relative', sorted(SWIN_1K))
def test_swin_vsa_imagenet_recipe(relative):
    arch, drop_path = SWIN_1K[relative]
    cfg = load(relative)
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.lr, optimizer.weight_decay) == (1e-3, 0.05)
    assert cfg.optim_wrapper.clip_grad.max_norm == 5.0
    custom_keys = cfg.optim_wrapper.paramwise_cfg.custom_keys
    assert custom_keys['.relative_position_bias_table'].decay_mult == 0
    warmup, cosine = cfg.param_scheduler
    assert warmup.start_factor * optimizer.lr == pytest.approx(1e-6)
    assert (warmup.end, cosine.begin, cosine.eta_min) == (20, 20, 1e-5)
    assert cfg.train_cfg.max_epochs == 300
    assert cfg.train_dataloader.batch_size == 128
    ema = hook(cfg, 'EMAHook')
    # QFormer's main.py: 0.99996 per 512 images = 0.99992 per iteration of
    # 8 x 128 images.
    assert ema['momentum'] == pytest.approx(1 - 0.99996**2, rel=1e-3)
    assert cfg.default_hooks.checkpoint.save_best == 'accuracy/top1'
    assert (cfg.model.backbone.arch,
            cfg.model.backbone.drop_path_rate) == (arch, drop_path)


@pytest.mark.parametrize('relative', sorted(FINETUNE_22K))
def test_in21k_finetune_recipe(relative):
    arch, pretrained = FINETUNE_22K[relative]
    cfg = load(relative)
    optimizer = cfg.optim_wrapper.optimizer
    # Swin's fine-tune, 2e-5 / 2e-7 / 2e-8 per 512 images, at 1024.
    assert optimizer.lr == pytest.approx(4e-5)
    assert optimizer.weight_decay == 1e-8
    warmup, cosine = cfg.param_scheduler
    assert warmup.start_factor * optimizer.lr == pytest.approx(4e-8)
    assert cosine.eta_min == pytest.approx(4e-7)
    assert (warmup.end, cosine.begin, cosine.end) == (5, 5, 30)
    assert cfg.train_cfg.max_epochs == 30
    backbone = cfg.model.backbone
    assert backbone.arch == arch
    assert backbone.init_cfg.type == 'Pretrained'
    assert backbone.init_cfg.checkpoint == pretrained
    hook(cfg, 'vsa_mm.RequirePretrainedHook')


@pytest.mark.parametrize('relative', sorted(DETECTION))
def test_detection_recipe(relative):
    drop_path, schedule, weight_decay = DETECTION[relative]
    cfg = load(relative)
    backbone = cfg.model.backbone
    assert backbone.drop_path_rate == drop_path
    assert backbone.get('drop_path_schedule') == schedule
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.lr) == ('AdamW', 1e-4)
    assert optimizer.weight_decay == weight_decay
    warmup, steps = cfg.param_scheduler
    assert (warmup.type, warmup.start_factor, warmup.by_epoch,
            warmup.end) == ('LinearLR', 0.001, False, 500)
    three_x = '-3x_' in relative
    assert steps.milestones == ([27, 33] if three_x else [8, 11])
    assert cfg.train_cfg.max_epochs == (36 if three_x else 12)
    assert cfg.train_dataloader.batch_size == 2
    assert cfg.auto_scale_lr.base_batch_size == 16


@pytest.mark.parametrize('relative', SEGMENTATION)
def test_segmentation_recipe(relative):
    cfg = load(relative)
    assert '_8xb2-' in relative
    assert cfg.train_dataloader.batch_size == 2
    assert cfg.auto_scale_lr.base_batch_size == 16
    backbone = cfg.model.get('module', cfg.model).backbone
    if 'swin' in relative:
        # Swin-T and Swin-T + VSA are a comparison: same drop path.
        assert backbone.drop_path_rate == 0.3
    else:
        assert (backbone.drop_path_rate,
                backbone.drop_path_schedule) == (0.2, 'official')


def test_segmentation_usage_lines_use_the_config_batch():
    """Every documented launch of a segmentation config uses 8 GPUs."""
    documents = [
        REPO / 'README.md', *REPO.glob('docs/**/*.md'),
        *CONFIGS.glob('mmseg/**/README.md')
    ]
    launches = []
    for document in documents:
        text = document.read_text(encoding='utf-8').replace('\\\n', ' ')
        launches += re.findall(r'mim train mmseg [^\n]*--gpus \d+', text)
    assert launches, 'no documented multi-GPU segmentation launch'
    assert all(line.endswith('--gpus 8') for line in launches), launches


CONFIGS_WITH_OFFICIAL_LAYOUT = sorted([
    *VITAE_1K, *(rel for rel in DETECTION if DETECTION[rel][1]),
    *(rel for rel in SEGMENTATION if 'vitaev2' in rel and 'ms-flip' not in rel)
])


@pytest.mark.parametrize('relative', CONFIGS_WITH_OFFICIAL_LAYOUT)
def test_built_backbone_has_the_official_per_cell_rates(relative):
    cfg = load(relative)
    backbone = dict(cfg.model.backbone)
    depths = ViTAEv2.arch_zoo[backbone['arch']]['depths']
    rates = built_drop_path_rates(backbone)
    expected = official_drop_path_rates(depths, backbone['drop_path_rate'])
    assert rates == pytest.approx(expected, abs=1e-6)
    # The official layout gives the last stages less than the nominal rate.
    assert max(rates) < backbone['drop_path_rate']


def test_linear_layout_reaches_the_nominal_rate():
    rates = built_drop_path_rates(
        dict(arch='s-vsa', drop_path_rate=0.3, drop_path_schedule='linear'))
    assert rates[0] == 0 and rates[-1] == pytest.approx(0.3)
    assert rates == sorted(rates)


IMAGENET_ROWS = [
    'mmpretrain/swin/swin-tiny_16xb64_in1k.py',
    'mmpretrain/swin/swin-small_16xb64_in1k.py', *SWIN_1K, *VITAE_1K,
    *FINETUNE_22K
]


@pytest.mark.parametrize('relative', IMAGENET_ROWS)
def test_every_imagenet_row_has_a_config(relative):
    cfg = load(relative)
    assert cfg.model.type == 'ImageClassifier'
    assert cfg.model.head.num_classes == 1000


def test_metafiles_keep_the_papers_numbers_apart():
    """No metafile presents a paper's number as a result of our weights."""
    import yaml
    index = yaml.safe_load((REPO / 'model-index.yml').read_text())
    models = []
    for relative in index['Import']:
        models += yaml.safe_load((REPO / relative).read_text())['Models']
    assert len(models) >= 40
    for model in models:
        assert not model.get('Results'), model['Name']
        assert not model.get('Weights'), model['Name']
    assert sum('Paper Results' in model for model in models) >= 38

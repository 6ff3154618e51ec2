"""What mmdet, mmseg and mmpretrain need from every vsa_mm backbone.

Each test runs on both backbones, small enough for a CPU.
"""
import math

import pytest
import torch
from helpers.models import SWIN_SMALL
from helpers.official import SMALL
from mmengine.registry import DefaultScope
from torch.nn.modules.batchnorm import _BatchNorm

from vsa_mm.models import SwinTransformerVSA, ViTAEv2, VSAWindowAttention

BACKBONES = {
    'SwinTransformerVSA': (SwinTransformerVSA, SWIN_SMALL),
    'ViTAEv2': (ViTAEv2, SMALL),
}


@pytest.fixture(params=sorted(BACKBONES))
def backbone(request):
    """``build(**kwargs)`` for a small model of each backbone class."""
    cls, arch = BACKBONES[request.param]

    def build(**kwargs):
        return cls(arch=arch, **kwargs)

    build.cls, build.arch = cls, arch
    return build


def stage_modules(model):
    return list(model.stages)


@pytest.mark.parametrize('hw', [(224, 224), (511, 511), (112, 137), (65, 33),
                                (800, 1216)])
def test_any_input_size_gives_four_strided_maps(backbone, hw):
    model = backbone().eval()
    with torch.no_grad():
        outs = model(torch.rand(1, 3, *hw))
    assert len(outs) == 4
    height, width = math.ceil(hw[0] / 4), math.ceil(hw[1] / 4)
    for index, out in enumerate(outs):
        assert out.shape[1] == model.num_features[index]
        assert tuple(out.shape[-2:]) == (height, width), index
        assert torch.isfinite(out).all()
        height, width = math.ceil(height / 2), math.ceil(width / 2)


def test_out_indices_select_and_may_count_from_the_end(backbone):
    model = backbone(out_indices=(1, -1)).eval()
    assert model.out_indices == (1, 3)
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 64, 64))
    assert [out.shape[1]
            for out in outs] == [model.num_features[1], model.num_features[3]]


def test_frozen_stages_have_no_gradients_and_stay_in_eval(backbone):
    model = backbone(frozen_stages=2)
    model.train()
    stages = stage_modules(model)
    for stage in stages[:2]:
        assert not stage.training
        assert all(not p.requires_grad for p in stage.parameters())
    for stage in stages[2:]:
        assert stage.training
        assert all(p.requires_grad for p in stage.parameters())


def test_norm_eval_keeps_batch_norms_in_eval(backbone):
    model = backbone(norm_eval=True)
    model.add_module('extra_bn', torch.nn.BatchNorm2d(4))  # as heads add
    model.train()
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert norms and not any(m.training for m in norms)
    assert stage_modules(model)[0].training


def test_with_cp_gives_the_same_gradients(backbone):
    torch.manual_seed(0)
    plain = backbone(drop_path_rate=0.)
    for name, param in plain.named_parameters():
        if 'sampling_' in name:  # windows that really move
            torch.nn.init.normal_(param, std=0.1)
    checkpointed = backbone(drop_path_rate=0., with_cp=True)
    checkpointed.load_state_dict(plain.state_dict())
    x = torch.rand(2, 3, 64, 72)
    sum(out.sum() for out in plain(x)).backward()
    sum(out.sum() for out in checkpointed(x)).backward()
    for (name, param), other in zip(
            plain.named_parameters(), checkpointed.parameters(), strict=True):
        torch.testing.assert_close(param.grad, other.grad, msg=name)


def test_drop_path_rises_linearly_to_the_nominal_rate(backbone):
    model = backbone(drop_path_rate=0.3)
    rates = [
        module.drop_prob for name, module in model.named_modules()
        if name.endswith('.drop_path') and '.reduction.' not in name
    ]
    assert rates == pytest.approx(torch.linspace(0, 0.3, len(rates)).tolist())


def test_pretrained_init_cfg_with_prefix_loads_every_weight(
        backbone, tmp_path):
    source = backbone()
    for param in source.parameters():
        torch.nn.init.normal_(param, std=0.1)
    path = str(tmp_path / 'classifier.pth')
    torch.save(
        {
            'state_dict': {
                f'backbone.{k}': v
                for k, v in source.state_dict().items()
            }
        }, path)
    model = backbone(
        init_cfg=dict(type='Pretrained', checkpoint=path, prefix='backbone.'))
    model.init_weights()
    for key, value in source.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value, msg=key)


def test_init_keeps_the_windows_at_their_defaults(backbone):
    model = backbone()
    model.init_weights()
    heads = [(name, param) for name, param in model.named_parameters()
             if 'sampling_' in name]
    assert heads and not any(param.any() for _, param in heads)


@pytest.mark.parametrize('package', ['mmdet', 'mmseg', 'mmpretrain'])
def test_builds_from_each_library_registry(backbone, package):
    registry = pytest.importorskip(f'{package}.registry').MODELS
    with DefaultScope.overwrite_default_scope(package):
        model = registry.build(
            dict(type=f'vsa_mm.{backbone.cls.__name__}', arch=backbone.arch))
    assert isinstance(model, backbone.cls)


def _vsa_backends_by_stage(model) -> list:
    return [{
        layer.backend
        for layer in stage.modules() if isinstance(layer, VSAWindowAttention)
    } for stage in model.stages]


def test_attn_cfg_reaches_every_vsa_layer(backbone):
    model = backbone(attn_cfg=dict(backend='reference', proj_drop=0.25))
    layers = [m for m in model.modules() if isinstance(m, VSAWindowAttention)]
    assert layers and all(
        layer.backend == 'reference' and layer.proj_drop.p == 0.25
        for layer in layers)
    assert _vsa_backends_by_stage(backbone()) == [{'auto'}] * 4


def test_attn_cfg_per_stage(backbone):
    model = backbone(attn_cfg=[None, dict(backend='gather'), None, None])
    assert _vsa_backends_by_stage(model) == [{'auto'}, {'gather'}, {'auto'},
                                             {'auto'}]


@pytest.mark.parametrize('attn_cfg,error,words', [
    (dict(window_size=5), ValueError, ['window_size', "backbone's"]),
    (dict(num_heads=2), ValueError, ['num_heads']),
    ([dict(backend='gather')], ValueError, ['1 entries', '4 stages']),
    ('gather', TypeError, ["'gather'"]),
    (dict(backend='fast'), ValueError, ["'fast'"]),
])
def test_bad_attn_cfg_names_the_value(backbone, attn_cfg, error, words):
    with pytest.raises(error) as info:
        backbone(attn_cfg=attn_cfg)
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize('kwargs,error,words', [
    (dict(arch='huge'), ValueError, ['huge']),
    (dict(arch=7), TypeError, ['7']),
    (dict(out_indices=(4, )), ValueError, ['(4,)']),
    (dict(out_indices=()), ValueError, ['()']),
    (dict(frozen_stages=5), ValueError, ['5']),
    (dict(frozen_stages=-2), ValueError, ['-2']),
])
def test_bad_arguments_name_the_value(backbone, kwargs, error, words):
    with pytest.raises(error) as info:
        backbone.cls(**kwargs)
    for word in words:
        assert word in str(info.value)

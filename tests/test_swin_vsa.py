"""Tests of the Swin + VSA backbone."""
import importlib

import pytest
import torch
from mmengine.registry import DefaultScope

from vsa_mm.models import SwinTransformerVSA
from vsa_mm.models.layers import VSAWindowAttention

SHALLOW = dict(embed_dims=32, depths=[1, 1, 1, 1], num_heads=[1, 2, 4, 8])


def vsa_layers(model):
    return [m for m in model.modules() if isinstance(m, VSAWindowAttention)]


@pytest.fixture(scope='module')
def tiny():
    model = SwinTransformerVSA('tiny')
    model.init_weights()
    return model.eval()


@pytest.mark.parametrize('hw', [(224, 224), (511, 511), (112, 137)])
def test_tiny_output_shapes(tiny, hw):
    with torch.no_grad():
        outs = tiny(torch.rand(1, 3, *hw))
    height, width = -(-hw[0] // 4), -(-hw[1] // 4)
    expected = []
    for channels in (96, 192, 384, 768):
        expected.append((1, channels, height, width))
        height, width = -(-height // 2), -(-width // 2)
    assert [tuple(out.shape) for out in outs] == expected
    assert all(torch.isfinite(out).all() for out in outs)


def test_detection_sized_input():
    model = SwinTransformerVSA(SHALLOW, out_indices=(0, 3)).eval()
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 800, 1216))
    assert [tuple(out.shape) for out in outs] == [(1, 32, 200, 304),
                                                  (1, 256, 25, 38)]


def test_arch_zoo_and_aliases():
    assert SwinTransformerVSA.arch_zoo['t'] is SwinTransformerVSA.arch_zoo[
        'tiny']
    small = SwinTransformerVSA('S')
    assert [len(stage.blocks) for stage in small.stages] == [2, 2, 18, 2]
    base = SwinTransformerVSA('base', out_indices=(-1, ))
    assert base.num_features == [128, 256, 512, 1024]
    assert base.out_indices == (3, )


def test_drop_path_rates_follow_the_running_depth():
    model = SwinTransformerVSA('tiny', drop_path_rate=0.3)
    rates = [
        block.drop_path.drop_prob for stage in model.stages
        for block in stage.blocks
    ]
    expected = torch.linspace(0, 0.3, 12).tolist()
    assert rates == pytest.approx(expected)
    assert model.stages[2].blocks[0].drop_path.drop_prob == pytest.approx(
        expected[4])


def test_init_keeps_regression_zero_and_linear_small():
    model = SwinTransformerVSA(SHALLOW)
    model.init_weights()
    for layer in vsa_layers(model):
        for head in (layer.sampling_offsets, layer.sampling_scales):
            assert not head.proj.weight.any()
    qkv = model.stages[0].blocks[0].attn.qkv.weight
    assert 0.01 < qkv.std() < 0.03


def test_pretrained_init_cfg_with_prefix_loads_every_weight(tmp_path):
    source = SwinTransformerVSA(SHALLOW)
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
    model = SwinTransformerVSA(
        SHALLOW,
        init_cfg=dict(type='Pretrained', checkpoint=path, prefix='backbone.'))
    model.init_weights()
    for key, value in source.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value, msg=key)


def test_frozen_stages_have_no_gradients_and_stay_in_eval():
    model = SwinTransformerVSA(SHALLOW, frozen_stages=2)
    model.train()
    frozen = [model.patch_embed, model.stages[0], model.stages[1],
              model.norm0, model.norm1]
    for module in frozen:
        assert not module.training
        assert all(not p.requires_grad for p in module.parameters())
    for module in (model.stages[2], model.stages[3], model.norm2):
        assert module.training
        assert all(p.requires_grad for p in module.parameters())


def test_with_cp_gives_the_same_gradients():
    torch.manual_seed(0)
    plain = SwinTransformerVSA(SHALLOW, drop_path_rate=0.)
    for layer in vsa_layers(plain):
        torch.nn.init.normal_(layer.sampling_offsets.proj.weight, std=0.1)
    checkpointed = SwinTransformerVSA(
        SHALLOW, drop_path_rate=0., with_cp=True)
    checkpointed.load_state_dict(plain.state_dict())
    x = torch.rand(2, 3, 64, 72)
    sum(out.sum() for out in plain(x)).backward()
    sum(out.sum() for out in checkpointed(x)).backward()
    for (name, param), other in zip(
            plain.named_parameters(), checkpointed.parameters(), strict=True):
        torch.testing.assert_close(param.grad, other.grad, msg=name)


@pytest.mark.parametrize('package', ['mmdet', 'mmseg', 'mmpretrain'])
def test_builds_from_each_library_registry(package):
    registry = importlib.import_module(f'{package}.registry').MODELS
    with DefaultScope.overwrite_default_scope(package):
        model = registry.build(
            dict(type='vsa_mm.SwinTransformerVSA', arch=SHALLOW))
    assert isinstance(model, SwinTransformerVSA)


def test_mmpretrain_classifier_trains_a_step():
    from mmpretrain.registry import MODELS
    from mmpretrain.structures import DataSample
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        classifier = MODELS.build(
            dict(
                type='ImageClassifier',
                backbone=dict(
                    type='vsa_mm.SwinTransformerVSA',
                    arch=SHALLOW,
                    out_indices=(3, )),
                neck=dict(type='GlobalAveragePooling'),
                head=dict(
                    type='LinearClsHead',
                    num_classes=5,
                    in_channels=256,
                    loss=dict(type='CrossEntropyLoss'))))
    classifier.init_weights()
    samples = [DataSample().set_gt_label(label) for label in (0, 3)]
    losses = classifier(torch.rand(2, 3, 64, 64), samples, mode='loss')
    losses['loss'].backward()
    assert torch.isfinite(losses['loss'])
    assert classifier.backbone.stages[0].blocks[0].attn.qkv.weight.grad \
        is not None


@pytest.mark.parametrize('kwargs,error,words', [
    (dict(arch='huge'), ValueError, ['huge']),
    (dict(arch=dict(embed_dims=32, depths=[1])), ValueError, ['num_heads']),
    (dict(arch=7), TypeError, ['7']),
    (dict(out_indices=(4, )), ValueError, ['(4,)']),
    (dict(frozen_stages=5), ValueError, ['5']),
])
def test_bad_arguments(kwargs, error, words):
    with pytest.raises(error) as info:
        SwinTransformerVSA(**kwargs)
    for word in words:
        assert word in str(info.value)

"""Tests of the Swin + VSA backbone."""

import pytest
import torch
from helpers.models import mmpretrain_classifier

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


def test_frozen_stages_also_freeze_the_patch_embedding_and_norms():
    model = SwinTransformerVSA(SHALLOW, frozen_stages=2)
    model.train()
    for module in (model.patch_embed, model.norm0, model.norm1):
        assert not module.training
        assert all(not p.requires_grad for p in module.parameters())
    assert model.norm2.training


def test_arch_zoo_and_aliases():
    assert SwinTransformerVSA.arch_zoo['t'] is SwinTransformerVSA.arch_zoo[
        'tiny']
    small = SwinTransformerVSA('S')
    assert [len(stage.blocks) for stage in small.stages] == [2, 2, 18, 2]
    base = SwinTransformerVSA('base', out_indices=(-1, ))
    assert base.num_features == [128, 256, 512, 1024]
    assert base.out_indices == (3, )


def test_init_keeps_regression_zero_and_linear_small():
    model = SwinTransformerVSA(SHALLOW)
    model.init_weights()
    for layer in vsa_layers(model):
        for head in (layer.sampling_offsets, layer.sampling_scales):
            assert not head.proj.weight.any()
    qkv = model.stages[0].blocks[0].attn.qkv.weight
    assert 0.01 < qkv.std() < 0.03


def test_mmpretrain_classifier_trains_a_step():
    from mmpretrain.structures import DataSample
    classifier = mmpretrain_classifier(
        dict(
            type='vsa_mm.SwinTransformerVSA', arch=SHALLOW, out_indices=(3, )),
        num_classes=5,
        in_channels=256)
    classifier.init_weights()
    samples = [DataSample().set_gt_label(label) for label in (0, 3)]
    losses = classifier(torch.rand(2, 3, 64, 64), samples, mode='loss')
    losses['loss'].backward()
    assert torch.isfinite(losses['loss'])
    assert classifier.backbone.stages[0].blocks[0].attn.qkv.weight.grad \
        is not None


@pytest.mark.parametrize('kwargs,error,words', [
    (dict(arch=dict(embed_dims=32, depths=[1])), ValueError, ['num_heads']),
    (dict(arch=dict(SHALLOW, depths=[1, 1])), ValueError, ['depths']),
])
def test_bad_arguments(kwargs, error, words):
    with pytest.raises(error) as info:
        SwinTransformerVSA(**kwargs)
    for word in words:
        assert word in str(info.value)

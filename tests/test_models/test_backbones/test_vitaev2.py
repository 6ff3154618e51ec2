"""Tests of ViTAEv2 + VSA and its official-checkpoint converter."""
import functools
import math
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from helpers.official import (SMALL, assert_converted_at_load_time,
                              official_vitaev2_vsa_state_dict)
from helpers.paths import CONFIGS, DATA, TOOLS
from mmengine.registry import DefaultScope

from vsa_mm.models import ViTAEv2
from vsa_mm.models.backbones.vitaev2 import PyramidReduction
from vsa_mm.models.utils import convert_vitaev2_vsa


@pytest.mark.parametrize('arch,channels', [
    ('s-vsa', (64, 128, 256, 512)),
    ('48m-vsa', (96, 192, 384, 768)),
    ('b-vsa', (128, 256, 512, 1024)),
    ('s', (64, 128, 256, 512)),
    ('48m', (96, 192, 384, 768)),
    ('b', (128, 256, 512, 1024)),
    ('s-window', (64, 128, 256, 512)),
])
def test_presets_output_shapes(arch, channels):
    model = ViTAEv2(arch).eval()
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 224, 224))
    assert [tuple(o.shape) for o in outs] == [(1, c, 56 // 2**i, 56 // 2**i)
                                              for i, c in enumerate(channels)]


@pytest.mark.parametrize('kernel,stride,dilation', [(7, 4, 1), (7, 4, 4),
                                                    (3, 2, 1), (3, 2, 2)])
def test_pyramid_reduction_matches_official_padding(kernel, stride, dilation):
    """For sizes divisible by the stride: the official symmetric padding."""
    torch.manual_seed(0)
    prm = PyramidReduction(5, 4, kernel, stride, [dilation])
    x = torch.randn(2, 5, 8 * stride, 4 * stride)
    padding = math.ceil(((kernel - 1) * dilation + 1 - stride) / 2)
    conv = prm.convs[0]
    expected = F.gelu(
        F.conv2d(x, conv.weight, conv.bias, stride, padding, dilation))
    torch.testing.assert_close(prm(x), expected)


def test_reduction_cell_scale_follows_its_input_width():
    model = ViTAEv2('s-vsa')
    # stage 1: PRM width 64 * 4 = 256, 2 heads
    assert model.stages[0].reduction.attn.scale == pytest.approx(128**-0.5)
    assert model.stages[0].normals[0].attn.scale == pytest.approx(32**-0.5)


def test_normal_cell_position_encoding_feeds_attention_only():
    torch.manual_seed(0)
    cell = ViTAEv2(SMALL).stages[1].normals[0].eval()
    x = torch.randn(1, 49, 32)
    with torch.no_grad():
        cell.attn.proj.weight.zero_()
        cell.attn.proj.bias.zero_()
        before = cell(x, (7, 7))
        cell.cpe.proj.weight.normal_()
        after = cell(x, (7, 7))
    torch.testing.assert_close(before, after)


def test_official_checkpoint_converts_and_loads_strictly():
    official = official_vitaev2_vsa_state_dict(SMALL)
    backbone, head = convert_vitaev2_vsa(official)
    model = ViTAEv2(SMALL)
    model.load_state_dict(backbone, strict=True)
    assert set(head) == {'fc.weight', 'fc.bias'}
    # 1x1-convolution projections act on tokens as the Linear layers do
    attn = model.stages[0].reduction.attn
    tokens = torch.randn(2, 9, 64)
    conv_out = F.conv2d(
        tokens.transpose(1, 2).reshape(2, 64, 3, 3),
        official['layers.0.RC.attn.qkv.weight'],
        official['layers.0.RC.attn.qkv.bias']).flatten(2).transpose(1, 2)
    torch.testing.assert_close(attn.qkv(tokens), conv_out)


def test_unknown_keys_are_refused():
    official = official_vitaev2_vsa_state_dict(SMALL)
    official['layers.0.RC.attn.rel_pos_h'] = torch.zeros(1)
    with pytest.raises(ValueError, match='rel_pos_h'):
        convert_vitaev2_vsa(official)


def test_command_line_converter_recognises_the_preset(tmp_path):
    official = official_vitaev2_vsa_state_dict(
        ViTAEv2.arch_zoo['s-vsa'], classes=1000)
    src, dst = tmp_path / 'official.pth', tmp_path / 'converted.pth'
    torch.save({'state_dict_ema': official}, src)
    result = subprocess.run([
        sys.executable,
        str(TOOLS / 'model_converters' / 'vitaev2_vsa_to_vsa_mm.py'),
        str(src),
        str(dst)
    ],
                            check=True,
                            capture_output=True,
                            text=True)
    assert "arch='s-vsa'" in result.stderr + result.stdout
    model = ViTAEv2(
        's-vsa',
        init_cfg=dict(
            type='Pretrained', checkpoint=str(dst), prefix='backbone.'))
    model.init_weights()
    expected, _ = convert_vitaev2_vsa(official)
    for key, value in expected.items():
        torch.testing.assert_close(model.state_dict()[key], value, msg=key)


def test_norm_eval_freezes_the_convolution_branches_batch_norms():
    model = ViTAEv2(SMALL, norm_eval=True)
    model.train()
    stage1 = model.stages[1]
    assert not stage1.reduction.pcm[1].training
    assert stage1.reduction.norm1.training


@pytest.mark.parametrize('kwargs,error,words', [
    (dict(arch=dict(embed_dims=[1])), ValueError, ['prm_dims']),
    (dict(arch=dict(SMALL, token_dims=[1])), ValueError,
     ['token_dims', 'prm_dims']),
    (dict(arch=dict(SMALL, colour='red')), ValueError, ['colour']),
    (dict(arch=dict(SMALL, depths=[1, 1])), ValueError, ['depths']),
    (dict(arch=dict(SMALL, attn_cfgs='vsa')), ValueError, ['attn_cfgs']),
    (dict(drop_path_schedule='quadratic'), ValueError, ['quadratic']),
])
def test_bad_arguments(kwargs, error, words):
    with pytest.raises(error) as info:
        ViTAEv2(**kwargs)
    for word in words:
        assert word in str(info.value)


def test_convert_weights_at_load_time(tmp_path):
    assert_converted_at_load_time(
        functools.partial(ViTAEv2, SMALL),
        official_vitaev2_vsa_state_dict(SMALL), convert_vitaev2_vsa, tmp_path)


def test_converted_checkpoint_loads_into_the_shipped_classifier(tmp_path):
    """The CLI converter, then the shipped config: converted weights load
    strictly into the classifier and give finite logits."""
    from mmengine.config import Config
    from mmengine.runner import load_checkpoint
    from mmpretrain.registry import MODELS
    official = official_vitaev2_vsa_state_dict(
        ViTAEv2.arch_zoo['s-vsa'], classes=1000)
    src, dst = tmp_path / 'official.pth', tmp_path / 'converted.pth'
    torch.save({'model': official}, src)
    subprocess.run([
        sys.executable,
        str(TOOLS / 'model_converters' / 'vitaev2_vsa_to_vsa_mm.py'),
        str(src),
        str(dst)
    ],
                   check=True,
                   capture_output=True)
    cfg = Config.fromfile(
        str(CONFIGS / 'mmpretrain' / 'vitaev2_vsa' /
            'vitaev2-s-vsa_8xb128_in1k.py'))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        classifier = MODELS.build(cfg.model).eval()
    load_checkpoint(classifier, str(dst), strict=True)
    torch.testing.assert_close(classifier.head.fc.weight,
                               official['head.weight'])
    with torch.no_grad():
        logits = classifier(torch.rand(1, 3, 224, 224), mode='tensor')
    assert logits.shape == (1, 1000) and torch.isfinite(logits).all()


def test_presets_keep_the_state_dict_of_the_first_release():
    """Checkpoints written before the arch keys were renamed still load:
    every preset has exactly the keys and shapes it had then (digests of
    the sorted ``key shape`` listing, made with the code of commit
    6c5c68e)."""
    import hashlib
    import json
    digests = json.loads(
        (DATA / 'vitaev2_state_dict_digests.json').read_text())
    assert set(digests) == set(ViTAEv2.arch_zoo)
    for name, expected in digests.items():
        state = ViTAEv2(name).state_dict()
        listing = '\n'.join(f'{key} {"x".join(map(str, value.shape))}'
                            for key, value in sorted(state.items()))
        assert len(state) == expected['keys'], name
        assert hashlib.sha256(
            listing.encode()).hexdigest() == expected['sha256'], name


@pytest.mark.parametrize('arch', ['s-vsa', '48m-vsa', 'b-vsa'])
def test_preset_is_read_off_the_tensor_shapes(arch):
    official = official_vitaev2_vsa_state_dict(ViTAEv2.arch_zoo[arch])
    backbone, _ = convert_vitaev2_vsa(official)
    assert ViTAEv2.preset_of(backbone) == arch


def test_unknown_shapes_match_no_preset():
    backbone, _ = convert_vitaev2_vsa(official_vitaev2_vsa_state_dict(SMALL))
    with pytest.raises(ValueError, match='none'):
        ViTAEv2.preset_of(backbone)


class _ErfGELU(torch.nn.Module):
    """The exact GELU as elementwise operations, whose backward is right
    for any memory layout."""

    def forward(self, x):
        return 0.5 * x * (1 + torch.erf(x * 0.5**0.5))


def test_gradients_match_float64_with_an_elementwise_gelu():
    """Every parameter's gradient against float64 with GELU written out: a
    torch whose exact-GELU backward is wrong for channels-last gradients
    (torch 2.1) must get them right too (``vsa_mm.compat``)."""
    torch.manual_seed(0)
    model = ViTAEv2(arch=SMALL, drop_path_rate=0.)
    for name, param in model.named_parameters():
        if 'sampling_' in name:  # windows that really move
            torch.nn.init.normal_(param, std=0.1)
    reference = ViTAEv2(arch=SMALL, drop_path_rate=0.).double()
    reference.load_state_dict(model.state_dict())
    for name, module in list(reference.named_modules()):
        for child_name, child in module.named_children():
            if isinstance(child, torch.nn.GELU):
                setattr(module, child_name, _ErfGELU())
    x = torch.rand(2, 3, 64, 72)
    sum(out.sum() for out in model(x)).backward()
    sum(out.sum() for out in reference(x.double())).backward()
    largest = max(p.grad.abs().max() for p in reference.parameters())
    for (name, param), expected in zip(
            model.named_parameters(), reference.parameters(), strict=True):
        error = (param.grad.double() - expected.grad).abs().max()
        assert error <= 1e-4 * largest, (name, float(error), float(largest))

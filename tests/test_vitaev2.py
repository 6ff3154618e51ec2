"""Tests of ViTAEv2 + VSA and its official-checkpoint converter."""
import importlib
import math
import subprocess
import sys
from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F
from mmengine.registry import DefaultScope

from vsa_mm.models import ViTAEv2
from vsa_mm.models.backbones.vitaev2 import PyramidReduction
from vsa_mm.models.utils import convert_vitaev2_vsa

SMALL = dict(
    prm_dims=[16, 16, 32, 32],
    embed_dims=[16, 32, 64, 64],
    depths=[1, 1, 1, 1],
    num_heads=[1, 2, 4, 4],
    reduction_heads=[1, 1, 2, 2],
    groups=[1, 8, 16, 16],
    reduction_groups=[1, 4, 8, 8])


def official_vitaev2_vsa_state_dict(settings, window=7, classes=10, seed=0):
    """Keys and shapes of ViTAE-VSA's Image-Classification/vitaev2_vsa."""
    settings = {**ViTAEv2.arch_defaults, **settings}
    generator = torch.Generator().manual_seed(seed)
    state = OrderedDict()

    def add(key, *shape):
        state[key] = torch.randn(*shape, generator=generator) * 0.1

    def bn(prefix, channels):
        add(prefix + 'weight', channels)
        add(prefix + 'bias', channels)
        add(prefix + 'running_mean', channels)
        state[prefix + 'running_var'] = torch.rand(
            channels, generator=generator) + 0.5
        state[prefix + 'num_batches_tracked'] = torch.tensor(7)

    def vsa(prefix, in_dims, out_dims, heads):
        for head in ('sampling_offsets', 'sampling_scales'):
            add(f'{prefix}{head}.2.weight', 2 * heads, in_dims, 1, 1)
            add(f'{prefix}{head}.2.bias', 2 * heads)
        add(prefix + 'qkv.weight', 3 * out_dims, in_dims, 1, 1)
        add(prefix + 'qkv.bias', 3 * out_dims)
        add(prefix + 'proj.weight', out_dims, out_dims, 1, 1)
        add(prefix + 'proj.bias', out_dims)
        add(prefix + 'relative_position_bias_table', (2 * window - 1)**2,
            heads)
        state[prefix + 'relative_position_index'] = torch.zeros(
            window**2, window**2, dtype=torch.long)

    in_channels = 3
    for i, depth in enumerate(settings['depths']):
        embed, token = settings['prm_dims'][i], settings['embed_dims'][i]
        prm_dims = embed * len(settings['dilations'][i])
        kernel = settings['kernel_sizes'][i]
        groups = settings['reduction_groups'][i]
        hidden = 2 * token if settings['wide_pcm'] else embed
        rc = f'layers.{i}.RC.'
        for j, _ in enumerate(settings['dilations'][i]):
            add(f'{rc}PRM.convs.{j}.0.weight', embed, in_channels, kernel,
                kernel)
            add(f'{rc}PRM.convs.{j}.0.bias', embed)
        add(rc + 'pos.weight', prm_dims, 1, 7, 7)
        add(rc + 'pos.bias', prm_dims)
        add(rc + 'norm1.weight', prm_dims)
        add(rc + 'norm1.bias', prm_dims)
        vsa(rc + 'attn.', prm_dims, token, settings['reduction_heads'][i])
        add(rc + 'PCM.0.weight', hidden, in_channels // groups, 3, 3)
        add(rc + 'PCM.0.bias', hidden)
        bn(rc + 'PCM.1.', hidden)
        add(rc + 'PCM.3.weight', hidden, hidden // groups, 3, 3)
        add(rc + 'PCM.3.bias', hidden)
        bn(rc + 'PCM.4.', hidden)
        add(rc + 'PCM.6.weight', token, hidden // groups, 3, 3)
        add(rc + 'PCM.6.bias', token)
        add(rc + 'norm2.weight', token)
        add(rc + 'norm2.bias', token)
        add(rc + 'mlp.fc1.weight', token, token)
        add(rc + 'mlp.fc1.bias', token)
        add(rc + 'mlp.fc2.weight', token, token)
        add(rc + 'mlp.fc2.bias', token)
        groups = settings['groups'][i]
        for j in range(depth):
            nc = f'layers.{i}.NC.{j}.'
            add(nc + 'norm1.weight', token)
            add(nc + 'norm1.bias', token)
            add(nc + 'pos.weight', token, 1, 7, 7)
            add(nc + 'pos.bias', token)
            vsa(nc + 'attn.', token, token, settings['num_heads'][i])
            add(nc + 'PCM.0.weight', 4 * token, token // groups, 3, 3)
            add(nc + 'PCM.0.bias', 4 * token)
            bn(nc + 'PCM.1.', 4 * token)
            add(nc + 'PCM.3.weight', token, 4 * token // groups, 3, 3)
            add(nc + 'PCM.3.bias', token)
            bn(nc + 'PCM.4.', token)
            add(nc + 'PCM.6.weight', token, token // groups, 3, 3)
            add(nc + 'PCM.6.bias', token)
            add(nc + 'norm2.weight', token)
            add(nc + 'norm2.bias', token)
            add(nc + 'mlp.fc1.weight', 4 * token, token)
            add(nc + 'mlp.fc1.bias', 4 * token)
            add(nc + 'mlp.fc2.weight', token, 4 * token)
            add(nc + 'mlp.fc2.bias', token)
        in_channels = token
    add('head.weight', classes, in_channels)
    add('head.bias', classes)
    return state


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
    assert [tuple(o.shape) for o in outs] == [
        (1, c, 56 // 2**i, 56 // 2**i) for i, c in enumerate(channels)
    ]


@pytest.mark.parametrize('hw', [(511, 511), (112, 137), (800, 1216),
                                (65, 33)])
def test_any_input_size(hw):
    model = ViTAEv2(SMALL).eval()
    with torch.no_grad():
        outs = model(torch.rand(1, 3, *hw))
    height, width = math.ceil(hw[0] / 4), math.ceil(hw[1] / 4)
    for index, out in enumerate(outs):
        assert tuple(out.shape[-2:]) == (height, width), index
        assert torch.isfinite(out).all()
        height, width = math.ceil(height / 2), math.ceil(width / 2)


@pytest.mark.parametrize('kernel,stride,dilation', [(7, 4, 1), (7, 4, 4),
                                                    (3, 2, 1), (3, 2, 2)])
def test_pyramid_reduction_matches_official_padding(kernel, stride,
                                                    dilation):
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


def test_drop_path_follows_the_running_depth():
    model = ViTAEv2('s-vsa', drop_path_rate=0.3)
    rates = [
        cell.drop_path.drop_prob for stage in model.stages
        for cell in stage.normals
    ]
    assert rates == pytest.approx(torch.linspace(0, 0.3, 14).tolist())


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
        sys.executable, 'tools/model_converters/vitaev2_vsa_to_vsa_mm.py',
        str(src), str(dst)
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


def test_frozen_stages_and_norm_eval():
    model = ViTAEv2(SMALL, frozen_stages=1, norm_eval=True)
    model.train()
    stage0, stage1 = model.stages[0], model.stages[1]
    assert not stage0.training
    assert all(not p.requires_grad for p in stage0.parameters())
    assert all(p.requires_grad for p in stage1.parameters())
    assert not stage1.reduction.pcm[1].training  # BatchNorm under norm_eval
    assert stage1.reduction.norm1.training


def test_with_cp_gives_the_same_gradients():
    torch.manual_seed(0)
    plain = ViTAEv2(SMALL, drop_path_rate=0.)
    checkpointed = ViTAEv2(SMALL, drop_path_rate=0., with_cp=True)
    checkpointed.load_state_dict(plain.state_dict())
    x = torch.rand(2, 3, 64, 56)
    sum(out.sum() for out in plain(x)).backward()
    sum(out.sum() for out in checkpointed(x)).backward()
    for (name, param), other in zip(
            plain.named_parameters(), checkpointed.parameters(), strict=True):
        torch.testing.assert_close(param.grad, other.grad, msg=name)


@pytest.mark.parametrize('package', ['mmdet', 'mmseg', 'mmpretrain'])
def test_builds_from_each_library_registry(package):
    registry = importlib.import_module(f'{package}.registry').MODELS
    with DefaultScope.overwrite_default_scope(package):
        model = registry.build(dict(type='vsa_mm.ViTAEv2', arch=SMALL))
    assert isinstance(model, ViTAEv2)


@pytest.mark.parametrize('kwargs,error,words', [
    (dict(arch='xl'), ValueError, ['xl']),
    (dict(arch=dict(embed_dims=[1])), ValueError, ['prm_dims']),
    (dict(arch=dict(SMALL, token_dims=[1])), ValueError,
     ['token_dims', 'prm_dims']),
    (dict(arch=dict(SMALL, depths=[1, 1])), ValueError, ['depths']),
    (dict(out_indices=(5, )), ValueError, ['(5,)']),
    (dict(frozen_stages=9), ValueError, ['9']),
])
def test_bad_arguments(kwargs, error, words):
    with pytest.raises(error) as info:
        ViTAEv2(**kwargs)
    for word in words:
        assert word in str(info.value)


def test_convert_weights_at_load_time(tmp_path):
    official = official_vitaev2_vsa_state_dict(SMALL)
    path = tmp_path / 'official.pth'
    torch.save({'model': official}, path)
    model = ViTAEv2(
        SMALL,
        convert_weights=True,
        init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()
    expected, _ = convert_vitaev2_vsa(official)
    for key, value in expected.items():
        torch.testing.assert_close(model.state_dict()[key], value, msg=key)


def test_converted_checkpoint_loads_into_the_shipped_classifier(tmp_path):
    """The outside check's path: CLI converter, then the fixed config."""
    from mmengine.config import Config
    from mmengine.runner import load_checkpoint
    from mmpretrain.registry import MODELS
    official = official_vitaev2_vsa_state_dict(
        ViTAEv2.arch_zoo['s-vsa'], classes=1000)
    src, dst = tmp_path / 'official.pth', tmp_path / 'converted.pth'
    torch.save({'model': official}, src)
    subprocess.run([
        sys.executable, 'tools/model_converters/vitaev2_vsa_to_vsa_mm.py',
        str(src), str(dst)
    ],
                   check=True,
                   capture_output=True)
    cfg = Config.fromfile(
        'configs/mmpretrain/vitaev2_vsa/vitaev2-s-vsa_8xb128_in1k.py')
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
    from pathlib import Path
    digests = json.loads(
        (Path(__file__).resolve().parent / 'data' /
         'vitaev2_state_dict_digests.json').read_text())
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

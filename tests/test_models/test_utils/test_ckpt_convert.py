"""Official Swin / Swin + VSA checkpoints convert and load exactly."""
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from helpers.models import mmpretrain_classifier
from helpers.official import (ARCH, CLASSES, WINDOW,
                              assert_converted_at_load_time,
                              official_swin_state_dict)
from helpers.paths import TOOLS
from mmcv.cnn.bricks.transformer import PatchMerging
from mmengine.runner import load_checkpoint

from vsa_mm.models import SwinTransformerVSA
from vsa_mm.models.utils import (convert_swin, infer_swin_arch,
                                 swin_merge_to_unfold, unwrap_state_dict)


def backbone(**kwargs):
    return SwinTransformerVSA(
        ARCH, window_size=WINDOW, out_indices=(1, ), **kwargs)


def test_swin_vsa_checkpoint_loads_strictly_into_backbone_and_classifier():
    converted, head = convert_swin(official_swin_state_dict(vsa=True))
    backbone().load_state_dict(converted, strict=True)
    assert set(head) == {'fc.weight', 'fc.bias'}
    classifier = mmpretrain_classifier(
        dict(
            type='vsa_mm.SwinTransformerVSA',
            arch=ARCH,
            window_size=WINDOW,
            out_indices=(1, )),
        num_classes=CLASSES,
        in_channels=32)
    state = {f'backbone.{k}': v for k, v in converted.items()}
    state.update({f'head.{k}': v for k, v in head.items()})
    classifier.load_state_dict(state, strict=True)


def test_infer_arch_reads_sizes_back():
    converted, _ = convert_swin(official_swin_state_dict(vsa=True))
    assert infer_swin_arch(converted) == (ARCH, WINDOW)


def test_patch_merging_matches_swin_concatenation_order():
    """mmcv's unfold-based merging with converted weights equals Swin's
    ``cat([x[0::2, 0::2], x[1::2, 0::2], x[0::2, 1::2], x[1::2, 1::2]])``."""
    torch.manual_seed(0)
    channels = 6
    reduction = torch.randn(2 * channels, 4 * channels)
    norm_weight, norm_bias = torch.randn(2, 4 * channels)
    x = torch.randn(2, 4, 6, channels)
    blocks = [
        x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]
    ]
    merged = torch.cat(blocks, -1).view(2, -1, 4 * channels)
    expected = F.layer_norm(merged, (4 * channels, ), norm_weight,
                            norm_bias) @ reduction.T

    merging = PatchMerging(channels, 2 * channels)
    merging.load_state_dict({
        'reduction.weight': swin_merge_to_unfold(reduction),
        'norm.weight': swin_merge_to_unfold(norm_weight),
        'norm.bias': swin_merge_to_unfold(norm_bias),
    })
    out, out_hw = merging(x.view(2, 24, channels), (4, 6))
    assert out_hw == (2, 3)
    torch.testing.assert_close(out, expected)


def test_regression_conv_splits_into_offsets_and_scales():
    """QFormer reads the 4*heads channels as (b*heads, 4): x, y offsets then
    x, y scales; the converted heads regress the same numbers."""
    official = official_swin_state_dict(vsa=True)
    converted, _ = convert_swin(official)
    model = backbone()
    model.load_state_dict(converted)
    attn = model.stages[0].blocks[0].attn
    pooled = torch.randn(1, 2, 3, ARCH['embed_dims'])
    weight = official['layers.0.blocks.0.attn.transform.2.weight']
    bias = official['layers.0.blocks.0.attn.transform.2.bias']
    regressed = F.conv2d(
        F.leaky_relu(pooled.permute(0, 3, 1, 2)), weight, bias)
    regressed = regressed.reshape(2, 4, 2,
                                  3).permute(2, 3, 0,
                                             1).reshape(1, 6, 2,
                                                        4)  # (B, nW, heads, 4)
    torch.testing.assert_close(
        attn.sampling_offsets(pooled), regressed[..., :2])
    torch.testing.assert_close(
        attn.sampling_scales(pooled), regressed[..., 2:])


def test_microsoft_swin_leaves_only_vsa_parts_new():
    converted, _ = convert_swin(official_swin_state_dict(vsa=False))
    result = backbone().load_state_dict(converted, strict=False)
    assert result.unexpected_keys == []
    assert {k.split('.', 4)[-1]
            for k in result.missing_keys} == {
                'cpe.proj.weight', 'cpe.proj.bias',
                'attn.sampling_offsets.proj.weight',
                'attn.sampling_offsets.proj.bias',
                'attn.sampling_scales.proj.weight',
                'attn.sampling_scales.proj.bias'
            }


@pytest.mark.parametrize('extra', ['absolute_pos_embed', 'layers.0.foo'])
def test_unknown_keys_are_refused(extra):
    state = official_swin_state_dict(vsa=True)
    state[extra] = torch.zeros(1)
    with pytest.raises(ValueError, match=extra):
        convert_swin(state)


def test_unwrap_state_dict():
    weights = {'a': torch.zeros(1)}
    ema = {'a': torch.ones(1)}
    assert unwrap_state_dict({'model': weights}) == weights
    # The EMA weights are taken by default, as the official runs use them.
    assert unwrap_state_dict({
        'state_dict': weights,
        'state_dict_ema': ema
    }) == ema
    assert unwrap_state_dict({
        'state_dict': weights,
        'state_dict_ema': ema
    },
                             prefer_ema=False) == weights
    assert unwrap_state_dict({'state_dict_ema': ema}) == ema
    assert unwrap_state_dict({'module.a': weights['a']}) == weights
    with pytest.raises(TypeError, match='epoch'):
        unwrap_state_dict({'epoch': 3, 'a': torch.zeros(1)})
    with pytest.raises(TypeError, match='list'):
        unwrap_state_dict([1])


@pytest.mark.parametrize('vsa,wrapper', [
    (True, 'model'),
    (True, 'state_dict_ema'),
    (False, 'model'),
    (False, None),
])
def test_command_line_converter(tmp_path, vsa, wrapper):
    official = official_swin_state_dict(vsa=vsa)
    src, dst = tmp_path / 'official.pth', tmp_path / 'converted.pth'
    torch.save(official if wrapper is None else {wrapper: official}, src)
    subprocess.run([
        sys.executable,
        str(TOOLS / 'model_converters' / 'swin_to_vsa_mm.py'),
        str(src),
        str(dst), *(['--vsa'] if vsa else [])
    ],
                   check=True,
                   capture_output=True)
    expected, _ = convert_swin(official)
    model = backbone(
        init_cfg=dict(
            type='Pretrained', checkpoint=str(dst), prefix='backbone.'))
    model.init_weights()
    for key, value in expected.items():
        torch.testing.assert_close(model.state_dict()[key], value, msg=key)
    classifier_state = torch.load(dst, weights_only=False)['state_dict']
    assert classifier_state['head.fc.weight'].shape == (CLASSES, 32)


def test_vsa_converter_refuses_a_plain_swin_checkpoint(tmp_path):
    src = tmp_path / 'swin.pth'
    torch.save({'model': official_swin_state_dict(vsa=False)}, src)
    result = subprocess.run([
        sys.executable,
        str(TOOLS / 'model_converters' / 'swin_to_vsa_mm.py'),
        str(src),
        str(tmp_path / 'out.pth'), '--vsa'
    ],
                            capture_output=True,
                            text=True)
    assert result.returncode != 0
    assert 'without --vsa' in result.stderr
    assert not (tmp_path / 'out.pth').exists()


def test_convert_weights_at_load_time(tmp_path):
    assert_converted_at_load_time(backbone, official_swin_state_dict(vsa=True),
                                  convert_swin, tmp_path)


def test_convert_weights_needs_a_pretrained_checkpoint():
    with pytest.raises(ValueError, match='Pretrained'):
        backbone(convert_weights=True)


def test_loading_through_mmengine_load_checkpoint(tmp_path):
    converted, _ = convert_swin(official_swin_state_dict(vsa=True))
    path = tmp_path / 'backbone.pth'
    torch.save({'state_dict': converted}, path)
    model = backbone()
    load_checkpoint(model, str(path), strict=True)
    torch.testing.assert_close(model.norm1.weight, converted['norm1.weight'])

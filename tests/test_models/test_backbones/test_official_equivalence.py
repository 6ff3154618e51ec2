"""Converted official weights give the official models' logits.

The references (``helpers.official``) re-implement the official forward
passes op by op on the official state dicts, sharing no code with vsa_mm's
modules.
"""
import torch
import torch.nn.functional as F
from helpers.official import (ARCH, CLASSES, SMALL, WINDOW,
                              official_swin_state_dict,
                              official_swin_vsa_logits,
                              official_vitaev2_vsa_logits,
                              official_vitaev2_vsa_state_dict)

from vsa_mm.models import SwinTransformerVSA, ViTAEv2
from vsa_mm.models.utils import convert_swin, convert_vitaev2_vsa


def test_converted_swin_vsa_reproduces_official_logits():
    official = official_swin_state_dict(vsa=True, seed=3)
    official = {
        k: v.double() if v.is_floating_point() else v
        for k, v in official.items()
    }
    for key in official:  # moderate regression: windows move and stretch
        if 'transform' in key:
            official[key] = official[key] * 0.3
    # 40x56 -> 10x14 tokens (padded to 12x15 windows), then 5x7
    images = torch.rand(2, 3, 40, 56, dtype=torch.float64)
    expected = official_swin_vsa_logits(official, images)

    backbone_state, head_state = convert_swin(official)
    model = SwinTransformerVSA(
        ARCH, window_size=WINDOW, out_indices=(1, )).double().eval()
    model.load_state_dict(backbone_state, strict=True)
    with torch.no_grad():
        features = model(images)[-1].mean((2, 3))
    logits = F.linear(features, head_state['fc.weight'], head_state['fc.bias'])
    assert logits.shape == (2, CLASSES)
    torch.testing.assert_close(logits, expected, rtol=1e-9, atol=1e-9)


def test_converted_vitaev2_vsa_reproduces_official_logits():
    official = official_vitaev2_vsa_state_dict(SMALL, classes=CLASSES)
    official = {
        k: v.double() if v.is_floating_point() else v
        for k, v in official.items()
    }
    images = torch.rand(2, 3, 224, 224, dtype=torch.float64)
    expected = official_vitaev2_vsa_logits(official, images, SMALL)

    backbone_state, head_state = convert_vitaev2_vsa(official)
    model = ViTAEv2(SMALL, out_indices=(3, )).double().eval()
    model.load_state_dict(backbone_state, strict=True)
    with torch.no_grad():
        features = model(images)[-1].mean((2, 3))
    logits = F.linear(features, head_state['fc.weight'], head_state['fc.bias'])
    torch.testing.assert_close(logits, expected, rtol=1e-9, atol=1e-9)

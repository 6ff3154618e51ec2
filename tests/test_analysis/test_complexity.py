"""FLOP counting includes VSA's fused key/value sampling."""
import subprocess
import sys

import torch
from helpers.paths import DEV, TOOLS

from vsa_mm.analysis import count_flops_and_params
from vsa_mm.models import VSAWindowAttention


def test_vsa_layer_flops_match_a_hand_count():
    channels, heads, window, side = 32, 2, 7, 14
    layer = VSAWindowAttention(channels, heads, window_size=window).eval()
    tokens = side * side
    windows, per_window = (side // window)**2, window * window
    head_dims = channels // heads
    samples = windows * heads * per_window
    expected = (
        tokens * channels * channels  # q projection
        + tokens * channels * 2 * channels  # k/v projection (fused)
        + samples * 4 * 2 * head_dims  # bilinear gather, 4 neighbours
        + 2 * windows * heads * per_window * per_window * head_dims  # attn
        + tokens * channels * channels  # output projection
        + 2 * windows * channels * 2 * heads)  # offset and scale heads
    with torch.no_grad():
        flops, params = count_flops_and_params(
            layer, (torch.rand(1, tokens, channels), (side, side)))
    assert flops == expected
    assert params == sum(p.numel() for p in layer.parameters())


def test_complexity_tool_prints_every_preset():
    result = subprocess.run([
        sys.executable,
        str(TOOLS / 'analysis_tools' / 'model_complexity.py')
    ],
                            check=True,
                            capture_output=True,
                            text=True)
    rows = [
        line for line in result.stdout.splitlines()
        if line.startswith('| ') and 'VSA' in line
    ]
    assert len(rows) == 6
    swin_tiny = next(row for row in rows if row.startswith('| Swin-T'))
    params, flops = (float(v) for v in swin_tiny.split('|')[3:5])
    assert 27 < params < 30 and 4 < flops < 5.5


def test_sdpa_attention_is_counted():
    from vsa_mm.models import MultiheadSelfAttention
    channels, heads, tokens = 16, 4, 30
    layer = MultiheadSelfAttention(channels, heads).eval()
    with torch.no_grad():
        flops, _ = count_flops_and_params(layer,
                                          (torch.rand(2, tokens, channels),
                                           (5, 6)))
    projections = 2 * tokens * channels * 4 * channels  # qkv + proj
    attention = 2 * heads * tokens * tokens * 2 * (channels // heads)
    assert flops == projections + attention


def test_docs_tables_match_the_tools():
    """docs/ shows what the complexity and parameter tools print now."""
    result = subprocess.run(
        [sys.executable,
         str(DEV / 'update_docs.py'), '--check'],
        capture_output=True,
        text=True)
    assert result.returncode == 0, result.stderr


def test_standard_mmengine_counter_sees_the_vsa_op():
    """``get_model_complexity_info``, which mmpretrain's, mmdet's and mmseg's
    ``get_flops`` tools call, counts VSA's op once vsa_mm is imported."""
    from mmengine.analysis import FlopAnalyzer, get_model_complexity_info

    from vsa_mm.models import SwinTransformerVSA
    arch = dict(embed_dims=32, depths=[1, 1, 2, 1], num_heads=[1, 2, 4, 8])
    model = SwinTransformerVSA(arch=arch).eval()
    images = torch.rand(1, 3, 112, 112)
    with torch.no_grad():
        ours, _ = count_flops_and_params(model, (images, ))
        standard = get_model_complexity_info(
            model, inputs=(images, ), show_table=False, show_arch=False)
    assert standard['flops'] == ours
    # The default handles alone (what the tools construct) count the gather:
    # 4 neighbours x (key + value) channels per sampled token.
    analyzer = FlopAnalyzer(model, (images, ))
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    with torch.no_grad():
        by_operator = analyzer.by_operator()
    expected = sum(4 * 2 * layer.out_dims * 49 * layer.num_heads *
                   (size // 7)**2 // layer.num_heads
                   for layer, size in _vsa_layers_and_sides(model, 112))
    assert by_operator['bilinear_gather'] == expected


def _vsa_layers_and_sides(model, image_size):
    # (layer, padded map side) of each VSA layer; stage i sees size / 4 / 2^i.
    for index, stage in enumerate(model.stages):
        side = -(-image_size // 4 // 2**index // 7) * 7
        for block in stage.blocks:
            yield block.attn, side

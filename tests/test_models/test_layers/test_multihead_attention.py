"""MultiheadSelfAttention against independent references."""
import pytest
import torch
import torch.nn as nn

from vsa_mm.models import MultiheadSelfAttention


def as_torch_mha(layer: MultiheadSelfAttention) -> nn.MultiheadAttention:
    reference = nn.MultiheadAttention(
        layer.embed_dims, layer.num_heads, batch_first=True).double()
    with torch.no_grad():
        reference.in_proj_weight.copy_(layer.qkv.weight)
        reference.in_proj_bias.copy_(layer.qkv.bias)
        reference.out_proj.weight.copy_(layer.proj.weight)
        reference.out_proj.bias.copy_(layer.proj.bias)
    return reference


def test_full_attention_equals_torch_multihead_attention():
    torch.manual_seed(0)
    layer = MultiheadSelfAttention(16, 4).double()
    x = torch.randn(2, 30, 16, dtype=torch.float64)
    expected, _ = as_torch_mha(layer)(x, x, x, need_weights=False)
    torch.testing.assert_close(layer(x, (5, 6)), expected)


@pytest.mark.parametrize('hw', [(6, 9), (7, 11)])
def test_window_attention_is_torch_attention_per_padded_window(hw):
    """Windows of 3 after symmetric zero padding (extra at bottom/right)."""
    torch.manual_seed(0)
    layer = MultiheadSelfAttention(8, 2, window_size=3).double()
    reference = as_torch_mha(layer)
    height, width = hw
    x = torch.randn(1, height, width, 8, dtype=torch.float64)
    pad_h, pad_w = -height % 3, -width % 3
    padded = torch.zeros(
        1, height + pad_h, width + pad_w, 8, dtype=torch.float64)
    top, left = pad_h // 2, pad_w // 2
    padded[:, top:top + height, left:left + width] = x
    expected = torch.zeros_like(padded)
    for i in range(0, height + pad_h, 3):
        for j in range(0, width + pad_w, 3):
            window = padded[:, i:i + 3, j:j + 3].reshape(1, 9, 8)
            out, _ = reference(window, window, window, need_weights=False)
            expected[:, i:i + 3, j:j + 3] = out.view(1, 3, 3, 8)
    expected = expected[:, top:top + height, left:left + width]
    out = layer(x.view(1, -1, 8), hw)
    torch.testing.assert_close(out, expected.reshape(1, -1, 8))


def test_width_change_with_value_skip_by_hand():
    torch.manual_seed(0)
    layer = MultiheadSelfAttention(
        6, 2, out_dims=4, qkv_bias=False, value_skip=True).double()
    x = torch.randn(1, 5, 6, dtype=torch.float64)
    q, k, v = (x @ layer.qkv.weight.T).split(4, dim=-1)
    heads = []
    for h in range(2):
        qh, kh, vh = (t[..., 2 * h:2 * h + 2] for t in (q, k, v))
        weights = torch.softmax(qh @ kh.transpose(1, 2) / 2**0.5, dim=-1)
        heads.append(weights @ vh)
    expected = layer.proj(torch.cat(heads, -1)) + v
    torch.testing.assert_close(layer(x, (1, 5)), expected)
    assert layer.qkv.bias is None


def test_bad_arguments():
    with pytest.raises(ValueError, match='out_dims \\(10\\)'):
        MultiheadSelfAttention(8, 4, out_dims=10)
    with pytest.raises(ValueError, match='window_size'):
        MultiheadSelfAttention(8, 2, window_size=0)

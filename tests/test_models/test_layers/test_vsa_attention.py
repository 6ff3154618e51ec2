"""Tests of VSAWindowAttention against independent references."""
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.models.utils import WindowMSA
from torch.func import functional_call
from torch.utils._python_dispatch import TorchDispatchMode

from vsa_mm.models import VSAWindowAttention
from vsa_mm.models.layers.backends.gather import sample_projected_rows
from vsa_mm.registry import MODELS

REGRESSION_KEYS = {
    'sampling_offsets.proj.weight', 'sampling_offsets.proj.bias',
    'sampling_scales.proj.weight', 'sampling_scales.proj.bias'
}


def randomise_regression(layer: VSAWindowAttention,
                         std: float = 0.3,
                         seed: int = 0) -> None:
    """Give the regression heads non-zero weights (windows move/stretch)."""
    generator = torch.Generator().manual_seed(seed)
    for head in (layer.sampling_offsets, layer.sampling_scales):
        for param in (head.proj.weight, head.proj.bias):
            with torch.no_grad():
                param.copy_(
                    torch.randn(param.shape, generator=generator) * std)


def windows_by_hand(x: torch.Tensor, ws: int) -> torch.Tensor:
    """(B, H, W, C) -> (B * nW, ws * ws, C) with plain loops."""
    batch, height, width, _ = x.shape
    out = []
    for b in range(batch):
        for i in range(0, height, ws):
            for j in range(0, width, ws):
                out.append(x[b, i:i + ws, j:j + ws].reshape(ws * ws, -1))
    return torch.stack(out)


def merge_by_hand(windows: torch.Tensor, batch: int, height: int, width: int,
                  ws: int) -> torch.Tensor:
    out = windows.new_zeros(batch, height, width, windows.shape[-1])
    index = 0
    for b in range(batch):
        for i in range(0, height, ws):
            for j in range(0, width, ws):
                out[b, i:i + ws, j:j + ws] = windows[index].view(ws, ws, -1)
                index += 1
    return out


@pytest.mark.parametrize('backend', ['gather', 'reference'])
@pytest.mark.parametrize('hw,ws,channels,heads', [((7, 7), 7, 12, 3),
                                                  ((14, 21), 7, 16, 2),
                                                  ((28, 14), 7, 8, 4),
                                                  ((8, 12), 4, 6, 3)])
def test_zero_regression_equals_window_msa(hw, ws, channels, heads, backend):
    """Zero-initialised VSA is mmpretrain's WindowMSA window by window."""
    torch.manual_seed(0)
    reference = WindowMSA(channels, (ws, ws), heads).double()
    reference.init_weights()
    for param in reference.parameters():
        nn.init.normal_(param, std=0.5)
    vsa = VSAWindowAttention(
        channels, heads, window_size=ws, backend=backend).double()
    result = vsa.load_state_dict(reference.state_dict(), strict=False)
    assert set(result.missing_keys) == REGRESSION_KEYS
    assert result.unexpected_keys == []

    height, width = hw
    x = torch.randn(2, height, width, channels, dtype=torch.float64)
    expected = merge_by_hand(
        reference(windows_by_hand(x, ws)), 2, height, width, ws)
    out = vsa(x.view(2, height * width, channels), hw)
    expected = expected.view_as(out)
    relative_error = (out - expected).norm() / expected.norm()
    assert relative_error < 1e-6


def test_state_dict_with_derived_index_loads_strictly():
    reference = WindowMSA(8, (7, 7), 2)
    vsa = VSAWindowAttention(8, 2)
    state = dict(vsa.state_dict())
    state['relative_position_index'] = reference.relative_position_index
    vsa.load_state_dict(state, strict=True)
    assert 'relative_position_index' not in vsa.state_dict()
    assert set(vsa.state_dict()) == {
        'qkv.weight', 'qkv.bias', 'proj.weight', 'proj.bias',
        'relative_position_bias_table'
    } | REGRESSION_KEYS


def box_mean_layer(channels: int,
                   hw: tuple,
                   backend: str = 'auto') -> VSAWindowAttention:
    """A layer whose output at every token is the mean of its window's
    sampled values, and whose values are the input itself."""
    layer = VSAWindowAttention(
        channels, 1, window_size=7, backend=backend).double()
    with torch.no_grad():
        layer.qkv.weight.zero_()
        layer.qkv.bias.zero_()
        layer.qkv.weight[2 * channels:] = torch.eye(channels)
        layer.proj.weight.copy_(torch.eye(channels))
        layer.proj.bias.zero_()
    return layer


@pytest.mark.parametrize('backend', ['gather', 'reference'])
@pytest.mark.parametrize('axis', ['x', 'y'])
def test_pure_offset_moves_content_along_its_axis_only(axis, backend):
    """On a 14x28 map (nh=2, nw=4), an offset of exactly one window moves
    every window onto its right (x) or lower (y) neighbour."""
    height, width, ws = 14, 28, 7
    layer = box_mean_layer(1, (height, width), backend)
    windows_h, windows_w = height // ws, width // ws
    # One window = ws pixels = ws * 2 / (side - 1) in normalised units; the
    # layer divides the x offset by nw and the y offset by nh.
    if axis == 'x':
        offset = ws * 2 / (width - 1) * windows_w
        channel = 0
    else:
        offset = ws * 2 / (height - 1) * windows_h
        channel = 1
    with torch.no_grad():
        layer.sampling_offsets.proj.bias[channel] = offset

    x = torch.arange(height * width, dtype=torch.float64).view(1, -1, 1)
    out = layer(x, (height, width)).view(height, width)
    image = x.view(height, width)
    for i in range(windows_h):
        for j in range(windows_w):
            si, sj = (i, j + 1) if axis == 'x' else (i + 1, j)
            window = out[i * ws:(i + 1) * ws, j * ws:(j + 1) * ws]
            if si < windows_h and sj < windows_w:
                expected = image[si * ws:(si + 1) * ws,
                                 sj * ws:(sj + 1) * ws].mean()
            else:  # sampled entirely outside the map: zeros
                expected = torch.zeros((), dtype=torch.float64)
            torch.testing.assert_close(
                window, expected.expand_as(window), rtol=0, atol=1e-9)


@pytest.mark.parametrize('backend', ['gather', 'reference'])
@pytest.mark.parametrize('hw', [(1, 1), (3, 5), (6, 6), (13, 17), (7, 30)])
def test_any_size_gives_finite_output_of_the_right_shape(hw, backend):
    torch.manual_seed(0)
    layer = VSAWindowAttention(24, 3, window_size=7, backend=backend)
    randomise_regression(layer)
    x = torch.randn(2, hw[0] * hw[1], 24, requires_grad=True)
    out = layer(x, hw)
    assert out.shape == (2, hw[0] * hw[1], 24)
    assert torch.isfinite(out).all()
    out.sum().backward()
    assert torch.isfinite(x.grad).all()


def test_out_dims_and_qk_scale():
    layer = VSAWindowAttention(16, 4, window_size=3, out_dims=32, qk_scale=0.1)
    assert layer.scale == 0.1
    out = layer(torch.randn(1, 25, 16), (5, 5))
    assert out.shape == (1, 25, 32)
    assert VSAWindowAttention(16, 4, out_dims=32).scale == 8**-0.5


def test_sampling_matches_grid_sample():
    """The gather sampler equals F.grid_sample, values and gradients."""
    torch.manual_seed(0)
    batch, height, width, heads, channels = 2, 5, 6, 3, 4
    x = torch.randn(
        batch, height, width, 3, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(
        heads * channels, 3, dtype=torch.float64, requires_grad=True)
    grid = (torch.rand(batch, 2, heads, 7, 2, dtype=torch.float64) * 2.6 -
            1.3).requires_grad_()

    def project(x, weight, bias):
        return F.linear(x, weight, bias).reshape(-1, channels)

    out = sample_projected_rows(project, x, weight, None, grid,
                                (height, width), heads)
    images = F.linear(x, weight).view(batch, height, width, heads, channels)
    images = images.permute(0, 3, 4, 1, 2).reshape(batch * heads, channels,
                                                   height, width)
    head_grid = grid.transpose(1, 2).reshape(batch * heads, 2, 7, 2)
    expected = F.grid_sample(
        images,
        head_grid,
        mode='bilinear',
        padding_mode='zeros',
        align_corners=True).view(batch, heads, channels, 2, 7)
    expected = expected.permute(0, 3, 1, 4, 2)
    torch.testing.assert_close(out, expected)
    upstream = torch.randn_like(out)
    grads = torch.autograd.grad((out * upstream).sum(), (x, weight, grid))
    expected_grads = torch.autograd.grad((expected * upstream).sum(),
                                         (x, weight, grid))
    for grad, expected_grad in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(grad, expected_grad)


@pytest.mark.parametrize('backend', ['gather', 'reference'])
def test_gradcheck_through_sampling(backend):
    """float64 gradcheck: input, offsets and scales get exact gradients."""
    torch.manual_seed(0)
    layer = VSAWindowAttention(6, 2, window_size=3, backend=backend).double()
    randomise_regression(layer, std=0.5)
    hw = (5, 7)
    x = torch.randn(1, 35, 6, dtype=torch.float64, requires_grad=True)
    params = {
        name: param.detach().clone().requires_grad_()
        for name, param in layer.named_parameters()
        if name.startswith('sampling_')
    }

    def run(x, *regression):
        values = dict(zip(params, regression, strict=True))
        return functional_call(layer, values, (x, hw))

    assert torch.autograd.gradcheck(
        run, (x, *params.values()), eps=1e-6, atol=1e-7)


@pytest.mark.parametrize('dtype,tolerance', [(torch.float32, 2e-5),
                                             (torch.float64, 1e-12)])
@pytest.mark.parametrize('backend', ['gather', 'auto'])
def test_backends_agree_with_the_reference(dtype, tolerance, backend):
    torch.manual_seed(0)
    fast = VSAWindowAttention(32, 4, backend=backend).to(dtype)
    randomise_regression(fast)
    reference = VSAWindowAttention(32, 4, backend='reference').to(dtype)
    reference.load_state_dict(fast.state_dict())
    x = torch.randn(2, 19 * 23, 32, dtype=dtype)
    x_fast = x.clone().requires_grad_()
    x_reference = x.clone().requires_grad_()
    upstream = torch.randn(2, 19 * 23, 32, dtype=dtype)
    out_fast = fast(x_fast, (19, 23))
    out_reference = reference(x_reference, (19, 23))
    torch.testing.assert_close(
        out_fast, out_reference, rtol=tolerance, atol=tolerance)
    (out_fast * upstream).sum().backward()
    (out_reference * upstream).sum().backward()
    torch.testing.assert_close(
        x_fast.grad, x_reference.grad, rtol=tolerance, atol=tolerance)
    for (name, param), reference_param in zip(
            fast.named_parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(
            param.grad,
            reference_param.grad,
            rtol=tolerance * 10,
            atol=tolerance * 10,
            msg=name)


class ZeroFillRecorder(TorchDispatchMode):
    """Records the size of every zero-filled tensor an operator makes."""

    ZERO_FILLING = frozenset({
        'aten::slice_backward', 'aten::select_backward', 'aten::zeros',
        'aten::new_zeros', 'aten::zeros_like', 'aten::fill_', 'aten::zero_'
    })

    def __init__(self) -> None:
        super().__init__()
        self.filled = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func._schema.name in self.ZERO_FILLING:
            self.filled.append((func._schema.name, out.numel()))
        return out


def test_reference_backward_zero_fills_nothing_as_large_as_the_qkv_map():
    """The reference takes q, k and v out of the q/k/v map by views and
    splits: a slice's backward would zero-fill a gradient of the whole map
    and copy into it, which made the reference 10% slower on the CPU."""
    torch.manual_seed(0)
    layer = VSAWindowAttention(24, 3, window_size=4, backend='reference')
    randomise_regression(layer)
    x = torch.randn(2, 12 * 16, 24, requires_grad=True)
    qkv_map_numel = 2 * 12 * 16 * 3 * 24
    with ZeroFillRecorder() as recorder:
        layer(x, (12, 16)).sum().backward()
    assert x.grad is not None and layer.qkv.weight.grad.abs().sum() > 0
    assert [(name, numel) for name, numel in recorder.filled
            if numel >= qkv_map_numel] == []


def test_regression_heads_start_at_zero_and_stay_zero_after_init():
    layer = VSAWindowAttention(
        16, 2, init_cfg=dict(type='Normal', layer='Linear', std=1.))
    for head in (layer.sampling_offsets, layer.sampling_scales):
        assert not head.proj.weight.any() and not head.proj.bias.any()
    layer.init_weights()
    for head in (layer.sampling_offsets, layer.sampling_scales):
        assert not head.proj.weight.any() and not head.proj.bias.any()
    assert layer.qkv.weight.std() > 0.5  # the init_cfg did run
    assert layer.relative_position_bias_table.std() > 0


def test_layer_moves_with_to_and_buffers_follow():
    layer = VSAWindowAttention(8, 2, window_size=3)
    layer = layer.to(torch.float64)
    assert layer.qkv.weight.dtype == torch.float64
    assert layer.relative_position_index.dtype == torch.int64
    out = layer(torch.randn(1, 16, 8, dtype=torch.float64), (4, 4))
    assert out.dtype == torch.float64
    meta = VSAWindowAttention(8, 2, window_size=3).to('meta')
    assert meta.relative_position_index.device.type == 'meta'


def test_autocast_keeps_grid_in_float32():
    torch.manual_seed(0)
    layer = VSAWindowAttention(16, 2)
    randomise_regression(layer)
    x = torch.randn(1, 100, 16)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        grid = layer.sampling_grid(x, (10, 10))
        out = layer(x, (10, 10))
    assert grid.dtype == torch.float32
    assert out.dtype == torch.bfloat16
    expected = layer(x, (10, 10))
    torch.testing.assert_close(out.float(), expected, rtol=0.05, atol=0.05)


def test_builds_from_registry():
    """Registered in the vsa_mm scope; buildable with or without a prefix."""
    from mmengine.registry import MODELS as ROOT
    from mmengine.registry import DefaultScope
    assert MODELS.get('VSAWindowAttention') is VSAWindowAttention
    assert MODELS.scope == 'vsa_mm' and MODELS.parent is ROOT
    cfg = dict(embed_dims=8, num_heads=2)
    layer = ROOT.build(dict(type='vsa_mm.VSAWindowAttention', **cfg))
    assert isinstance(layer, VSAWindowAttention)
    with DefaultScope.overwrite_default_scope('vsa_mm'):
        layer = MODELS.build(dict(type='VSAWindowAttention', **cfg))
    assert isinstance(layer, VSAWindowAttention)


@pytest.mark.parametrize('kwargs,error,words', [
    (dict(embed_dims=10, num_heads=3), ValueError, ['embed_dims (10)', '3']),
    (dict(embed_dims=12, num_heads=4,
          out_dims=10), ValueError, ['out_dims (10)', '4']),
    (dict(embed_dims=8, num_heads=2,
          window_size=0), ValueError, ['window_size', '0']),
    (dict(embed_dims=8, num_heads=2,
          window_size=2.5), TypeError, ['window_size', '2.5']),
    (dict(embed_dims=8, num_heads=0), ValueError, ['num_heads', '0']),
    (dict(embed_dims=8, num_heads=2,
          qk_scale=-1.), ValueError, ['qk_scale', '-1.0']),
])
def test_bad_constructor_arguments(kwargs, error, words):
    with pytest.raises(error) as info:
        VSAWindowAttention(**kwargs)
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize('x,hw,error,words', [
    (torch.randn(2, 16), (4, 4), ValueError, ['(2, 16)']),
    (torch.randn(2, 16, 7), (4, 4), ValueError, ['(2, 16, 7)', '8']),
    (torch.randn(2, 16, 8), (4, 5), ValueError, ['(4, 5)', '16']),
    (torch.randn(2, 16, 8), (4, ), TypeError, ['(4,)']),
    (torch.randn(2, 16, 8), (4., 4.), TypeError, ['(4.0, 4.0)']),
    (torch.ones(2, 16, 8, dtype=torch.int64),
     (4, 4), TypeError, ['torch.int64']),
    ([[0.]], (1, 1), TypeError, ['list']),
])
def test_bad_forward_inputs(x, hw, error, words):
    layer = VSAWindowAttention(8, 2)
    with pytest.raises(error) as info:
        layer(x, hw)
    for word in words:
        assert word in str(info.value)


def test_attention_dropout_is_applied_in_training():
    torch.manual_seed(0)
    layer = VSAWindowAttention(8, 2, attn_drop=0.5)
    x = torch.randn(1, 49, 8)
    layer.eval()
    assert torch.equal(layer(x, (7, 7)), layer(x, (7, 7)))
    layer.train()
    assert not torch.allclose(layer(x, (7, 7)), layer(x, (7, 7)))


def test_sampling_grid_of_a_new_layer_is_the_pixel_centres():
    layer = VSAWindowAttention(8, 2, window_size=3)
    grid = layer.sampling_grid(torch.randn(1, 20, 8), (4, 5))  # pads to 6x6
    assert grid.shape == (1, 4, 2, 9, 2)
    pixels = (grid + 1) / 2 * 5  # (Hp - 1) = (Wp - 1) = 5
    # window (row 1, column 0), token (row 2, column 1) -> pixel (x=1, y=5)
    torch.testing.assert_close(pixels[0, 2, 1, 7], torch.tensor([1., 5.]))
    torch.testing.assert_close(pixels, pixels.round(), rtol=0, atol=1e-5)


def test_default_scale_is_head_width():
    layer = VSAWindowAttention(96, 3)
    assert math.isclose(layer.scale, 32**-0.5)

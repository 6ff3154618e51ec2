"""The fused Triton backend, run on the CPU by Triton's interpreter.

``tests/conftest.py`` sets ``TRITON_INTERPRET=1`` on machines without a GPU
(before anything imports Triton). Shapes are small: the interpreter takes
tens of milliseconds per program.
"""
import copy
import os
import subprocess
import sys
from typing import Dict, Optional, Tuple

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from helpers.paths import REPO
from helpers.torch_features import requires
from torch.utils.flop_counter import FlopCounterMode

from vsa_mm.compat import COMPILE, CUSTOM_OPS, triton_ahead_of_time
from vsa_mm.models import SwinTransformerVSA, VSAWindowAttention
from vsa_mm.models.layers.backends import resolve_backend, triton_fused

pytestmark = [
    pytest.mark.skipif(
        torch.cuda.is_available(),
        reason='runs the kernels on CPU tensors, in Triton\'s interpreter; '
        'the GPU tier (tests/test_cuda) covers them on a GPU'),
    requires(CUSTOM_OPS)
]


def test_the_interpreter_runs_the_kernels():
    assert triton_fused.interpreting()


def _layer(channels: int,
           heads: int,
           motion: float,
           seed: int = 0,
           backend: str = 'triton') -> VSAWindowAttention:
    """A layer with a random bias table and, for ``motion > 0``, regression
    heads of that standard deviation (moved and stretched windows); the
    same weights for every backend."""
    torch.manual_seed(seed)
    layer = VSAWindowAttention(channels, heads, 7, backend=backend)
    nn.init.normal_(layer.relative_position_bias_table, std=0.5)
    if motion:
        for head in (layer.sampling_offsets, layer.sampling_scales):
            nn.init.normal_(head.proj.weight, std=motion)
            nn.init.normal_(head.proj.bias, std=motion)
    return layer


def _grads(layer: nn.Module,
           x: torch.Tensor,
           hw: Tuple[int, int],
           upstream: torch.Tensor,
           autocast: Optional[torch.dtype] = None) -> Dict[str, torch.Tensor]:
    """Output, input gradient and every parameter gradient, as float64."""
    layer.zero_grad(set_to_none=True)
    x = x.detach().clone().requires_grad_()
    with torch.autocast(
            'cpu', dtype=autocast or torch.float32, enabled=autocast
            is not None):
        out = layer(x, hw)
    (out.to(upstream.dtype) * upstream).sum().backward()
    found = {'output': out.detach(), 'input': x.grad}
    found.update({name: p.grad for name, p in layer.named_parameters()})
    return {name: value.double() for name, value in found.items()}


def _assert_relative(got: Dict[str, torch.Tensor],
                     expected: Dict[str,
                                    torch.Tensor], tolerance: float) -> None:
    assert got.keys() == expected.keys()
    for name, value in expected.items():
        assert got[name] is not None, name
        error = (got[name] - value).norm() / value.norm()
        assert error < tolerance, f'{name}: relative error {error:.2e}'


def float64_vsa(layer: VSAWindowAttention, x: torch.Tensor,
                hw: Tuple[int, int]) -> torch.Tensor:
    """The layer written out in float64 with sample positions in pixels.

    An independent implementation (no code of the package's backends): for
    window (i, j), token (r, c), ``x = j ws + h + (c - h)(1 + sx) +
    ox (Wp - 1) / (2 nw)`` with ``h = (ws - 1) / 2``, the same along y,
    bilinear weights from ``floor``, zeros outside the map. At zero offsets
    and scales every position is exactly a pixel centre.
    """
    ws, heads = layer.window_size, layer.num_heads
    height, width = hw
    batch, _, channels = x.shape
    pad_h, pad_w = -height % ws, -width % ws
    rows, cols = (height + pad_h) // ws, (width + pad_w) // ws
    x_map = F.pad(
        x.view(batch, height, width, channels), (0, 0, 0, pad_w, 0, pad_h))
    pooled = x_map.view(batch, rows, ws, cols, ws, channels).mean((2, 4))

    def regress(head: nn.Module) -> torch.Tensor:
        out = F.linear(
            F.leaky_relu(pooled), head.proj.weight.double(),
            head.proj.bias.double())
        return out.view(batch, rows, cols, heads, 2)

    offsets, scales = regress(layer.sampling_offsets), regress(
        layer.sampling_scales)
    qkv = F.linear(x_map, layer.qkv.weight.double(), layer.qkv.bias.double())
    qkv[:, height:] = 0  # padded pixels project to zero
    qkv[:, :, width:] = 0
    q, k, v = qkv.view(batch, rows * ws, cols * ws, 3, heads, -1).unbind(3)

    half = (ws - 1) / 2
    token = torch.arange(ws, dtype=torch.float64) - half
    out = torch.zeros_like(q)
    table = layer.relative_position_bias_table.double()
    rel = torch.arange(ws)
    dy = (rel[:, None, None, None] - rel[None, None, :, None] + ws - 1)
    dx = (rel[None, :, None, None] - rel[None, None, None, :] + ws - 1)
    bias_index = (dy * (2 * ws - 1) + dx).reshape(ws * ws, ws * ws)
    span_x, span_y = cols * ws - 1, rows * ws - 1
    for i in range(rows):
        for j in range(cols):
            ox, oy = offsets[:, i, j, :, 0], offsets[:, i, j, :, 1]  # (B, h)
            sx, sy = scales[:, i, j, :, 0], scales[:, i, j, :, 1]
            px = (
                j * ws + half + token[None, None, :] * (1 + sx[..., None]) +
                ox[..., None] * span_x / (2 * cols))
            py = (
                i * ws + half + token[None, None, :] * (1 + sy[..., None]) +
                oy[..., None] * span_y / (2 * rows))
            if span_x == 0:
                px = px * 0
            if span_y == 0:
                py = py * 0
            # (B, h, ws rows, ws cols) sample positions
            px = px[:, :, None, :].expand(-1, -1, ws, -1)
            py = py[:, :, :, None].expand(-1, -1, -1, ws)
            sampled_k = torch.zeros(
                batch, heads, ws, ws, k.shape[-1], dtype=torch.float64)
            sampled_v = torch.zeros_like(sampled_k)
            x0, y0 = px.detach().floor(), py.detach().floor()
            for cy in (0, 1):
                for cx in (0, 1):
                    xx, yy = (x0 + cx).long(), (y0 + cy).long()
                    frac_x, frac_y = px - x0, py - y0
                    weight = ((frac_x if cx else 1 - frac_x) *
                              (frac_y if cy else 1 - frac_y))
                    inside = ((xx >= 0) & (xx < width) & (yy >= 0) &
                              (yy < height))
                    xx, yy = xx.clamp(0, width - 1), yy.clamp(0, height - 1)
                    b = torch.arange(batch)[:, None, None, None]
                    h = torch.arange(heads)[None, :, None, None]
                    w = (weight * inside)[..., None]
                    sampled_k = sampled_k + w * k[b, yy, xx, h]
                    sampled_v = sampled_v + w * v[b, yy, xx, h]
            window = (slice(None), slice(i * ws, i * ws + ws),
                      slice(j * ws, j * ws + ws))
            queries = q[window].reshape(batch, ws * ws, heads, -1)
            queries = queries.transpose(1, 2) * layer.scale
            keys = sampled_k.reshape(batch, heads, ws * ws, -1)
            values = sampled_v.reshape(batch, heads, ws * ws, -1)
            logits = queries @ keys.transpose(-1, -2)
            logits = logits + table[bias_index].permute(2, 0, 1)
            attended = logits.softmax(-1) @ values  # (B, h, N, d)
            out[window] = attended.transpose(1, 2).reshape(
                batch, ws, ws, heads, -1)
    out = out.reshape(batch, rows * ws, cols * ws, -1)[:, :height, :width]
    return F.linear(
        out.reshape(batch, height * width, -1), layer.proj.weight.double(),
        layer.proj.bias.double())


CASES = {
    # name: (batch, height, width, channels, heads, regression std)
    'odd 13x17, moved windows': (2, 13, 17, 16, 2, 0.3),
    'samples off the map': (1, 9, 11, 16, 2, 2.0),
    'zero-initialised heads': (2, 14, 14, 16, 2, 0.0),
}


@pytest.mark.parametrize('case', CASES, ids=list(CASES))
def test_triton_equals_a_float64_definition(case):
    """Output, input gradient and every parameter gradient, regression heads
    included (positions are exact pixels at zero initialisation)."""
    batch, height, width, channels, heads, motion = CASES[case]
    layer = _layer(channels, heads, motion)
    torch.manual_seed(1)
    x = torch.randn(batch, height * width, channels)
    upstream = torch.randn(
        batch, height * width, channels, dtype=torch.float64)
    got = _grads(layer, x, (height, width), upstream)
    x64 = x.double().requires_grad_()
    layer.zero_grad(set_to_none=True)
    out = float64_vsa(layer, x64, (height, width))
    (out * upstream).sum().backward()
    expected = {'output': out.detach(), 'input': x64.grad}
    expected.update({
        name: p.grad.double()
        for name, p in layer.named_parameters()
    })
    _assert_relative(got, expected, 1e-5)
    if motion == 0:
        assert expected['sampling_offsets.proj.weight'].abs().sum() > 0


@pytest.mark.parametrize('case', list(CASES)[:2])
def test_triton_equals_the_reference_backend(case):
    batch, height, width, channels, heads, motion = CASES[case]
    layer = _layer(channels, heads, motion)
    reference = _layer(channels, heads, motion, backend='reference')
    torch.manual_seed(2)
    x = torch.randn(batch, height * width, channels)
    upstream = torch.randn(
        batch, height * width, channels, dtype=torch.float64)
    _assert_relative(
        _grads(layer, x, (height, width), upstream),
        _grads(reference, x, (height, width), upstream), 1e-4)


def test_float16_storage_is_as_close_as_the_reference_in_float16():
    """Under float16 autocast (float16 q/k/v, float32 accumulation) the
    fused kernel is as close to float32 as the reference under the same
    autocast."""
    layer = _layer(32, 2, 0.3)
    reference = _layer(32, 2, 0.3, backend='reference')
    torch.manual_seed(3)
    x = torch.randn(2, 13 * 17, 32)
    upstream = torch.randn(2, 13 * 17, 32, dtype=torch.float64)
    exact = _grads(reference, x, (13, 17), upstream)
    fused = _grads(layer, x, (13, 17), upstream, torch.float16)
    half = _grads(reference, x, (13, 17), upstream, torch.float16)
    assert fused['output'].dtype == torch.float64  # compared in float64
    for name in exact:
        fused_error = (fused[name] - exact[name]).norm() / exact[name].norm()
        half_error = (half[name] - exact[name]).norm() / exact[name].norm()
        assert fused_error < max(2 * half_error, 1e-3), name


def test_bad_calls_get_clear_errors(monkeypatch):
    x = torch.randn(1, 49, 16)
    with pytest.raises(ValueError, match='window_size=9'):
        VSAWindowAttention(
            16, 2, window_size=9, backend='triton')(torch.randn(1, 81, 16),
                                                    (9, 9))
    dropping = VSAWindowAttention(16, 2, attn_drop=0.1, backend='triton')
    with pytest.raises(ValueError, match='attn_drop=0.1'):
        dropping.train()(x, (7, 7))
    assert dropping.eval()(x, (7, 7)).shape == x.shape
    monkeypatch.setattr(triton_fused, '_INTERPRET_REQUESTED', False)
    with pytest.raises(ValueError, match='device cpu'):
        VSAWindowAttention(16, 2, backend='triton')(x, (7, 7))


def test_auto_never_picks_triton():
    """The fused backend is opt-in: 'auto' takes the gather on the CPU and
    the reference on CUDA, the gather there when deterministic algorithms
    are on and autograd records; explicit choices stand."""
    cpu, cuda = torch.device('cpu'), torch.device('cuda')
    assert resolve_backend('auto', cpu) == 'gather'
    assert resolve_backend('auto', cuda) == 'reference'
    assert resolve_backend('triton', cuda) == 'triton'
    torch.use_deterministic_algorithms(True)
    try:
        assert resolve_backend('auto', cuda) == 'gather'
        with torch.no_grad():
            assert resolve_backend('auto', cuda) == 'reference'
    finally:
        torch.use_deterministic_algorithms(False)


def test_deterministic_mode_refuses_the_atomic_backward():
    layer = _layer(16, 2, 0.3)
    x = torch.randn(1, 49, 16, requires_grad=True)
    torch.use_deterministic_algorithms(True)
    try:
        out = layer(x, (7, 7))  # forward has no atomics
        with pytest.raises(RuntimeError, match="backend='gather'"):
            out.sum().backward()
    finally:
        torch.use_deterministic_algorithms(False)


@requires(COMPILE)
def test_compiles_fullgraph_and_exports():
    layer = _layer(16, 2, 0.3)
    x = torch.randn(1, 10 * 12, 16)
    upstream = torch.randn(1, 10 * 12, 16, dtype=torch.float64)
    compiled = torch.compile(
        copy.deepcopy(layer), backend='aot_eager', fullgraph=True)
    got = _grads(compiled, x, (10, 12), upstream)
    got = {key.removeprefix('_orig_mod.'): value for key, value in got.items()}
    _assert_relative(got, _grads(layer, x, (10, 12), upstream), 1e-6)

    class Wrapped(nn.Module):

        def __init__(self) -> None:
            super().__init__()
            self.layer = layer

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            return self.layer(tokens, (10, 12))

    program = torch.export.export(Wrapped(), (x, ))
    targets = {str(node.target) for node in program.graph.nodes}
    assert 'vsa_mm.fused_varied_window_attention.default' in targets


def test_flop_counter_counts_the_fused_operator():
    layer = _layer(16, 2, 0.3)
    x = torch.randn(1, 49, 16, requires_grad=True)
    with FlopCounterMode(display=False) as counter:
        layer(x, (7, 7)).sum().backward()
    counts = counter.get_flop_counts()['Global']
    forward = counts[torch.ops.vsa_mm.fused_varied_window_attention]
    # 49 queries x 2 heads x 8 dims x (2 * 49 + 8) multiply-adds, 2 FLOPs
    assert forward == 2 * 49 * 2 * 8 * (2 * 49 + 8)
    assert counts[
        torch.ops.vsa_mm.fused_varied_window_attention_backward] > forward


def test_swin_backbone_takes_the_backend_from_its_config():
    model = SwinTransformerVSA(
        arch=dict(embed_dims=16, depths=[1, 1], num_heads=[1, 2]),
        out_indices=(0, 1),
        attn_cfg=dict(backend='triton'))
    layers = [m for m in model.modules() if isinstance(m, VSAWindowAttention)]
    assert len(layers) == 2 and {m.backend for m in layers} == {'triton'}
    outs = model(torch.randn(1, 3, 60, 44))
    assert [tuple(out.shape) for out in outs] == [(1, 16, 15, 11),
                                                  (1, 32, 8, 6)]


def _run_tool(*args: str, env: Optional[dict] = None) -> str:
    result = subprocess.run([sys.executable, *args],
                            cwd=REPO,
                            env=env,
                            capture_output=True,
                            text=True,
                            timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@requires(triton_ahead_of_time())
def test_ahead_of_time_compile_for_sm90_and_sm80_has_no_forward_spills():
    """Both kernels compile for Hopper and Ampere without a GPU; the forward
    spills nothing at Swin's head width; backward spills are reported."""
    env = {k: v for k, v in os.environ.items() if k != 'TRITON_INTERPRET'}
    table = _run_tool(
        'tools/analysis_tools/triton_kernel_resources.py',
        '--archs',
        '90',
        '80',
        '--dtypes',
        'fp32',
        'bf16',
        '--head-dims',
        '32',
        env=env)
    print(table)  # noqa: T201  the resources, in the test report
    rows = [
        line.split('|')[1:-1] for line in table.splitlines()
        if line.startswith('| sm_')
    ]
    assert len(rows) == 8
    for arch, kernel, dtype, _, _, registers, spilled in rows:
        assert 0 < int(registers) <= 255
        if kernel.strip() == 'forward':
            assert int(spilled) == 0, (arch, dtype)


def test_launch_counts():
    """One forward+backward at Swin-T's stage shapes: the fused backend
    dispatches no more operators than mmpretrain's window attention, and
    the reference at most 70."""
    table = _run_tool('benchmarks/count_launches.py')
    counts = {}
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.split('|')[1:-1]]
        if len(cells) == 3 and cells[2].isdigit():
            counts[cells[0], cells[1]] = int(cells[2])
    for stage in ('Swin-T stage 1', 'Swin-T stage 3'):
        window_msa = counts[stage, 'WindowMSA (mmpretrain)']
        assert counts[stage, 'VSA triton'] <= window_msa
        assert counts[stage, 'VSA reference'] <= 70

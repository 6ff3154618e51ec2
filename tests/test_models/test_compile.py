"""torch.compile on the CPU: the layer compiles and matches eager.

- inductor, forward and backward, ``fullgraph=True``;
- dynamic shapes through dynamo and AOTAutograd: one graph for maps of
  different sizes, padded or not;
- whole backbones captured by dynamo with dynamic shapes in one graph that
  trains at two image sizes without recompiling.

Whole backbones through the default ``torch.compile`` (inductor) at two
image sizes: ``tests/test_tools/test_check_compile_sizes.py``.
"""
import copy

import pytest
import torch
from helpers.models import SWIN_SMALL
from helpers.official import SMALL
from helpers.torch_features import requires
from torch._dynamo.testing import CompileCounterWithBackend

from vsa_mm.compat import COMPILE
from vsa_mm.models import SwinTransformerVSA, ViTAEv2, VSAWindowAttention
from vsa_mm.models.layers import move_windows

pytestmark = requires(COMPILE)


@pytest.fixture(autouse=True)
def fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def _forward_backward(model, inputs, *args):
    outs = model(inputs, *args)
    outs = outs if isinstance(outs, (tuple, list)) else (outs, )
    loss = sum((out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum()
               for out in outs)
    params = [p for p in model.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, [inputs, *params])
    return outs, grads


def _assert_same(compiled, eager, atol):
    for got, expected in zip(compiled, eager, strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=atol)


def test_layer_compiles_fullgraph_with_inductor():
    layer = VSAWindowAttention(32, 4, window_size=4)
    move_windows(layer)
    compiled = torch.compile(copy.deepcopy(layer), fullgraph=True)
    x = torch.randn(2, 9 * 11, 32, requires_grad=True)
    got_outs, got_grads = _forward_backward(compiled, x, (9, 11))
    outs, grads = _forward_backward(layer, x, (9, 11))
    _assert_same(got_outs, outs, atol=1e-5)
    _assert_same(got_grads, grads, atol=1e-4)


def test_layer_compiles_once_for_dynamic_sizes():
    """One graph serves maps of different sizes, padding or not."""
    layer = VSAWindowAttention(16, 2, window_size=4, backend='gather')
    move_windows(layer)
    counter = CompileCounterWithBackend('aot_eager')
    compiled = torch.compile(
        copy.deepcopy(layer), fullgraph=True, dynamic=True, backend=counter)
    frames = []
    for hw in [(9, 11), (10, 13), (7, 6)]:
        x = torch.randn(2, hw[0] * hw[1], 16, requires_grad=True)
        got_outs, got_grads = _forward_backward(compiled, x, hw)
        outs, grads = _forward_backward(layer, x, hw)
        _assert_same(got_outs, outs, atol=1e-5)
        _assert_same(got_grads, grads, atol=1e-4)
        frames.append(counter.frame_count)
    assert frames[0] > 0 and frames[1:] == frames[:1] * 2  # no recompiles


@pytest.mark.parametrize(
    'cls, arch', [(SwinTransformerVSA, SWIN_SMALL), (ViTAEv2, SMALL)],
    ids=['SwinTransformerVSA', 'ViTAEv2'])
def test_backbone_trains_with_dynamic_shapes_in_one_graph(cls, arch):
    """Two training steps at two image sizes (one a multiple of no window or
    patch size) run one dynamo graph, equal to eager step for step.

    In float64: the graph may sum in another order than eager, and in
    float32 that alone moved gradients near zero by 3e-4."""
    torch.manual_seed(0)
    eager = move_windows(cls(arch=arch, drop_path_rate=0.)).train().double()
    model = copy.deepcopy(eager)
    counter = CompileCounterWithBackend('eager')
    compiled = torch.compile(
        model, fullgraph=True, dynamic=True, backend=counter)
    optimizers = [
        torch.optim.SGD(m.parameters(), lr=0.1) for m in (model, eager)
    ]
    for hw in [(96, 128), (100, 131)]:
        images = torch.randn(
            2, 3, *hw, dtype=torch.float64, requires_grad=True)
        got_outs, got_grads = _forward_backward(compiled, images)
        outs, grads = _forward_backward(eager, images)
        _assert_same(got_outs, outs, atol=1e-10)
        _assert_same(got_grads, grads, atol=1e-9)
        for optimizer, step_grads in zip(optimizers, (got_grads, grads)):
            params = optimizer.param_groups[0]['params']
            for param, grad in zip(params, step_grads[1:], strict=True):
                param.grad = grad
            optimizer.step()
        assert counter.frame_count == 1, hw

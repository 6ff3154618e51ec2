"""torch.compile on the CPU: the layer compiles and matches eager.

- inductor, forward and backward, ``fullgraph=True``;
- dynamic shapes through dynamo and AOTAutograd: one graph for maps of
  different sizes, padded or not;
- whole backbones captured by dynamo with dynamic shapes in one graph that
  trains at two image sizes without recompiling;
- whole (small) backbones through the default ``torch.compile`` (inductor)
  at two image sizes, gradients equal to eager.
"""
import copy

import pytest
import torch
from helpers.models import SWIN_SMALL, move_windows
from helpers.official import SMALL
from torch._dynamo.testing import CompileCounterWithBackend

from vsa_mm.models import SwinTransformerVSA, ViTAEv2, VSAWindowAttention


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


def _projection_loss(outs, seed: int) -> torch.Tensor:
    """A loss that depends on every output element: each output times a
    fixed random tensor. (The sum of LayerNorm-ed outputs has zero gradient
    and would compare rounding noise.)"""
    generator = torch.Generator().manual_seed(seed)
    return sum((out * torch.randn(out.shape, generator=generator)).sum()
               for out in outs)


def _first_stages(arch: dict, count: int) -> dict:
    """The per-stage lists of ``arch`` cut to the first ``count`` stages."""
    return {
        key: value[:count] if isinstance(value, list) else value
        for key, value in arch.items()
    }


@pytest.mark.parametrize(
    'cls, arch', [(SwinTransformerVSA, _first_stages(SWIN_SMALL, 2)),
                  (ViTAEv2, _first_stages({
                      **ViTAEv2.arch_defaults,
                      **SMALL
                  }, 2))],
    ids=['SwinTransformerVSA', 'ViTAEv2'])
def test_backbone_trains_with_default_inductor_at_two_sizes(cls, arch):
    """``torch.compile(model)`` as users write it: inductor compiles the
    first size statically and recompiles the second with symbolic sizes,
    which failed in inductor's stride ordering (symbolic widths that may be
    1) until every token/map conversion and patch merge made buffers of its
    own while tracing. Gradients equal eager's at both sizes.

    The VSA layers use the fused backend (in Triton's CPU interpreter here):
    its operator is opaque to inductor, which keeps the graphs small enough
    to compile in minutes on 2 cores (two stages of each backbone: the
    second compile of four took 7 minutes for Swin + VSA with this backend,
    and 17 and 29 minutes for the two backbones with the gather backend,
    nearly all in inductor's scheduler reasoning about symbolic sizes).
    """
    torch.manual_seed(0)
    eager = move_windows(
        cls(arch=arch, drop_path_rate=0., out_indices=(0, 1))).train()
    for layer in eager.modules():
        if isinstance(layer, VSAWindowAttention):
            layer.backend = 'triton'
    compiled = torch.compile(copy.deepcopy(eager))
    for seed, hw in enumerate([(96, 128), (100, 131)]):
        images = torch.randn(2, 3, *hw)
        grads = []
        for model in (compiled, eager):
            model.zero_grad(set_to_none=True)
            _projection_loss(model(images), seed).backward()
            grads.append({
                name.removeprefix('_orig_mod.'): param.grad
                for name, param in model.named_parameters()
            })
        assert grads[0].keys() == grads[1].keys()
        # Some gradients are zero up to rounding (a convolution's bias
        # before BatchNorm): errors are relative to the larger of the
        # tensor's norm and a thousandth of the whole gradient's.
        floor = 1e-3 * torch.cat([g.flatten()
                                  for g in grads[1].values()]).norm()
        for name, expected in grads[1].items():
            error = (grads[0][name] - expected).norm() / max(
                expected.norm(), floor)
            assert error < 1e-4, f'{hw} {name}: relative error {error:.1e}'

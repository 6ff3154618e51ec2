"""The GPU tier, models: ``pytest -m cuda`` on a machine with a CUDA GPU.

The VSA layer (every backend) and both backbones on CUDA against the CPU,
under autocast and through inductor. Nothing here needs mmcv's compiled ops.
``make gpu-check`` runs this module as its ``models`` step.
"""
import copy

import pytest
import torch
from helpers.cuda import CUDA, CUDA_TIER
from helpers.models import SWIN_SMALL
from helpers.official import SMALL

from vsa_mm.models import SwinTransformerVSA, ViTAEv2, VSAWindowAttention
from vsa_mm.models.layers import move_windows
from vsa_mm.models.layers.backends import VSA_BACKENDS

pytestmark = CUDA_TIER
#: (dtype, atol, rtol) of autocast outputs and gradients against float32.
AUTOCAST_TOLERANCES = {
    torch.float16: (2e-2, 2e-2),
    torch.bfloat16: (1e-1, 5e-2),
}


@pytest.fixture(autouse=True)
def full_float32_matmuls():
    """Compare CUDA with the CPU in full float32: by default PyTorch lets
    cuDNN convolutions use TF32, whose 10-bit mantissas round beyond these
    tests' float32 tolerances."""
    saved = (torch.backends.cuda.matmul.allow_tf32,
             torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    yield
    (torch.backends.cuda.matmul.allow_tf32,
     torch.backends.cudnn.allow_tf32) = saved


def _grads(model, inputs, *args, dtype=None):
    inputs = inputs.detach().requires_grad_()
    model.zero_grad(set_to_none=True)
    with torch.autocast(
            inputs.device.type,
            dtype=dtype or torch.float32,
            enabled=dtype is not None):
        outs = model(inputs, *args)
    outs = outs if isinstance(outs, (tuple, list)) else (outs, )
    sum(out.float().square().mean() for out in outs).backward()
    grads = {'input': inputs.grad}
    # A compiled model names its parameters '_orig_mod.<name>'.
    grads.update({
        name.removeprefix('_orig_mod.'): param.grad
        for name, param in model.named_parameters()
    })
    return [out.float() for out in outs], grads


def _assert_close(got, expected, atol, rtol):
    got_outs, got_grads = got
    outs, grads = expected
    for a, b in zip(got_outs, outs, strict=True):
        torch.testing.assert_close(a.cpu(), b.cpu(), atol=atol, rtol=rtol)
    assert got_grads.keys() == grads.keys()
    for name in grads:
        assert got_grads[name] is not None, name
        torch.testing.assert_close(
            got_grads[name].float().cpu(),
            grads[name].cpu(),
            atol=atol,
            rtol=rtol,
            msg=lambda m, name=name: f'{name}: {m}')


@pytest.mark.parametrize('backend', VSA_BACKENDS)
def test_layer_cuda_matches_cpu_in_float32(backend):
    layer = move_windows(VSAWindowAttention(64, 4, 7, backend=backend))
    x = torch.randn(2, 19 * 23, 64)
    got = _grads(copy.deepcopy(layer).to(CUDA), x.to(CUDA), (19, 23))
    # The fused backend runs on CUDA only: against the CPU's reference.
    on_cpu = VSAWindowAttention(
        64, 4, 7, backend='reference' if backend == 'triton' else backend)
    on_cpu.load_state_dict(layer.state_dict())
    expected = _grads(on_cpu, x, (19, 23))
    # The regression heads' gradients are among the parameters compared.
    assert got[1]['sampling_offsets.proj.weight'].abs().sum() > 0
    _assert_close(got, expected, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize('dtype', sorted(AUTOCAST_TOLERANCES, key=str))
@pytest.mark.parametrize('backend', VSA_BACKENDS)
def test_layer_autocast_is_close_to_float32(backend, dtype):
    if dtype == torch.bfloat16 and not torch.cuda.is_bf16_supported():
        pytest.skip('this GPU has no bfloat16')
    layer = move_windows(VSAWindowAttention(64, 4, 7,
                                            backend=backend)).to(CUDA)
    x = torch.randn(2, 14 * 21, 64, device=CUDA)
    expected = _grads(layer, x, (14, 21))
    got = _grads(layer, x, (14, 21), dtype=dtype)
    _assert_close(got, expected, *AUTOCAST_TOLERANCES[dtype])


@pytest.mark.parametrize('with_cp', [False, True])
@pytest.mark.parametrize(
    'cls, arch', [(SwinTransformerVSA, SWIN_SMALL), (ViTAEv2, SMALL)],
    ids=['SwinTransformerVSA', 'ViTAEv2'])
def test_backbone_cuda_matches_cpu(cls, arch, with_cp):
    torch.manual_seed(0)
    # No stochastic depth: its draws differ between the devices.
    model = move_windows(cls(arch=arch, with_cp=with_cp,
                             drop_path_rate=0.)).train()
    images = torch.randn(2, 3, 96, 120)
    expected = _grads(model, images)
    got = _grads(copy.deepcopy(model).to(CUDA), images.to(CUDA))
    _assert_close(got, expected, atol=1e-3, rtol=1e-3)


def test_layer_compiles_with_inductor_on_cuda():
    layer = move_windows(VSAWindowAttention(64, 4, 7)).to(CUDA)
    compiled = torch.compile(copy.deepcopy(layer), fullgraph=True)
    x = torch.randn(2, 28 * 35, 64, device=CUDA)
    _assert_close(
        _grads(compiled, x, (28, 35)),
        _grads(layer, x, (28, 35)),
        atol=1e-4,
        rtol=1e-4)


@pytest.mark.parametrize(
    'cls, arch', [(SwinTransformerVSA, SWIN_SMALL), (ViTAEv2, SMALL)],
    ids=['SwinTransformerVSA', 'ViTAEv2'])
def test_backbone_compiles_with_inductor_and_dynamic_shapes(cls, arch):
    torch.manual_seed(0)
    model = move_windows(cls(arch=arch, drop_path_rate=0.)).to(CUDA).train()
    compiled = torch.compile(copy.deepcopy(model), dynamic=True)
    for hw in [(96, 120), (112, 88)]:
        images = torch.randn(2, 3, *hw, device=CUDA)
        _assert_close(
            _grads(compiled, images),
            _grads(model, images),
            atol=1e-3,
            rtol=1e-3)

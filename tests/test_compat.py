"""What needs a newer torch fails clearly; what works everywhere does.

Most tests here run on one side of a feature only: the pinned stack runs
the ``available`` side, ``make test-torch`` (torch 2.1 in CI) the other.
"""
import pytest
import torch
from helpers.models import SWIN_SMALL
from helpers.official import SMALL

from vsa_mm.compat import (COMPILE, CUSTOM_OPS, DYNAMO_EXPORT,
                           UnsupportedTorchError, autocast_dtype)
from vsa_mm.models import SwinTransformerVSA, ViTAEv2, VSAWindowAttention
from vsa_mm.models.layers.backends import resolve_backend


@pytest.mark.skipif(
    COMPILE.available,
    reason='this torch compiles VSA layers: tests/test_models/'
    'test_compile.py compiles the layer and the backbones')
@pytest.mark.parametrize('build,inputs', [
    (lambda: VSAWindowAttention(16, 2), lambda: (torch.rand(2, 49, 16),
                                                 (7, 7))),
    (lambda: SwinTransformerVSA(arch=SWIN_SMALL), lambda:
     (torch.rand(1, 3, 64, 64), )),
    (lambda: ViTAEv2(arch=SMALL), lambda: (torch.rand(1, 3, 64, 64), )),
])
def test_compiling_names_the_release_that_can(build, inputs):
    torch._dynamo.reset()
    with pytest.raises(UnsupportedTorchError, match=r'torch >= 2\.6'):
        torch.compile(build())(*inputs())
    torch._dynamo.reset()


@pytest.mark.skipif(
    CUSTOM_OPS.available,
    reason='this torch has custom operators: tests/test_models/test_layers/'
    'test_triton_backend.py runs the fused backend')
def test_triton_backend_without_custom_ops_names_the_release():
    layer = VSAWindowAttention(16, 2, backend='triton')
    with pytest.raises(ValueError, match=r'needs torch >= 2\.4'):
        layer(torch.rand(1, 49, 16), (7, 7))


@pytest.mark.skipif(
    DYNAMO_EXPORT.available,
    reason='this torch has size-oblivious export: tests/test_deployment/'
    'test_onnx_export.py exports with it')
def test_dynamo_onnx_export_names_the_release(tmp_path):
    from vsa_mm.deployment import export_onnx
    model = SwinTransformerVSA(arch=SWIN_SMALL).eval()
    with pytest.raises(UnsupportedTorchError, match=r'torch >= 2\.7'):
        export_onnx(model, torch.rand(1, 3, 64, 64), tmp_path / 'm.onnx')


def test_auto_never_picks_what_this_torch_lacks():
    for device in ('cpu', 'cuda'):
        assert resolve_backend('auto', torch.device(device)) != 'triton'


def test_autocast_dtype_follows_torch_autocast():
    assert autocast_dtype('cpu') is None
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert autocast_dtype('cpu') == torch.bfloat16
        assert autocast_dtype('cuda') is None
    assert autocast_dtype('cpu') is None

"""Both backbones export with PyTorch's TorchScript ONNX exporter, the one
mmdeploy drives (``torch.onnx.export(..., dynamo=False)``).

``import vsa_mm`` registers a symbolic function for VSA's sampling
operator, valid from opset 11 on. Sizes stay symbolic under
``torch.jit.trace``, so a file exported with dynamic axes runs at sizes it
never saw (none of them window multiples), equal to PyTorch.
"""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from helpers.models import SWIN_SMALL
from helpers.official import SMALL as VITAEV2_SMALL

from vsa_mm.compat import torchscript_onnx_export
from vsa_mm.models import SwinTransformerVSA, ViTAEv2
from vsa_mm.models.layers import move_windows

EXAMPLE = (1, 3, 160, 224)
SIZES = [(1, 3, 160, 224), (2, 3, 256, 416), (1, 3, 130, 97)]
BACKBONES = {
    'swin_vsa': lambda: SwinTransformerVSA(arch=SWIN_SMALL, window_size=7),
    'vitaev2_vsa': lambda: ViTAEv2(VITAEV2_SMALL, window_size=7),
}


def _export(model, path, opset):
    torchscript_onnx_export(
        model, (torch.randn(*EXAMPLE), ),
        str(path),
        opset_version=opset,
        input_names=['input'],
        dynamic_axes={'input': {
            0: 'batch',
            2: 'height',
            3: 'width'
        }})


@pytest.mark.parametrize('name, opset', [('swin_vsa', 11), ('swin_vsa', 17),
                                         ('vitaev2_vsa', 13)])
def test_torchscript_export_runs_at_every_size(name, opset, tmp_path):
    torch.manual_seed(0)
    model = move_windows(BACKBONES[name]()).eval()
    path = tmp_path / 'backbone.onnx'
    _export(model, path, opset)
    graph = onnx.load(str(path)).graph
    assert graph.input[0].type.tensor_type.shape.dim[2].dim_param == 'height'
    assert any(node.op_type == 'Gather' for node in graph.node)
    session = ort.InferenceSession(
        str(path), providers=['CPUExecutionProvider'])
    for size in SIZES:
        x = torch.randn(*size)
        with torch.no_grad():
            expected = model(x)
        outs = session.run(None, {'input': x.numpy()})
        for out, ref in zip(outs, expected, strict=True):
            assert out.shape == tuple(ref.shape), size
            np.testing.assert_allclose(out, ref.numpy(), rtol=1e-4, atol=1e-4)


def test_no_integer_clip_at_opset_11(tmp_path):
    """Opset 11's Clip takes floats only: the sampling corners are clamped
    before their cast to int64."""
    model = SwinTransformerVSA(arch=SWIN_SMALL, window_size=7).eval()
    path = tmp_path / 'backbone.onnx'
    _export(model, path, 11)
    graph = onnx.shape_inference.infer_shapes(onnx.load(str(path))).graph
    int64 = onnx.TensorProto.INT64
    types = {
        value.name: value.type.tensor_type.elem_type
        for value in [*graph.value_info, *graph.input]
    }
    clips = [node for node in graph.node if node.op_type == 'Clip']
    assert clips
    assert all(types.get(node.input[0]) != int64 for node in clips)

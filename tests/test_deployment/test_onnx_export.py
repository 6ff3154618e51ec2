"""Both backbones export to ONNX with dynamic batch, height and width.

onnxruntime runs the exported graph and is compared with PyTorch's eager
output at sizes other than the export example's, batch 1 and sizes that
are not window multiples included, with the windows moved (non-zero
regression heads). One export per backbone (about a minute each on 2 CPU
cores) serves all the checks.
"""
import numpy as np
import pytest
import torch
from helpers.models import SWIN_SMALL
from helpers.official import SMALL as VITAEV2_SMALL

from vsa_mm.deployment import MIN_IMAGE_SIZE, export_onnx
from vsa_mm.models import SwinTransformerVSA, ViTAEv2
from vsa_mm.models.layers import move_windows

ort = pytest.importorskip('onnxruntime', reason='pip install onnxruntime')

#: (N, C, H, W): the example and sizes the graph never saw.
EXAMPLE = (2, 3, 224, 224)
SIZES = [(1, 3, 160, 192), (3, 3, 100, 131), (1, 3, 64, 64)]

BACKBONES = {
    'swin_vsa': lambda: SwinTransformerVSA(arch=SWIN_SMALL, window_size=7),
    'vitaev2_vsa': lambda: ViTAEv2(VITAEV2_SMALL, window_size=7),
}


@pytest.fixture(scope='module', params=sorted(BACKBONES))
def exported(request, tmp_path_factory):
    torch.manual_seed(0)
    model = move_windows(BACKBONES[request.param]()).eval()
    example = torch.randn(*EXAMPLE)
    with torch.no_grad():
        before = model(example)
    path = tmp_path_factory.mktemp('onnx') / f'{request.param}.onnx'
    export_onnx(model, example, path)
    return model, example, before, path


def _eager(model, x):
    with torch.no_grad():
        return [out.numpy() for out in model(x)]


def test_onnxruntime_matches_pytorch_at_new_sizes(exported):
    model, _, _, path = exported
    session = ort.InferenceSession(str(path))
    for size in SIZES:
        x = torch.randn(*size)
        outs = session.run(None, {'input': x.numpy()})
        expected = _eager(model, x)
        assert len(outs) == len(expected)
        for out, ref in zip(outs, expected, strict=True):
            assert out.shape == ref.shape, size
            np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)
            assert np.abs(ref).max() > 1e-3  # a real signal, not zeros


def test_model_is_unchanged_by_export(exported):
    """No tensor made while tracing survives in the model: plain eager calls
    still return real tensors equal to those before the export."""
    model, example, before, _ = exported
    with torch.no_grad():
        after = model(example)
        other = model(torch.randn(1, 3, 96, 120))
    for out in (*after, *other):
        assert type(out) is torch.Tensor
    for a, b in zip(before, after, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_exported_graph_declares_dynamic_axes(exported):
    import onnx
    _, _, _, path = exported
    graph = onnx.load(str(path)).graph
    dims = graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param for d in dims] == ['batch', '', 'height', 'width']
    assert any(node.op_type == 'Gather' for node in graph.node), 'VSA sampling'


def test_export_rejects_training_mode_and_bad_examples(tmp_path):
    model = SwinTransformerVSA(arch=SWIN_SMALL)
    with pytest.raises(ValueError, match='eval mode'):
        export_onnx(model, torch.randn(1, 3, 64, 64), tmp_path / 'm.onnx')
    with pytest.raises(TypeError, match=r'\(1, 64, 64\)'):
        export_onnx(model.eval(), torch.randn(1, 64, 64), tmp_path / 'm.onnx')
    assert not list(tmp_path.iterdir())
    assert MIN_IMAGE_SIZE == 64


@pytest.mark.parametrize('name', sorted(BACKBONES))
def test_jit_trace_saves_and_reloads(name, tmp_path):
    torch.manual_seed(0)
    model = move_windows(BACKBONES[name]()).eval()
    x = torch.randn(1, 3, 96, 128)
    with torch.no_grad():
        traced = torch.jit.trace(model, x)
    traced.save(str(tmp_path / 'model.pt'))
    loaded = torch.jit.load(str(tmp_path / 'model.pt'))
    with torch.no_grad():
        for got, expected in zip(loaded(x), model(x), strict=True):
            torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)

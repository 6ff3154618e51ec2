"""``adaptive_avg_pool2d_by_slices`` equals ``F.adaptive_avg_pool2d``, and
its ONNX export pools exactly at sizes the export never saw."""
import numpy as np
import onnxruntime as ort
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from vsa_mm.deployment.adaptive_pool import adaptive_avg_pool2d_by_slices

PYRAMID = (1, 2, 3, 6)  # UperNet's pooling scales


@pytest.mark.parametrize('output_size', [1, 2, 3, 6, (4, 5), (6, None)])
@pytest.mark.parametrize('size', [(17, 23), (6, 7), (32, 9)])
def test_equals_adaptive_avg_pool2d(output_size, size):
    x = torch.randn(2, 3, *size, dtype=torch.float64)
    torch.testing.assert_close(
        adaptive_avg_pool2d_by_slices(x, output_size),
        F.adaptive_avg_pool2d(x, output_size),
        rtol=0,
        atol=1e-12)


class _Pyramid(nn.Module):

    def forward(self, x):
        return torch.cat([
            adaptive_avg_pool2d_by_slices(x, scale).flatten(2)
            for scale in PYRAMID
        ], 2)


def test_onnx_export_pools_exactly_at_new_sizes(tmp_path):
    path = tmp_path / 'pyramid.onnx'
    torch.onnx.export(
        _Pyramid(), (torch.randn(1, 4, 17, 23), ),
        str(path),
        dynamo=False,
        opset_version=11,
        input_names=['input'],
        dynamic_axes={'input': {
            0: 'batch',
            2: 'height',
            3: 'width'
        }})
    session = ort.InferenceSession(
        str(path), providers=['CPUExecutionProvider'])
    for size in [(1, 4, 17, 23), (2, 4, 32, 9), (1, 4, 6, 7)]:
        x = torch.randn(*size)
        expected = torch.cat(
            [F.adaptive_avg_pool2d(x, s).flatten(2) for s in PYRAMID], 2)
        out, = session.run(None, {'input': x.numpy()})
        np.testing.assert_allclose(out, expected.numpy(), atol=1e-6)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match=r'\(3, 4, 5\)'):
        adaptive_avg_pool2d_by_slices(torch.randn(3, 4, 5), 2)
    with pytest.raises(ValueError, match=r'\(1, 2, 3\)'):
        adaptive_avg_pool2d_by_slices(torch.randn(1, 1, 4, 4), (1, 2, 3))

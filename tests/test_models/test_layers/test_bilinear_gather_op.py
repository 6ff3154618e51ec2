"""The vsa_mm::bilinear_gather custom operators."""
import pytest
import torch
import torch.nn.functional as F
from helpers.torch_features import requires

from vsa_mm.compat import CUSTOM_OPS
from vsa_mm.models.layers.backends import gather as bilinear_gather_module
from vsa_mm.models.layers.backends.gather import (BILINEAR_GATHER_OP,
                                                  bilinear_gather,
                                                  bilinear_gather_grad_rows,
                                                  bilinear_gather_grad_weights,
                                                  sample_projected_rows)


def _inputs(dtype, rows=23, channels=5, samples=17, corners=4, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return (torch.randn(rows, channels, dtype=dtype, generator=generator),
            torch.randint(0, rows, (samples, corners), generator=generator),
            torch.rand(samples, corners, dtype=dtype, generator=generator))


@requires(CUSTOM_OPS)
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_opcheck(dtype):
    """Schema, fake tensors, autograd registration and AOT dispatch."""
    rows, index, weights = _inputs(dtype)
    grad_out = torch.randn(index.shape[0], rows.shape[1], dtype=dtype)
    cases = [
        (bilinear_gather, (rows.requires_grad_(), index,
                           weights.requires_grad_())),
        (bilinear_gather, (rows.detach(), index, weights.detach())),
        (bilinear_gather_grad_rows, (grad_out, index, weights.detach(),
                                     rows.shape[0])),
        (bilinear_gather_grad_weights, (grad_out, rows.detach(), index)),
    ]
    for op, args in cases:
        torch.library.opcheck(op, args)


def test_op_matches_an_explicit_gather_in_float64():
    rows, index, weights = _inputs(torch.float64)
    rows.requires_grad_()
    weights.requires_grad_()
    out = bilinear_gather(rows, index, weights)
    expected = (rows[index] * weights[..., None]).sum(dim=1)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-14)
    upstream = torch.randn_like(out)
    grads = torch.autograd.grad((out * upstream).sum(), (rows, weights))
    expected_grads = torch.autograd.grad((expected * upstream).sum(),
                                         (rows, weights))
    for grad, expected_grad in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(grad, expected_grad, rtol=0, atol=1e-13)


@requires(CUSTOM_OPS)
def test_op_is_registered_under_its_name():
    namespace, name = BILINEAR_GATHER_OP.split('::')
    packet = getattr(getattr(torch.ops, namespace), name)
    rows, index, weights = _inputs(torch.float32)
    torch.testing.assert_close(
        packet(rows, index, weights), bilinear_gather(rows, index, weights))


@pytest.mark.parametrize(
    'tracing', [False, True], ids=['eager-function', 'traced-checkpoint'])
def test_projection_output_is_recomputed_not_saved(tracing, monkeypatch):
    """Backward recomputes the projected rows: autograd keeps only the
    projection's input, never its (rows, channels) output, on both the eager
    path and the path taken while a tracer records."""
    monkeypatch.setattr(bilinear_gather_module, 'is_tracing', lambda: tracing)
    batch, height, width, heads, channels, inputs = 2, 6, 5, 3, 7, 11
    x = torch.randn(batch, height, width, inputs, requires_grad=True)
    weight = torch.randn(heads * channels, inputs, requires_grad=True)
    grid = torch.rand(batch, 4, heads, 9, 2) * 2 - 1
    projected = []

    def project(x, weight, bias):
        rows = F.linear(x, weight, bias).reshape(-1, channels)
        projected.append(rows.shape)
        return rows

    saved_shapes = []

    def pack(tensor):
        saved_shapes.append(tuple(tensor.shape))
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = sample_projected_rows(project, x, weight, None, grid,
                                    (height, width), heads)
    rows_shape = (batch * height * width * heads, channels)
    assert projected == [rows_shape]
    assert rows_shape not in saved_shapes
    assert tuple(x.shape) in saved_shapes
    out.sum().backward()
    assert projected == [rows_shape, rows_shape]  # recomputed once
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_no_recompute_without_autograd():
    x = torch.randn(1, 4, 4, 3)
    weight = torch.randn(6, 3)
    calls = []

    def project(x, weight, bias):
        calls.append(1)
        return F.linear(x, weight, bias).reshape(-1, 3)

    with torch.no_grad():
        out = sample_projected_rows(project, x, weight, None,
                                    torch.zeros(1, 1, 2, 3, 2), (4, 4), 2)
    assert out.shape == (1, 1, 2, 3, 3) and calls == [1]

"""The fused Triton backend on a GPU: accuracy, resources and launch width.

Three tables, for a CUDA machine:

1. **Accuracy**: ``VSAWindowAttention(backend='triton')`` against
   ``backend='reference'`` with the same weights, forward and backward,
   as ``|a - b| / |b|`` (norms) of the output and of the input's and every
   parameter's gradient (the worst one is shown, and named). The reference
   runs in float32 with exact (non-TF32) matrix products; float16 and
   bfloat16 rows run the triton layer under autocast, next to the reference
   under the same autocast, so the two errors can be compared. Cases cover
   Swin-T's stage shapes, odd map sizes (padding and crop), samples far off
   the map, zero-initialised regression heads (whose own gradients are
   left out there: see ``_worst``) and batches above one.
2. **Resources**: registers and spilled bytes of both kernels per storage
   dtype, from the compiled kernels.
3. **Launch width**: the fused operator's forward+backward time
   (``triton.testing.do_bench``, median) at Swin-T stage 1 and 3 for each
   pair of forward/backward warps, B=4 and 64, float32 and bfloat16.

Reproduce::

    python benchmarks/check_triton_backend.py            # about a minute
"""
import argparse
import contextlib
import functools
import itertools
import traceback
from typing import Callable, Dict, Iterator, List, NamedTuple, Optional, Tuple

import torch
import torch.nn as nn

from vsa_mm.models import VSAWindowAttention
from vsa_mm.models.layers.backends import triton_fused


class Case(NamedTuple):
    name: str
    batch: int
    height: int
    width: int
    channels: int
    heads: int
    #: Standard deviation of the regression heads' weights and biases;
    #: 0 keeps them at their zero initialisation.
    motion: float


CASES = (
    Case('Swin-T stage 1', 2, 56, 56, 96, 3, 0.05),
    Case('Swin-T stage 3', 2, 14, 14, 384, 12, 0.05),
    Case('odd 13x17, B=3', 3, 13, 17, 64, 2, 0.05),
    Case('off the map', 2, 19, 23, 64, 4, 1.0),
    Case('zero-initialised heads', 2, 21, 28, 64, 2, 0.0),
    Case('head width 48', 1, 16, 9, 96, 2, 0.05),
)
DTYPES = {'fp32': torch.float32, 'fp16': torch.float16, 'bf16': torch.bfloat16}


@contextlib.contextmanager
def exact_float32() -> Iterator[None]:
    saved = torch.backends.cuda.matmul.allow_tf32, \
        torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, \
            torch.backends.cudnn.allow_tf32 = saved


def _layer(case: Case, backend: str) -> nn.Module:
    """The case's layer with ``backend``; the same weights for every
    backend."""
    torch.manual_seed(0)
    layer = VSAWindowAttention(case.channels, case.heads, 7, backend=backend)
    nn.init.trunc_normal_(layer.relative_position_bias_table, std=.5)
    if case.motion:
        for head in (layer.sampling_offsets, layer.sampling_scales):
            nn.init.normal_(head.proj.weight, std=case.motion)
            nn.init.normal_(head.proj.bias, std=case.motion * 4)
    return layer.cuda()


def _run(layer: nn.Module, x: torch.Tensor, hw: Tuple[int,
                                                      int], grad: torch.Tensor,
         dtype: Optional[torch.dtype]) -> Dict[str, torch.Tensor]:
    layer.zero_grad(set_to_none=True)
    x = x.detach().requires_grad_()
    with torch.autocast(
            'cuda', dtype=dtype or torch.float32, enabled=dtype is not None):
        out = layer(x, hw)
    (out.float() * grad).sum().backward()
    results = {'output': out.detach().float(), 'input grad': x.grad}
    results.update({
        name: p.grad.float()
        for name, p in layer.named_parameters()
    })
    return results


def _worst(got: Dict[str, torch.Tensor], expected: Dict[str, torch.Tensor],
           skip_heads: bool) -> Tuple[float, float, str]:
    """Output error, worst gradient error and that gradient's name.

    With ``skip_heads``, the regression heads' gradients are left out: at
    zero offsets and scales every sample sits exactly on a pixel, where
    bilinear interpolation has no derivative. The fused kernel, whose
    positions are exact there, takes the right-hand one, as ``grid_sample``
    does for exact coordinates; the reference's normalised coordinates land
    a rounding error to either side.
    """
    errors = {
        name:
        ((got[name] - value).norm() / value.norm().clamp_min(1e-30)).item()
        for name, value in expected.items()
        if not (skip_heads and name.startswith('sampling_'))
    }
    output = errors.pop('output')
    name = max(errors, key=errors.get)
    return output, errors[name], name


def accuracy_table() -> List[str]:
    lines = [
        '| case | dtype | triton output | triton worst grad | '
        'reference worst grad (same dtype) |', '|---|---|---:|---:|---|'
    ]
    for case in CASES:
        reference, fused = _layer(case, 'reference'), _layer(case, 'triton')
        torch.manual_seed(1)
        x = torch.randn(
            case.batch, case.height * case.width, case.channels, device='cuda')
        grad = torch.randn(
            case.batch, case.height * case.width, case.channels, device='cuda')
        hw = (case.height, case.width)
        with exact_float32():
            expected = _run(reference, x, hw, grad, None)
            for name, dtype in DTYPES.items():
                autocast = None if dtype is torch.float32 else dtype
                out_err, grad_err, grad_name = _worst(
                    _run(fused, x, hw, grad, autocast), expected,
                    not case.motion)
                ref_note = '-'
                if autocast is not None:
                    _, ref_err, ref_name = _worst(
                        _run(reference, x, hw, grad, autocast), expected,
                        not case.motion)
                    ref_note = f'{ref_err:.1e} ({ref_name})'
                lines.append(f'| {case.name} | {name} | {out_err:.1e} | '
                             f'{grad_err:.1e} ({grad_name}) | {ref_note} |')
    return lines


def _op_inputs(batch: int, size: int, channels: int, heads: int,
               dtype: torch.dtype) -> tuple:
    torch.manual_seed(0)
    windows = ((size + 6) // 7)**2
    qkv = torch.randn(
        batch * size * size, 3 * channels, device='cuda',
        dtype=dtype).requires_grad_()
    offsets = (torch.randn(batch * windows * heads * 2, device='cuda') *
               0.3).requires_grad_()
    scales = (torch.randn(batch * windows * heads * 2, device='cuda') *
              0.1).requires_grad_()
    table = (torch.randn(169, heads, device='cuda') * 0.02).requires_grad_()
    scale = (channels // heads)**-0.5
    return qkv, offsets, scales, table, batch, size, size, scale, 7, heads


def resources_table() -> List[str]:
    lines = [
        '| kernel | dtype | head dims | warps | registers | spilled bytes |',
        '|---|---|---:|---:|---:|---:|'
    ]
    for name, dtype in DTYPES.items():
        for channels, heads in ((96, 3), (256, 4)):
            args = _op_inputs(1, 14, channels, heads, dtype)
            launch = triton_fused._Launch(args[0], 1, 14, 14, 7, heads)
            kernels = launch.kernels
            out, lse = triton_fused.fused_varied_window_attention(*args)
            grads = [
                torch.zeros_like(t, dtype=torch.float32) for t in args[:4]
            ]
            compiled = {
                'forward':
                kernels.vsa_forward_kernel[launch.grid](
                    args[0],
                    args[1],
                    args[2],
                    args[3],
                    out,
                    lse,
                    *launch.geometry,
                    args[7],
                    num_warps=triton_fused.NUM_WARPS['forward'],
                    **launch.constants),
                'backward':
                kernels.vsa_backward_kernel[launch.grid](
                    args[0],
                    args[1],
                    args[2],
                    args[3],
                    out,
                    torch.ones_like(out),
                    lse,
                    *grads,
                    *launch.geometry,
                    args[7],
                    num_warps=triton_fused.NUM_WARPS['backward'],
                    **launch.constants),
            }
            for kernel, binary in compiled.items():
                lines.append(f'| {kernel} | {name} | {channels // heads} | '
                             f'{triton_fused.NUM_WARPS[kernel]} | '
                             f'{getattr(binary, "n_regs", "-")} | '
                             f'{getattr(binary, "n_spills", "-")} |')
    return lines


def warps_table(batches: Tuple[int, ...]) -> List[str]:
    from triton.testing import do_bench
    combos = list(itertools.product((4, 8), (4, 8)))
    lines = [
        '| shape | dtype | ' + ' | '.join(f'fwd {f} / bwd {b} warps'
                                          for f, b in combos) + ' |',
        '|---|---|' + '---:|' * len(combos)
    ]
    for batch, (stage, size, channels, heads), (name, dtype) in \
            itertools.product(batches, (('stage 1', 56, 96, 3),
                                        ('stage 3', 14, 384, 12)),
                              (('fp32', torch.float32),
                               ('bf16', torch.bfloat16))):
        args = _op_inputs(batch, size, channels, heads, dtype)
        grad = torch.randn(
            batch * size * size, channels, device='cuda', dtype=dtype)

        def step(forward: int, backward: int) -> None:
            out, lse = triton_fused.launch_forward(*args, forward)
            triton_fused.launch_backward(grad, *args[:4], out, lse, *args[4:],
                                         backward)

        times = [
            do_bench(
                functools.partial(step, forward, backward),
                return_mode='median') for forward, backward in combos
        ]
        best = min(times)
        cells = [
            f'**{t * 1e3:.0f}**' if t == best else f'{t * 1e3:.0f}'
            for t in times
        ]
        lines.append(f'| Swin-T {stage}, B={batch} | {name} | ' +
                     ' | '.join(cells) + ' |')
    lines.insert(0, 'forward+backward of the fused operator, microseconds')
    return lines


def determinism_table() -> List[str]:
    """Under ``torch.use_deterministic_algorithms(True)``: what ``'auto'``
    picks, whether two backward passes agree bit for bit, and what
    ``'triton'`` does."""
    lines = ['| backend | result |', '|---|---|']
    x = torch.randn(2, 19 * 23, 64, device='cuda')
    grad = torch.randn_like(x)
    torch.use_deterministic_algorithms(True)
    try:
        for backend in ('auto', 'gather', 'triton'):
            layer = _layer(CASES[3], backend)
            try:
                runs = [_run(layer, x, (19, 23), grad, None) for _ in '12']
            except RuntimeError as error:
                lines.append(f'| {backend} | RuntimeError: '
                             f'{str(error)[:90]}... |')
                continue
            same = all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])
            lines.append(f'| {backend} | two runs bitwise equal: {same} |')
    finally:
        torch.use_deterministic_algorithms(False)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--batches', type=int, nargs='+', default=[4, 64])
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit('check_triton_backend.py: needs a CUDA GPU')
    triton_version = __import__('triton').__version__
    header = (f'torch {torch.__version__}, {torch.cuda.get_device_name()}, '
              f'triton {triton_version}')
    print(header, flush=True)  # noqa: T201
    tables: Dict[str, Callable[[], List[str]]] = {
        'accuracy': accuracy_table,
        'resources': resources_table,
        'determinism': determinism_table,
        'launch widths': lambda: warps_table(tuple(args.batches)),
    }
    failed = []
    # Each table is printed when it is done, and a failing one (with its
    # traceback) does not cost the others: a GPU run is rare and short.
    for title, table in tables.items():
        try:
            lines = table()
        except Exception:  # noqa: B902  reported, then the next table
            lines = [f'{title}: failed', traceback.format_exc()]
            failed.append(title)
        print('\n' + '\n'.join(lines), flush=True)  # noqa: T201
    if failed:
        raise SystemExit('check_triton_backend.py: failed: ' +
                         ', '.join(failed))


if __name__ == '__main__':
    main()

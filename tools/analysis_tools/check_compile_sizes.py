"""Train a VSA backbone compiled by default ``torch.compile`` across sizes.

Compiles a backbone the way users write it, ``torch.compile(model)``
(inductor, default options), and runs one training step at each image size
in turn: inductor compiles the first size with static shapes and recompiles
the second with symbolic ones. Each step's parameter gradients are compared
with an eager copy of the model holding the same weights, under a loss that
projects every output element onto a fixed random tensor drawn afresh for
each size (a held-out direction: the sum of LayerNorm-ed outputs would have
zero gradient and compare rounding noise). After each step the compiled
model takes an SGD step and the eager copy loads its weights, so the next
size trains on from there.

Prints one table row per size: the wall time of the step (compiling
included), the graphs compiled so far, and the worst relative error of the
outputs and of any parameter's gradient; then fails with one line and exit
status 1 when an error exceeds ``--rtol``.

Usage::

    .venv/bin/python tools/analysis_tools/check_compile_sizes.py \
        --backbone swin --sizes 224x224 160x192
    .venv/bin/python tools/analysis_tools/check_compile_sizes.py \
        --backbone vitaev2 --backend triton --batch 1
    .venv/bin/python tools/analysis_tools/check_compile_sizes.py \
        --backbone swin --sizes 96x128 100x131 \
        --arch '{"embed_dims": 32, "depths": [1, 1], "num_heads": [1, 2]}'

Without a GPU ``--backend triton`` runs in Triton's interpreter: set
``TRITON_INTERPRET=1``. On 2 CPU cores, compiling a full-size backbone takes
tens of minutes; the recompile at the second size takes longest.
"""
import argparse
import copy
import json
import time
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from torch._dynamo.utils import counters

from vsa_mm.cli.tool import ToolArgumentParser, run_tool
from vsa_mm.models import SwinTransformerVSA, ViTAEv2
from vsa_mm.models.layers import move_windows
from vsa_mm.models.layers.backends import VSA_BACKENDS

#: Backbone classes and their default presets, by ``--backbone``.
BACKBONES = {
    'swin': (SwinTransformerVSA, 'tiny'),
    'vitaev2': (ViTAEv2, 's-vsa'),
}


class StepReport(NamedTuple):
    """What one training step at one size found."""
    size: Tuple[int, int]
    seconds: float
    graphs: int
    output_error: float
    gradient_error: float
    worst_parameter: str


def parse_size(text: str) -> Tuple[int, int]:
    """``'HxW'`` as ``(H, W)``; argparse turns the ValueError into a
    one-line error."""
    parts = text.lower().split('x')
    if len(parts) != 2 or not all(part.isdigit() for part in parts):
        raise ValueError(f'size must look like 224x224, got {text!r}')
    return int(parts[0]), int(parts[1])


def positive_int(text: str) -> int:
    """An int above zero; argparse turns the ValueError into a one-line
    error."""
    value = int(text)
    if value < 1:
        raise ValueError(f'must be at least 1, got {value}')
    return value


def parse_arch(text: str):
    """A preset name, or a JSON object of arch settings."""
    if text.lstrip().startswith('{'):
        return json.loads(text)
    return text


def projection_loss(outs: Sequence[torch.Tensor], seed: int) -> torch.Tensor:
    """Every output times a fixed random tensor, summed."""
    generator = torch.Generator().manual_seed(seed)
    return sum(
        (out *
         torch.randn(out.shape, generator=generator, dtype=out.dtype)).sum()
        for out in outs)


def relative_errors(got: Dict[str, torch.Tensor],
                    expected: Dict[str, torch.Tensor]) -> Dict[str, float]:
    """``|got - expected| / max(|expected|, floor)`` per parameter.

    Some gradients are zero up to rounding (a convolution's bias before a
    BatchNorm), so errors are relative to the larger of the tensor's norm
    and a thousandth of the norm of all gradients together.
    """
    if got.keys() != expected.keys():
        raise ValueError(
            f'different parameters: {sorted(got.keys() ^ expected.keys())}')
    floor = 1e-3 * torch.cat([g.flatten() for g in expected.values()]).norm()
    return {
        name: float((got[name] - value).norm() / max(value.norm(), floor))
        for name, value in expected.items()
    }


def _step(model: nn.Module, images: torch.Tensor, seed: int):
    """Forward, loss and backward; the outputs and the gradients by name."""
    model.zero_grad(set_to_none=True)
    outs = model(images)
    projection_loss(outs, seed).backward()
    grads = {
        name.removeprefix('_orig_mod.'): param.grad
        for name, param in model.named_parameters() if param.grad is not None
    }
    return [out.detach() for out in outs], grads


def check_sizes(model: nn.Module,
                sizes: Sequence[Tuple[int, int]],
                batch: int = 2,
                lr: float = 0.01) -> List[StepReport]:
    """Train ``torch.compile(model)`` one step per size against eager.

    Args:
        model (nn.Module): A backbone in training mode; not modified.
        sizes (Sequence[tuple[int, int]]): Image sizes (H, W), in order.
        batch (int): Images per step.
        lr (float): SGD learning rate between sizes.

    Returns:
        list[StepReport]: One per size.
    """
    eager = copy.deepcopy(model)
    trained = copy.deepcopy(model)
    torch._dynamo.reset()
    compiled = torch.compile(trained)
    optimizer = torch.optim.SGD(trained.parameters(), lr=lr)
    reports = []
    for seed, (height, width) in enumerate(sizes):
        images = torch.randn(batch, 3, height, width)
        start = time.perf_counter()
        outs, grads = _step(compiled, images, seed)
        seconds = time.perf_counter() - start
        expected_outs, expected_grads = _step(eager, images, seed)
        output_error = max(
            float((out - ref).norm() / ref.norm())
            for out, ref in zip(outs, expected_outs, strict=True))
        errors = relative_errors(grads, expected_grads)
        worst = max(errors, key=errors.get)
        reports.append(
            StepReport((height, width), seconds,
                       counters['stats']['unique_graphs'], output_error,
                       errors[worst], worst))
        optimizer.step()
        eager.load_state_dict(trained.state_dict())
    return reports


def build_backbone(backbone: str, arch, backend: str) -> nn.Module:
    """A backbone with moving windows, every stage output, stochastic depth
    off (its random draws differ between compiled and eager runs)."""
    cls, _ = BACKBONES[backbone]
    num_stages = len(cls._resolve_arch(arch)['depths'])
    torch.manual_seed(0)
    model = cls(
        arch=arch,
        drop_path_rate=0.,
        out_indices=tuple(range(num_stages)),
        attn_cfg=dict(backend=backend))
    return move_windows(model).train()


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = ToolArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--backbone', choices=sorted(BACKBONES), default='swin')
    parser.add_argument(
        '--arch',
        type=parse_arch,
        help='a preset name (default: tiny for swin, s-vsa for vitaev2) or '
        'a JSON object of arch settings')
    parser.add_argument('--backend', choices=VSA_BACKENDS, default='auto')
    parser.add_argument(
        '--sizes',
        type=parse_size,
        nargs='+',
        default=[(224, 224), (160, 192)])
    parser.add_argument('--batch', type=positive_int, default=2)
    parser.add_argument('--rtol', type=float, default=1e-4)
    args = parser.parse_args(argv)
    args.arch = args.arch or BACKBONES[args.backbone][1]
    return args


def check(args: argparse.Namespace) -> None:
    """Build, train, print the table; raise when an error exceeds
    ``args.rtol``."""
    model = build_backbone(args.backbone, args.arch, args.backend)
    reports = check_sizes(model, args.sizes, args.batch)
    lines = [
        f'{args.backbone} arch={args.arch} backend={args.backend} '
        f'batch={args.batch} torch={torch.__version__}', '',
        '| input | step (s) | graphs | output error | gradient error '
        '| worst parameter |', '|---|---:|---:|---:|---:|---|'
    ]
    for report in reports:
        lines.append(f'| {report.size[0]}x{report.size[1]} '
                     f'| {report.seconds:.1f} | {report.graphs} '
                     f'| {report.output_error:.1e} '
                     f'| {report.gradient_error:.1e} '
                     f'| {report.worst_parameter} |')
    print('\n'.join(lines))  # noqa: T201  the tool's output is its table
    worst = max(max(r.output_error, r.gradient_error) for r in reports)
    if worst > args.rtol:
        raise ValueError(f'compiled and eager differ by {worst:.1e}, more '
                         f'than --rtol {args.rtol}')


def main() -> None:
    args = parse_args()
    run_tool(lambda: check(args))


if __name__ == '__main__':
    main()

"""How many operators one forward+backward of each attention dispatches.

At the batch sizes of detection and segmentation training, a GPU finishes
each of these layers' kernels faster than Python and PyTorch can launch
them, so the step time follows the number of operators launched. This
script counts them with a ``TorchDispatchMode`` on the CPU: every operator
that reaches the dispatcher once autograd has run, views and other
metadata-only operators excluded (they launch no kernel), a custom operator
counted once (its body is hidden from the mode).

Counted at Swin-T's stage 1 and 3 (B=1; the count does not depend on the
batch): mmpretrain's ``WindowMSA`` (through ``ShiftWindowMSA`` with
``shift_size=0``, so padding, window partition and reverse included), and
``VSAWindowAttention`` with each backend. The ``triton`` backend runs in
Triton's CPU interpreter here (``TRITON_INTERPRET=1`` is set by this
script before anything imports Triton).

Reproduce::

    python benchmarks/count_launches.py              # about a minute
    python benchmarks/count_launches.py --details    # the operators too
"""
import argparse
import collections
import os

os.environ.setdefault('TRITON_INTERPRET', '1')

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from mmpretrain.models.utils import ShiftWindowMSA  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402

from vsa_mm.models import VSAWindowAttention  # noqa: E402

#: Operators that create no data of their own: no kernel on a GPU.
METADATA_OPS = frozenset({
    'aten::detach', 'aten::alias', 'aten::_unsafe_view', 'aten::empty',
    'aten::empty_strided', 'aten::lift_fresh', 'aten::new_empty',
    'aten::new_empty_strided', 'aten::empty_like', 'aten::promote_types'
})

SHAPES = (
    ('Swin-T stage 1', 56, 96, 3),
    ('Swin-T stage 3', 14, 384, 12),
)
BACKENDS = ('reference', 'gather', 'triton')


class LaunchCounter(TorchDispatchMode):
    """Counts the operators that launch work, by name."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: collections.Counter = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func._schema.name
        if not func.is_view and name not in METADATA_OPS:
            self.counts[name] += 1
        return func(*args, **(kwargs or {}))


def count(model: nn.Module, size: int, channels: int) -> collections.Counter:
    """Operators of one forward+backward of ``model`` on a (1, size^2, C)
    input that requires grad, after a first one (a training step, not the
    first call, which may build per-size constants)."""
    x = torch.randn(1, size * size, channels, requires_grad=True)
    model(x, (size, size)).sum().backward()
    model.zero_grad(set_to_none=True)  # as optimizers do between steps
    x.grad = None
    with LaunchCounter() as counter:
        model(x, (size, size)).sum().backward()
    return counter.counts


def build(size: int, channels: int, heads: int) -> dict:
    torch.manual_seed(0)
    models = {
        'WindowMSA (mmpretrain)':
        ShiftWindowMSA(channels, heads, 7, shift_size=0)
    }
    for backend in BACKENDS:
        layer = VSAWindowAttention(channels, heads, 7, backend=backend)
        for head in (layer.sampling_offsets, layer.sampling_scales):
            nn.init.normal_(head.proj.weight, std=0.05)
        models[f'VSA {backend}'] = layer
    return models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--details', action='store_true', help='list the operators')
    args = parser.parse_args()
    torch.set_num_threads(1)
    lines = [
        f'torch {torch.__version__}, operators launched by one '
        'forward+backward (views excluded, a custom operator counted once)',
        '', '| shape | layer | operators |', '|---|---|---:|'
    ]
    details = []
    for name, size, channels, heads in SHAPES:
        for layer_name, model in build(size, channels, heads).items():
            counts = count(model.train(), size, channels)
            lines.append(f'| {name} | {layer_name} | '
                         f'{sum(counts.values())} |')
            details.append(f'{name}, {layer_name}: ' +
                           ', '.join(f'{op} x{n}'
                                     for op, n in sorted(counts.items())))
    if args.details:
        lines += [''] + details
    print('\n'.join(lines))  # noqa: T201  the benchmark's output


if __name__ == '__main__':
    main()

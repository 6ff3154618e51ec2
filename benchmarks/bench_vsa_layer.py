"""VSAWindowAttention vs mmpretrain's window attention, side by side.

Measures forward+backward time and the memory of the tensors autograd saves
for backward, at Swin-T stage-1 and stage-3 shapes, for:

* ``WindowMSA``: mmpretrain's ``ShiftWindowMSA`` with ``shift_size=0``, i.e.
  ``WindowMSA`` with padding, window partition and reverse (the baseline);
* ``VSA auto``: our layer's default backend on this device (``'gather'``
  on the CPU, ``'gather_sdpa'`` elsewhere);
* ``VSA gather_sdpa``: the row gather attending through
  ``scaled_dot_product_attention``;
* ``VSA reference``: the explicit ``grid_sample`` backend.

VSA's regression heads get random non-zero weights (a trained state: the
windows move and stretch), so sampling is never a no-op. Timings are
interleaved (every round runs each model once) and the median is reported;
ratios are against ``WindowMSA`` measured in the same run.

Reproduce::

    .venv/bin/python benchmarks/bench_vsa_layer.py            # 1 thread, CPU
    .venv/bin/python benchmarks/bench_vsa_layer.py --threads 2 --rounds 31
    .venv/bin/python benchmarks/bench_vsa_layer.py --device cuda
"""
import argparse
import statistics
import time
from typing import Callable, Dict, List, NamedTuple, Tuple

import torch
import torch.nn as nn
from mmpretrain.models.utils import ShiftWindowMSA

from vsa_mm.models import VSAWindowAttention


class Shape(NamedTuple):
    name: str
    batch: int
    height: int
    width: int
    channels: int
    heads: int


SHAPES = (
    Shape('Swin-T stage 1', 4, 56, 56, 96, 3),
    Shape('Swin-T stage 3', 4, 14, 14, 384, 12),
)
WINDOW = 7


def saved_tensor_bytes(step: Callable[[], torch.Tensor],
                       exclude: List[torch.Tensor]) -> int:
    """Bytes of distinct storages autograd saves for backward in ``step``.

    Parameters (and other tensors in ``exclude``) are not counted: they
    exist whether or not backward will run.
    """
    excluded = {t.untyped_storage().data_ptr() for t in exclude}
    storages: Dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in excluded:
            storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = step()
    del out
    return sum(storages.values())


def build_models(shape: Shape, device: torch.device) -> Dict[str, nn.Module]:
    torch.manual_seed(0)
    window_msa = ShiftWindowMSA(
        shape.channels, shape.heads, WINDOW, shift_size=0)
    vsa = VSAWindowAttention(shape.channels, shape.heads, WINDOW)
    for table in (window_msa.w_msa.relative_position_bias_table,
                  vsa.relative_position_bias_table):
        nn.init.trunc_normal_(table, std=.02)
    for head in (vsa.sampling_offsets, vsa.sampling_scales):
        nn.init.normal_(head.proj.weight, std=0.05)
        nn.init.normal_(head.proj.bias, std=0.2)
    sdpa = VSAWindowAttention(
        shape.channels, shape.heads, WINDOW, backend='gather_sdpa')
    reference = VSAWindowAttention(
        shape.channels, shape.heads, WINDOW, backend='reference')
    sdpa.load_state_dict(vsa.state_dict())
    reference.load_state_dict(vsa.state_dict())
    models = {
        'WindowMSA (mmpretrain)': window_msa,
        'VSA auto': vsa,
        'VSA gather_sdpa': sdpa,
        'VSA reference': reference,
    }
    return {name: m.to(device).train() for name, m in models.items()}


def measure(shape: Shape, device: torch.device, rounds: int,
            warmup: int) -> Dict[str, Tuple[float, int]]:
    """Median forward+backward ms and saved bytes per model."""
    models = build_models(shape, device)
    x = torch.randn(
        shape.batch,
        shape.height * shape.width,
        shape.channels,
        device=device,
        requires_grad=True)
    hw = (shape.height, shape.width)

    def step(model: nn.Module) -> Callable[[], torch.Tensor]:
        return lambda: model(x, hw)

    def sync() -> None:
        if device.type == 'cuda':
            torch.cuda.synchronize(device)

    times: Dict[str, List[float]] = {name: [] for name in models}
    for index in range(warmup + rounds):
        for name, model in models.items():
            model.zero_grad(set_to_none=True)
            x.grad = None
            sync()
            start = time.perf_counter()
            model(x, hw).sum().backward()
            sync()
            if index >= warmup:
                times[name].append(time.perf_counter() - start)
    results = {}
    for name, model in models.items():
        saved = saved_tensor_bytes(step(model), list(model.parameters()))
        results[name] = (statistics.median(times[name]) * 1e3, saved)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--rounds', type=int, default=21)
    parser.add_argument('--warmup', type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    lines = [
        f'torch {torch.__version__}, device {device}, '
        f'{torch.get_num_threads()} thread(s), median of {args.rounds} '
        'interleaved rounds', '',
        '| shape | layer | fwd+bwd ms | time ratio | saved MiB | '
        'memory ratio |', '|---|---|---:|---:|---:|---:|'
    ]
    for shape in SHAPES:
        results = measure(shape, device, args.rounds, args.warmup)
        base_ms, base_bytes = results['WindowMSA (mmpretrain)']
        for name, (ms, saved) in results.items():
            lines.append(f'| {shape.name} (B={shape.batch}, '
                         f'{shape.height}x{shape.width}, C={shape.channels}, '
                         f'{shape.heads} heads) | {name} | {ms:.1f} | '
                         f'{ms / base_ms:.2f}x | {saved / 2**20:.1f} | '
                         f'{saved / base_bytes:.2f}x |')
    print('\n'.join(lines))  # noqa: T201  the benchmark's output is its table


if __name__ == '__main__':
    main()

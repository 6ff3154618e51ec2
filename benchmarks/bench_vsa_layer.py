"""VSAWindowAttention vs mmpretrain's window attention, side by side.

Measures forward+backward time and the memory of the tensors autograd saves
for backward, at Swin-T stage-1 and stage-3 shapes, for:

* ``WindowMSA``: mmpretrain's ``ShiftWindowMSA`` with ``shift_size=0``, i.e.
  ``WindowMSA`` with padding, window partition and reverse (the baseline);
* ``VSA auto``: our layer's default backend on this device (``'gather'``
  on the CPU, ``'reference'`` on CUDA);
* ``VSA reference``: the explicit ``grid_sample`` backend;
* ``VSA gather``: the bilinear row gather;
* ``VSA triton``: the fused Triton kernels (CUDA only).

VSA's regression heads get random non-zero weights (a trained state: the
windows move and stretch), so sampling is never a no-op. Timings are
interleaved (every round runs each model once) and the median is reported;
ratios are against ``WindowMSA`` measured in the same run.

Reproduce::

    .venv/bin/python benchmarks/bench_vsa_layer.py            # 1 thread, CPU
    .venv/bin/python benchmarks/bench_vsa_layer.py --threads 2 --rounds 31
    .venv/bin/python benchmarks/bench_vsa_layer.py --device cuda  # B=4, 64
    .venv/bin/python benchmarks/bench_vsa_layer.py --device cuda \
        --compile --dtype bf16       # every model compiled, bf16 autocast

With ``--compile`` every model, the baseline included, runs through
``torch.compile`` with static shapes (compiled against compiled; each
shape gets its own specialised graphs); ``--dtype bf16``/``fp16``
runs under autocast. On CUDA the table adds the peak memory of a step.
"""
import argparse
import contextlib
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
#: Batch sizes by device: small batches are launch-bound on a GPU, large ones
#: bandwidth-bound.
DEFAULT_BATCHES = {'cpu': (4, ), 'cuda': (4, 64)}
#: The backends timed besides ``'auto'``, each where it runs.
BACKENDS = ('reference', 'gather', 'triton')


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
    models = {'WindowMSA (mmpretrain)': window_msa, 'VSA auto': vsa}
    for backend in BACKENDS:
        if backend == 'triton' and device.type != 'cuda':
            continue  # Triton's CPU interpreter is for tests, not timing
        layer = VSAWindowAttention(
            shape.channels, shape.heads, WINDOW, backend=backend)
        layer.load_state_dict(vsa.state_dict())
        models[f'VSA {backend}'] = layer
    return {name: m.to(device).train() for name, m in models.items()}


DTYPES = {'fp32': None, 'bf16': torch.bfloat16, 'fp16': torch.float16}


def measure(shape: Shape,
            device: torch.device,
            rounds: int,
            warmup: int,
            compile_models: bool = False,
            dtype: str = 'fp32') -> Dict[str, Tuple[float, int, int]]:
    """Median forward+backward ms, saved bytes and peak bytes per model
    (peak bytes: CUDA only, 0 elsewhere)."""
    models = build_models(shape, device)
    if compile_models:
        # Static shapes: each shape builds new modules of the same classes,
        # and dynamo would otherwise recompile them with symbolic sizes.
        models = {
            name: torch.compile(m, dynamic=False)
            for name, m in models.items()
        }
    x = torch.randn(
        shape.batch,
        shape.height * shape.width,
        shape.channels,
        device=device,
        requires_grad=True)
    hw = (shape.height, shape.width)

    def autocast() -> contextlib.AbstractContextManager:
        if DTYPES[dtype] is None:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=DTYPES[dtype])

    def step(model: nn.Module) -> Callable[[], torch.Tensor]:

        def run() -> torch.Tensor:
            with autocast():
                return model(x, hw)

        return run

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
            step(model)().float().sum().backward()
            sync()
            if index >= warmup:
                times[name].append(time.perf_counter() - start)
    results = {}
    for name, model in models.items():
        saved = saved_tensor_bytes(step(model), list(model.parameters()))
        peak = 0
        if device.type == 'cuda':
            model.zero_grad(set_to_none=True)
            x.grad = None
            sync()
            torch.cuda.reset_peak_memory_stats(device)
            before = torch.cuda.memory_allocated(device)
            step(model)().float().sum().backward()
            sync()
            peak = torch.cuda.max_memory_allocated(device) - before
        results[name] = (statistics.median(times[name]) * 1e3, saved, peak)
    return results


def benchmark_parser(description: str, threads: int, rounds: int,
                     warmup: int) -> argparse.ArgumentParser:
    """The options both benchmarks take, with their defaults."""
    parser = argparse.ArgumentParser(description=description.split('\n')[0])
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--threads', type=int, default=threads)
    parser.add_argument('--rounds', type=int, default=rounds)
    parser.add_argument('--warmup', type=int, default=warmup)
    parser.add_argument(
        '--compile',
        action='store_true',
        help='torch.compile every model, the baselines included')
    parser.add_argument('--dtype', choices=sorted(DTYPES), default='fp32')
    return parser


def settings_line(args: argparse.Namespace, device: torch.device, *details:
                  str) -> str:
    """The first line of a benchmark's output: what was measured how."""
    return ', '.join((f'torch {torch.__version__}', f'device {device}',
                      f'{torch.get_num_threads()} thread(s)', *details,
                      f'median of {args.rounds} interleaved rounds',
                      args.dtype, 'compiled' if args.compile else 'eager'))


def main() -> None:
    parser = benchmark_parser(__doc__, threads=1, rounds=21, warmup=3)
    parser.add_argument(
        '--batches',
        type=int,
        nargs='+',
        help='batch sizes (default: 4 on the CPU, 4 and 64 on CUDA)')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    # Printed as measured: a run stopped half-way keeps the shapes done.
    emit([
        settings_line(args, device), '',
        '| shape | layer | fwd+bwd ms | time ratio | saved MiB | '
        'memory ratio | peak MiB |', '|---|---|---:|---:|---:|---:|---:|'
    ])
    batches = args.batches or DEFAULT_BATCHES.get(device.type, (4, ))
    shapes = [
        shape._replace(batch=batch) for batch in batches for shape in SHAPES
    ]
    for shape in shapes:
        results = measure(shape, device, args.rounds, args.warmup,
                          args.compile, args.dtype)
        base_ms, base_bytes, _ = results['WindowMSA (mmpretrain)']
        rows = []
        for name, (ms, saved, peak) in results.items():
            peak_mib = f'{peak / 2**20:.1f}' if device.type == 'cuda' else '-'
            rows.append(f'| {shape.name} (B={shape.batch}, '
                        f'{shape.height}x{shape.width}, C={shape.channels}, '
                        f'{shape.heads} heads) | {name} | {ms:.1f} | '
                        f'{ms / base_ms:.2f}x | {saved / 2**20:.1f} | '
                        f'{saved / base_bytes:.2f}x | {peak_mib} |')
        emit(rows)


def emit(lines: List[str]) -> None:
    """Print table lines now (the benchmark's output is its table)."""
    print('\n'.join(lines), flush=True)  # noqa: T201


if __name__ == '__main__':
    main()

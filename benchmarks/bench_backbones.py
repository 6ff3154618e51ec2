"""Backbone step time and memory: VSA backbones vs their baselines.

Swin-T + VSA (``vsa_mm.SwinTransformerVSA``) against mmpretrain's Swin-T,
and ViTAEv2*-S + VSA (``vsa_mm.ViTAEv2``, ``'s-vsa'``) against ViTAEv2*-S
(``'s-window'``, window attention everywhere), forward+backward at
224x224, batch 8, all four stage outputs summed into the loss. Timings are
interleaved (each round runs every backbone once) and the median is
reported. Memory is the bytes of the tensors autograd saves for
backward, parameters excluded. VSA's regression heads get random non-zero
weights so that sampling is not a no-op.

Reproduce::

    .venv/bin/python benchmarks/bench_backbones.py             # 2 threads
    .venv/bin/python benchmarks/bench_backbones.py --threads 1 --rounds 5
    .venv/bin/python benchmarks/bench_backbones.py --device cuda \
        --batch 32 --rounds 21 --compile --dtype bf16

``--compile`` compiles every backbone, the baselines included, with
static shapes;
``--dtype bf16``/``fp16`` runs under autocast; on CUDA the table adds the
peak memory of a step.
"""
import contextlib
import statistics
import time
from typing import Dict, List, Sequence

import torch
import torch.nn as nn
from mmpretrain.models import SwinTransformer

from vsa_mm.models import SwinTransformerVSA, ViTAEv2, VSAWindowAttention

from bench_vsa_layer import (  # isort: skip
    DTYPES, benchmark_parser, emit, saved_tensor_bytes, settings_line)

#: VSA backends of the default run.
DEFAULT_BACKENDS = ('auto', )


def build_pairs(
    backends: Sequence[str] = DEFAULT_BACKENDS
) -> Dict[str, Dict[str, nn.Module]]:
    """Each baseline with its VSA model, once per VSA backend."""
    torch.manual_seed(0)
    swin = SwinTransformer('tiny', out_indices=(0, 1, 2, 3))
    vsa_models = {
        'Swin-T + VSA':
        lambda backend: SwinTransformerVSA(
            'tiny', attn_cfg=dict(backend=backend)),
        'ViTAEv2*-S + VSA':
        lambda backend: ViTAEv2('s-vsa', attn_cfg=dict(backend=backend)),
    }
    # One set of weights per model, whatever the backend.
    weights = {
        name: moving_windows(build('auto')).state_dict()
        for name, build in vsa_models.items()
    }

    def variants(name: str) -> Dict[str, nn.Module]:
        built = {}
        for backend in backends:
            model = vsa_models[name](backend)
            model.load_state_dict(weights[name])
            label = name if tuple(backends) == DEFAULT_BACKENDS else \
                f'{name} ({backend})'
            built[label] = model
        return built

    return {
        'Swin-T': {
            'Swin-T (mmpretrain)': swin,
            **variants('Swin-T + VSA')
        },
        'ViTAEv2*-S': {
            'ViTAEv2*-S': ViTAEv2('s-window'),
            **variants('ViTAEv2*-S + VSA')
        },
    }


def moving_windows(model: nn.Module) -> nn.Module:
    """``model`` with regression heads that move its windows, in place."""
    for layer in model.modules():
        if isinstance(layer, VSAWindowAttention):
            for head in (layer.sampling_offsets, layer.sampling_scales):
                nn.init.normal_(head.proj.weight, std=0.02)
    return model


def measure(models: Dict[str, nn.Module],
            batch: int,
            size: int,
            rounds: int,
            warmup: int,
            device: torch.device = torch.device('cpu'),
            dtype: str = 'fp32') -> Dict[str, tuple]:
    """Median ms, saved bytes and (CUDA only) peak bytes per backbone."""
    images = torch.rand(batch, 3, size, size, device=device)

    def forward(model: nn.Module) -> list:
        autocast = contextlib.nullcontext() if DTYPES[dtype] is None else \
            torch.autocast(device.type, dtype=DTYPES[dtype])
        with autocast:
            return list(model(images))

    def step(model: nn.Module) -> None:
        model.zero_grad(set_to_none=True)
        sum(out.float().mean() for out in forward(model)).backward()
        if device.type == 'cuda':
            torch.cuda.synchronize(device)

    times: Dict[str, List[float]] = {name: [] for name in models}
    for index in range(warmup + rounds):
        for name, model in models.items():
            start = time.perf_counter()
            step(model)
            if index >= warmup:
                times[name].append(time.perf_counter() - start)
    results = {}
    for name, model in models.items():
        saved = saved_tensor_bytes(
            lambda m=model: forward(m), list(model.parameters()))
        peak = 0
        if device.type == 'cuda':
            model.zero_grad(set_to_none=True)
            torch.cuda.reset_peak_memory_stats(device)
            before = torch.cuda.memory_allocated(device)
            step(model)
            peak = torch.cuda.max_memory_allocated(device) - before
        results[name] = (statistics.median(times[name]) * 1e3, saved, peak)
    return results


def main() -> None:
    parser = benchmark_parser(__doc__, threads=2, rounds=7, warmup=1)
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--size', type=int, default=224)
    parser.add_argument(
        '--vsa-backends',
        nargs='+',
        default=['auto'],
        help='backends of the VSA models, one row each (default: auto)')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    # Printed as measured: a run stopped half-way keeps the pairs done.
    emit([
        settings_line(args, device, f'batch {args.batch}',
                      f'{args.size}x{args.size}'), '',
        '| backbone | fwd+bwd ms | time ratio | saved MiB | memory ratio | '
        'peak MiB |', '|---|---:|---:|---:|---:|---:|'
    ])
    for models in build_pairs(args.vsa_backends).values():
        for model in models.values():
            # mmpretrain's SwinTransformer.train() returns None, not self.
            model.to(device).train()
        if args.compile:
            models = {
                name: torch.compile(m, dynamic=False)
                for name, m in models.items()
            }
        results = measure(models, args.batch, args.size, args.rounds,
                          args.warmup, device, args.dtype)
        base_ms, base_bytes, _ = next(iter(results.values()))
        rows = []
        for name, (ms, saved, peak) in results.items():
            peak_mib = f'{peak / 2**20:.0f}' if device.type == 'cuda' else '-'
            rows.append(f'| {name} | {ms:.0f} | {ms / base_ms:.2f}x | '
                        f'{saved / 2**20:.0f} | {saved / base_bytes:.2f}x | '
                        f'{peak_mib} |')
        emit(rows)


if __name__ == '__main__':
    main()

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
"""
import argparse
import statistics
import time
from typing import Dict, List

import torch
import torch.nn as nn
from mmpretrain.models import SwinTransformer

from vsa_mm.models import SwinTransformerVSA, ViTAEv2, VSAWindowAttention

from bench_vsa_layer import saved_tensor_bytes  # isort: skip


def build_pairs() -> Dict[str, Dict[str, nn.Module]]:
    torch.manual_seed(0)
    swin = SwinTransformer('tiny', out_indices=(0, 1, 2, 3))
    swin_vsa = SwinTransformerVSA('tiny')
    vitae_vsa = ViTAEv2('s-vsa')
    for model in (swin_vsa, vitae_vsa):
        for layer in model.modules():
            if isinstance(layer, VSAWindowAttention):
                for head in (layer.sampling_offsets, layer.sampling_scales):
                    nn.init.normal_(head.proj.weight, std=0.02)
    return {
        'Swin-T': {
            'Swin-T (mmpretrain)': swin,
            'Swin-T + VSA': swin_vsa
        },
        'ViTAEv2*-S': {
            'ViTAEv2*-S': ViTAEv2('s-window'),
            'ViTAEv2*-S + VSA': vitae_vsa
        },
    }


def measure(models: Dict[str, nn.Module], batch: int, size: int, rounds: int,
            warmup: int) -> Dict[str, tuple]:
    images = torch.rand(batch, 3, size, size)
    times: Dict[str, List[float]] = {name: [] for name in models}
    for index in range(warmup + rounds):
        for name, model in models.items():
            model.zero_grad(set_to_none=True)
            start = time.perf_counter()
            sum(out.mean() for out in model(images)).backward()
            if index >= warmup:
                times[name].append(time.perf_counter() - start)
    results = {}
    for name, model in models.items():
        saved = saved_tensor_bytes(
            lambda m=model: m(images), list(model.parameters()))
        results[name] = (statistics.median(times[name]) * 1e3, saved)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--rounds', type=int, default=7)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--size', type=int, default=224)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    lines = [
        f'torch {torch.__version__}, CPU, {torch.get_num_threads()} '
        f'thread(s), batch {args.batch}, {args.size}x{args.size}, median of '
        f'{args.rounds} interleaved rounds', '',
        '| backbone | fwd+bwd ms | time ratio | saved MiB | memory ratio |',
        '|---|---:|---:|---:|---:|'
    ]
    for models in build_pairs().values():
        for model in models.values():
            model.train()
        results = measure(models, args.batch, args.size, args.rounds,
                          args.warmup)
        base_ms, base_bytes = next(iter(results.values()))
        for name, (ms, saved) in results.items():
            lines.append(f'| {name} | {ms:.0f} | {ms / base_ms:.2f}x | '
                         f'{saved / 2**20:.0f} | {saved / base_bytes:.2f}x |')
    print('\n'.join(lines))  # noqa: T201  the benchmark's output is its table


if __name__ == '__main__':
    main()

"""Compare the full-size backbones across torch releases.

On one stack (the pinned one), ``--save FILE`` builds Swin-T + VSA and
ViTAEv2-S + VSA with moved windows, runs them at 224x224 and 160x192 and
saves their weights, inputs, outputs and every parameter's gradient. On
another stack, ``--compare FILE`` loads the same weights and inputs, runs
the same passes and checks each output, and each parameter gradient
within ``1e-4`` of the largest gradient of its pass.

    .venv/bin/python dev/check_torch_parity.py --save /tmp/parity.pt
    .venv-torch2.1.2/bin/python dev/check_torch_parity.py \\
        --compare /tmp/parity.pt

It prints one line per model, size and backend, and exits 1 if any is off.
"""
import argparse
import sys
from typing import Dict, Tuple

import torch

from vsa_mm.checkpoint.safe_load import weights_only_load
from vsa_mm.models import SwinTransformerVSA, ViTAEv2

MODELS = {
    'Swin-T + VSA':
    lambda backend: SwinTransformerVSA(
        arch='tiny', drop_path_rate=0., attn_cfg=dict(backend=backend)),
    'ViTAEv2-S + VSA':
    lambda backend: ViTAEv2(
        arch='s-vsa', drop_path_rate=0., attn_cfg=dict(backend=backend)),
}
SIZES = ((224, 224), (160, 192))
BACKENDS = ('reference', 'gather')
TOLERANCE = 1e-4


def _move_windows(model: torch.nn.Module) -> None:
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if 'sampling_' in name:
                param.normal_(0, 0.05, generator=generator)


def _run(model: torch.nn.Module, state: dict,
         image: torch.Tensor) -> Tuple[list, Dict[str, torch.Tensor]]:
    """A training-mode pass from ``state`` (batch norms update their
    statistics, so every pass starts from the saved ones)."""
    model.load_state_dict(state)
    model.zero_grad()
    outs = model(image)
    weights = [torch.linspace(-1, 1, out.numel()).view_as(out) for out in outs]
    sum((out * w).sum() for out, w in zip(outs, weights)).backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    return [out.detach() for out in outs], grads


def save(path: str) -> None:
    torch.manual_seed(0)
    record = {}
    for name, build in MODELS.items():
        model = build('reference')
        _move_windows(model)
        state = {k: v.clone() for k, v in model.state_dict().items()}
        images = {size: torch.rand(1, 3, *size) for size in SIZES}
        runs = {
            size: _run(model, state, image)
            for size, image in images.items()
        }
        record[name] = dict(state_dict=state, images=images, runs=runs)
    torch.save(record, path)


def compare(path: str) -> bool:
    record = weights_only_load(path)
    ok = True
    for name, build in MODELS.items():
        saved = record[name]
        for backend in BACKENDS:
            model = build(backend)
            for size, image in saved['images'].items():
                outs, grads = _run(model, saved['state_dict'], image)
                ref_outs, ref_grads = saved['runs'][size]
                out_error = max(
                    float((a - b).abs().max())
                    for a, b in zip(outs, ref_outs, strict=True))
                largest = max(float(g.abs().max()) for g in ref_grads.values())
                grad_error = max(
                    float((grads[n] - g).abs().max())
                    for n, g in ref_grads.items())
                good = grad_error <= TOLERANCE * largest and \
                    out_error <= TOLERANCE * max(
                        float(o.abs().max()) for o in ref_outs)
                ok &= good
                sys.stdout.write(
                    f'{"ok " if good else "BAD"} {name:16s} {backend:9s} '
                    f'{size[0]}x{size[1]}: outputs {out_error:.2e}, '
                    f'gradients {grad_error:.2e} of largest {largest:.2e} '
                    f'(torch {torch.__version__})\n')
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument('--save', metavar='FILE')
    group.add_argument('--compare', metavar='FILE')
    args = parser.parse_args()
    if args.save:
        save(args.save)
        return 0
    return 0 if compare(args.compare) else 1


if __name__ == '__main__':
    sys.exit(main())

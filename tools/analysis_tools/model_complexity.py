"""Parameters and FLOPs of every backbone preset at 224x224.

FLOPs count multiply-adds of one forward pass of one image, through
``mmengine.analysis`` plus VSA's fused k/v sampling (see
``vsa_mm/analysis.py``).

Usage::

    .venv/bin/python tools/analysis_tools/model_complexity.py [--size 224]
"""
import argparse

import torch

from vsa_mm.analysis import count_flops_and_params
from vsa_mm.models import SwinTransformerVSA, ViTAEv2

PRESETS = (
    ('Swin-T + VSA', SwinTransformerVSA, 'tiny'),
    ('Swin-S + VSA', SwinTransformerVSA, 'small'),
    ('Swin-B + VSA', SwinTransformerVSA, 'base'),
    ('ViTAEv2*-S + VSA', ViTAEv2, 's-vsa'),
    ('ViTAEv2*-48M + VSA', ViTAEv2, '48m-vsa'),
    ('ViTAEv2*-B + VSA', ViTAEv2, 'b-vsa'),
    ('ViTAEv2-S', ViTAEv2, 's'),
    ('ViTAEv2-48M', ViTAEv2, '48m'),
    ('ViTAEv2-B', ViTAEv2, 'b'),
    ('ViTAEv2*-S', ViTAEv2, 's-window'),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--size', type=int, default=224)
    args = parser.parse_args()
    image = torch.rand(1, 3, args.size, args.size)
    lines = [
        f'backbones at {args.size}x{args.size} (without classifier heads)', '',
        '| backbone | config arch | params (M) | FLOPs (G) |',
        '|---|---|---:|---:|'
    ]
    for name, backbone, arch in PRESETS:
        model = backbone(arch, out_indices=(3, )).eval()
        with torch.no_grad():
            flops, params = count_flops_and_params(model, (image, ))
        lines.append(f'| {name} | `{backbone.__name__}` `{arch!r}` | '
                     f'{params / 1e6:.2f} | {flops / 1e9:.2f} |')
    print('\n'.join(lines))  # noqa: T201  the tool's output is its table


if __name__ == '__main__':
    main()

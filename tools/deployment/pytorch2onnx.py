"""Export the backbone (or backbone and neck) of a vsa_mm config to ONNX.

The graph takes a normalised (N, 3, H, W) image batch (what the model's
data preprocessor outputs) with dynamic N, H and W (H, W >= 64) and returns
the multi-scale feature maps. VSA's sampling becomes standard ONNX
operators (``Gather``, ``Mul``, ``ReduceSum``). Unless ``--no-verify`` is
given, onnxruntime then runs the file at the example size and at a second
size the export never saw, and the tool fails if either differs from
PyTorch.

Examples:
    python tools/deployment/pytorch2onnx.py CONFIG CHECKPOINT
    python tools/deployment/pytorch2onnx.py CONFIG CHECKPOINT \
--part features --shape 800 1344 --out mask-rcnn.onnx

Relative ``--out`` paths are taken in the work dir
(``work_dirs/<config name>`` unless ``--work-dir`` is given).
"""
import argparse
import os
import os.path as osp
from typing import List, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
from mmengine.config import DictAction
from mmengine.logging import MMLogger
from mmengine.registry import MODELS, init_default_scope
from mmengine.runner import load_checkpoint

from vsa_mm.checkpoint.safe_load import check_checkpoint_file
from vsa_mm.cli.run_options import in_work_dir, task_of, work_dir_of
from vsa_mm.cli.tool import ToolArgumentParser, load_config, run_tool
from vsa_mm.deployment import MIN_IMAGE_SIZE, export_onnx

#: What ``--part`` exports.
PARTS = ('backbone', 'features')


class FeatureExtractor(nn.Module):
    """``model.extract_feat`` (backbone, then neck if any) as a module that
    returns a tuple of (N, C_i, H_i, W_i) maps."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        return tuple(self.model.extract_feat(images))


def parse_args() -> argparse.Namespace:
    parser = ToolArgumentParser(description=__doc__.split('\n')[0])
    parser.add_config(checkpoint=True)
    parser.add_argument(
        '--out',
        help='the .onnx file (default: <config name>_<part>.onnx); a '
        'relative path is taken in the work dir')
    parser.add_work_dir('relative outputs')
    parser.add_argument(
        '--part',
        choices=PARTS,
        default='backbone',
        help='backbone: the backbone\'s outputs; features: the model\'s '
        'extract_feat (backbone, then neck)')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=2,
        default=[224, 224],
        metavar=('H', 'W'),
        help='size of the example image (default: 224 224)')
    parser.add_argument(
        '--batch', type=int, default=2, help='example batch (default: 2)')
    parser.add_argument(
        '--no-verify',
        action='store_true',
        help='skip the onnxruntime comparison with PyTorch')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries')
    return parser.parse_args()


def _check_sizes(shape: Sequence[int], batch: int) -> None:
    if min(shape) < MIN_IMAGE_SIZE:
        raise ValueError(
            f'--shape must be at least {MIN_IMAGE_SIZE} on each side, got '
            f'{tuple(shape)}')
    if batch < 1:
        raise ValueError(f'--batch must be >= 1, got {batch}')


def build_part(cfg, checkpoint: str, part: str) -> nn.Module:
    """The config's model with the checkpoint's weights, cut to ``part``.

    Args:
        cfg (Config): The config.
        checkpoint (str): Checkpoint file (loaded with
            ``weights_only=True``).
        part (str): One of :data:`PARTS`.

    Returns:
        nn.Module: In eval mode, on the CPU.
    """
    init_default_scope(task_of(cfg))
    model = MODELS.build(cfg.model)
    load_checkpoint(model, checkpoint, map_location='cpu')
    module = model.backbone if part == 'backbone' else FeatureExtractor(model)
    return module.eval()


def verification_sizes(shape: Sequence[int],
                       batch: int) -> List[Tuple[int, ...]]:
    """The example's size and one the export never saw (another batch,
    neither side a multiple of the example's)."""
    height, width = shape
    return [(batch, 3, height, width),
            (batch % 2 + 1, 3, height * 3 // 4 + 5, width * 3 // 4 + 9)]


def verify(module: nn.Module, path: str, sizes: Sequence[Tuple[int, ...]],
           logger: MMLogger) -> None:
    """Compare onnxruntime with PyTorch at ``sizes``.

    Raises:
        ValueError: If an output differs beyond ``rtol=1e-3, atol=1e-4``.
    """
    import onnxruntime
    session = onnxruntime.InferenceSession(
        path, providers=['CPUExecutionProvider'])
    for size in sizes:
        images = torch.randn(*size)
        with torch.no_grad():
            expected = module(images)
        expected = [expected] if isinstance(expected,
                                            torch.Tensor) else expected
        outputs = session.run(None, {'input': images.numpy()})
        worst = 0.
        for out, ref in zip(outputs, expected, strict=True):
            ref = ref.numpy()
            if out.shape != ref.shape:
                raise ValueError(
                    f'onnxruntime returns shape {out.shape} at input {size}, '
                    f'PyTorch {ref.shape}')
            difference = float(np.abs(out - ref).max())
            if not np.allclose(out, ref, rtol=1e-3, atol=1e-4):
                raise ValueError(
                    f'onnxruntime differs from PyTorch at input {size}: max '
                    f'abs difference {difference:.3g}')
            worst = max(worst, difference)
        logger.info(f'onnxruntime matches PyTorch at input {size}: '
                    f'{len(outputs)} outputs, max abs difference {worst:.2e}')


def main() -> None:
    args = parse_args()
    _check_sizes(args.shape, args.batch)
    check_checkpoint_file(args.checkpoint)
    cfg = load_config(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    name = osp.splitext(osp.basename(args.config))[0]
    work_dir = work_dir_of(args.config, cfg, args.work_dir)
    out = in_work_dir(args.out or f'{name}_{args.part}.onnx', work_dir)
    os.makedirs(osp.dirname(out), exist_ok=True)
    logger = MMLogger.get_instance('vsa_mm')

    module = build_part(cfg, args.checkpoint, args.part)
    example = torch.randn(args.batch, 3, *args.shape)
    export_onnx(module, example, out)
    logger.info(f'exported the {args.part} of {args.config} to {out} '
                '(dynamic batch, height and width)')
    if not args.no_verify:
        verify(module, out, verification_sizes(args.shape, args.batch), logger)


if __name__ == '__main__':
    run_tool(main, checkpoint=lambda: parse_args().checkpoint)

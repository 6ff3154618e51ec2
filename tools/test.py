"""Evaluate a checkpoint of a vsa_mm config with MMEngine's Runner.

The flags are those of the libraries' own ``tools/test.py``; ``--tta``
applies the config's ``tta_model``/``tta_pipeline`` (multi-scale and flip for
the Cityscapes configs). Like ``tools/train.py`` it runs distributed on
machines without GPUs.

Examples:
    python tools/test.py CONFIG CHECKPOINT
    torchrun --nproc_per_node 8 tools/test.py CONFIG CHECKPOINT \
--launcher pytorch
"""
import argparse
import os.path as osp

from mmengine.config import DictAction

from vsa_mm.engine import build_runner
from vsa_mm.engine.cli import ToolArgumentParser, load_config, run_tool
from vsa_mm.engine.safe_load import check_checkpoint_file


def parse_args() -> argparse.Namespace:
    parser = ToolArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where logs and metrics go')
    parser.add_argument(
        '--tta', action='store_true', help='test-time augmentation')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    return parser.parse_args()


def evaluate(args: argparse.Namespace) -> None:
    """Build the runner of ``args.config`` and test ``args.checkpoint``."""
    cfg = load_config(args.config)  # imports vsa_mm (custom_imports)
    if '://' not in args.checkpoint:
        check_checkpoint_file(args.checkpoint)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.launcher = args.launcher
    cfg.load_from = args.checkpoint
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
        'work_dirs',
        osp.splitext(osp.basename(args.config))[0])
    if args.tta:
        if 'tta_model' not in cfg or 'tta_pipeline' not in cfg:
            raise ValueError(
                f'--tta needs tta_model and tta_pipeline in {args.config}')
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
    runner = build_runner(cfg)
    runner.test()


def main() -> None:
    args = parse_args()
    run_tool(lambda: evaluate(args), checkpoint=lambda: args.checkpoint)


if __name__ == '__main__':
    main()

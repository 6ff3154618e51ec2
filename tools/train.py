"""Train a vsa_mm config (mmpretrain, mmdet or mmseg) with MMEngine's Runner.

The flags are those of the libraries' own ``tools/train.py``. It also runs
distributed on machines without GPUs: under ``torchrun`` with
``--launcher pytorch`` and no CUDA, it uses gloo and DDP without device ids.

Examples:
    python tools/train.py configs/mmdet/swin_vsa/\
mask-rcnn_swin-t-vsa_fpn_ms-crop-1x_coco.py
    torchrun --nproc_per_node 8 tools/train.py CONFIG --launcher pytorch
"""
import argparse
from typing import List

from mmengine.config import Config

from vsa_mm.checkpoint.safe_load import check_checkpoint_file
from vsa_mm.cli.launch import build_runner
from vsa_mm.cli.run_options import check_amp_device, work_dir_of
from vsa_mm.cli.tool import ToolArgumentParser, load_config, run_tool
from vsa_mm.models.utils.init_cfg import pretrained_entry
from vsa_mm.runtime import install as install_runtime


def parse_args() -> argparse.Namespace:
    parser = ToolArgumentParser(description=__doc__.split('\n')[0])
    parser.add_config()
    parser.add_work_dir('logs and checkpoints')
    parser.add_argument(
        '--resume',
        nargs='?',
        const='auto',
        help='resume from this checkpoint, or from the latest one in the '
        'work dir when no path is given')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='mixed-precision training (MMEngine\'s AmpOptimWrapper: needs a '
        'CUDA, NPU, MLU or MUSA device)')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the learning rate by the actual total batch size')
    parser.add_runner_options('train_cfg.max_epochs=3')
    return parser.parse_args()


def build_config(args: argparse.Namespace) -> Config:
    """The config with the command line applied."""
    cfg = load_config(args.config)  # imports vsa_mm (custom_imports)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.launcher = args.launcher
    cfg.work_dir = work_dir_of(args.config, cfg, args.work_dir)
    if args.amp:
        check_amp_device()
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg:
            raise ValueError(f'--auto-scale-lr needs auto_scale_lr (with '
                             f'base_batch_size) in {args.config}')
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume:
        cfg.resume, cfg.load_from = True, args.resume
    return cfg


def checkpoints_of(cfg: Config) -> List[str]:
    """The checkpoints a run may load: ``load_from`` and ``Pretrained``."""
    found = [cfg.load_from] if cfg.get('load_from') else []

    def walk(node) -> None:
        if isinstance(node, dict):
            entry = pretrained_entry(node)
            if entry is not None and isinstance(entry.get('checkpoint'), str):
                found.append(entry['checkpoint'])
            for value in node.values():
                walk(value)
        elif isinstance(node, (list, tuple)):
            for value in node:
                walk(value)

    walk(cfg.get('model'))
    return found


def main() -> None:
    args = parse_args()
    install_runtime()  # atomic writes, weights-only downloads, eager steps
    loading: dict = {}

    def train() -> None:
        cfg = build_config(args)
        loading['checkpoints'] = checkpoints_of(cfg)
        if cfg.get('load_from') and '://' not in cfg.load_from:
            check_checkpoint_file(cfg.load_from)
        build_runner(cfg).train()

    run_tool(train, checkpoint=lambda: loading.get('checkpoints'))


if __name__ == '__main__':
    main()

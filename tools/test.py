"""Evaluate a checkpoint of a vsa_mm config with MMEngine's Runner.

The flags are those of the libraries' own ``tools/test.py``, for all three
tasks (told apart by the config's ``default_scope``). Relative ``--out`` and
``--show-dir`` paths are taken in the work dir, so nothing is written into
the current directory. ``--tta`` applies the config's
``tta_model``/``tta_pipeline`` (multi-scale and flip for the Cityscapes
configs). Like ``tools/train.py`` it runs distributed on machines without
GPUs.

Examples:
    python tools/test.py CONFIG CHECKPOINT
    python tools/test.py CONFIG CHECKPOINT --out preds.pkl --show-dir vis
    torchrun --nproc_per_node 8 tools/test.py CONFIG CHECKPOINT \
--launcher pytorch
"""
import argparse

from vsa_mm.checkpoint.safe_load import check_checkpoint_file
from vsa_mm.cli.launch import build_runner
from vsa_mm.cli.run_options import (dump_results_metric, enable_tta,
                                    enable_visualization, in_work_dir, task_of,
                                    work_dir_of)
from vsa_mm.cli.tool import ToolArgumentParser, load_config, run_tool
from vsa_mm.runtime import install as install_runtime


def parse_args() -> argparse.Namespace:
    parser = ToolArgumentParser(description=__doc__.split('\n')[0])
    parser.add_config(checkpoint=True)
    parser.add_work_dir('logs and metrics')
    parser.add_argument(
        '--out',
        help='dump the predictions to this .pkl file (mmdet: '
        'DumpDetResults, mmseg and mmpretrain: MMEngine\'s DumpResults); a '
        'relative path is taken in the work dir, not the current directory')
    parser.add_argument(
        '--show', action='store_true', help='show each prediction in a window')
    parser.add_argument(
        '--show-dir',
        help='draw every test image with its predictions into this '
        'directory; a relative path is taken in the work dir')
    parser.add_argument(
        '--wait-time',
        type=float,
        default=2,
        help='seconds each image is shown with --show (default: 2)')
    parser.add_argument(
        '--tta', action='store_true', help='test-time augmentation')
    parser.add_runner_options()
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
    cfg.work_dir = work_dir_of(args.config, cfg, args.work_dir)
    task = task_of(cfg)
    dump = None
    if args.out:
        dump = dump_results_metric(task, in_work_dir(args.out, cfg.work_dir))
    if args.show or args.show_dir:
        enable_visualization(cfg, args.show, args.wait_time, args.show_dir)
    if args.tta:
        enable_tta(cfg)
    runner = build_runner(cfg)
    if dump is not None:
        runner.test_evaluator.metrics.append(dump)
    runner.test()


def main() -> None:
    args = parse_args()
    install_runtime()  # atomic writes, weights-only downloads, eager steps
    run_tool(lambda: evaluate(args), checkpoint=lambda: args.checkpoint)


if __name__ == '__main__':
    main()

"""The main demo: train and evaluate Swin-T + VSA Mask R-CNN on the CPU.

Steps (about 10 minutes on 2 cores once the environment is set up):

1. generate the embedded demo data (``data/demo``) from photographs that
   ship inside scikit-image and scikit-learn;
2. ``mim train mmdet`` the tiny Swin-T + VSA Mask R-CNN config
   (``configs/demo/``) from random weights;
3. ``mim test mmdet`` its last checkpoint: COCO box and mask mAP through
   pycocotools;
4. draw its predictions on validation images;
5. draw the windows that one of its VSA layers learned, on one of them.

Outputs go to ``outputs/demo/``. Example:
    python dev/run_demo.py --epochs 8
"""
import argparse
import os
import os.path as osp
import subprocess
import sys
import time
from typing import List

from mmengine.logging import MMLogger

from vsa_mm.cli.tool import ToolArgumentParser, run_tool
from vsa_mm.demo_data import make_demo_data

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(REPO, 'configs', 'demo',
                  'mask-rcnn_swin-t-vsa_fpn_demo-coco.py')
STEPS = 5


class Progress:
    """Numbered steps with elapsed time, logged through MMLogger."""

    def __init__(self) -> None:
        self.logger = MMLogger.get_instance('vsa_mm_demo')
        self.start = time.monotonic()
        self.step = 0

    def next(self, what: str) -> None:
        self.step += 1
        elapsed = time.monotonic() - self.start
        self.logger.info(f'[demo {self.step}/{STEPS}, {elapsed:5.0f} s] '
                         f'{what}')


def run(command: List[str]) -> None:
    """Run a command in the repository, streaming its output.

    Raises:
        RuntimeError: If it fails (its own error line is above).
    """
    env = dict(os.environ, PYTHONWARNINGS='ignore')
    status = subprocess.run(command, cwd=REPO, env=env).returncode
    if status != 0:
        raise RuntimeError(f'{" ".join(command[:3])} ... exited with status '
                           f'{status}')


def main() -> None:
    parser = ToolArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--epochs', type=int, default=8)
    parser.add_argument('--out', default='outputs/demo')
    args = parser.parse_args()
    if args.epochs < 1:
        parser.error(f'--epochs must be at least 1, got {args.epochs}')
    run_tool(lambda: demo(args))


def demo(args: argparse.Namespace) -> None:
    """Run the demo's steps (see the module docstring)."""
    out = osp.join(REPO, args.out)
    work_dir = osp.join(out, 'mask-rcnn_swin-t-vsa')
    python = sys.executable
    mim = osp.join(osp.dirname(python), 'mim')
    progress = Progress()

    progress.next('generating the demo data in data/demo')
    sets = make_demo_data(osp.join(REPO, 'data', 'demo'))
    progress.logger.info(f'demo sets: {sets}')

    progress.next(f'training Swin-T + VSA Mask R-CNN for {args.epochs} '
                  f'epochs (mim train mmdet)')
    run([
        mim, 'train', 'mmdet', CONFIG, '--gpus', '0', '--work-dir', work_dir,
        '--cfg-options', f'train_cfg.max_epochs={args.epochs}',
        f'train_cfg.val_interval={args.epochs}'
    ])
    checkpoint = osp.join(work_dir, f'epoch_{args.epochs}.pth')

    progress.next('evaluating the last checkpoint (mim test mmdet)')
    run([
        mim, 'test', 'mmdet', CONFIG, '--checkpoint', checkpoint, '--gpus',
        '0', '--work-dir', work_dir
    ])

    images = [
        osp.join(sets['coco'], 'val2017', f'val_{i:06d}.jpg') for i in range(4)
    ]
    progress.next('drawing predictions on validation images')
    run([
        python,
        osp.join(REPO, 'tools', 'visualize_detections.py'), CONFIG, checkpoint,
        *images, '--out',
        osp.join(out, 'predictions.png')
    ])

    progress.next('drawing the learned windows of a VSA layer')
    run([
        python,
        osp.join(REPO, 'tools', 'visualize_windows.py'), '--config', CONFIG,
        '--checkpoint', checkpoint, '--image', images[1], '--out',
        osp.join(out, 'learned_windows.png')
    ])
    progress.logger.info(
        f'done in {time.monotonic() - progress.start:.0f} s: metrics in the '
        f'test log above and {work_dir}; pictures in {out}')


if __name__ == '__main__':
    main()

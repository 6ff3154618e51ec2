"""Draw a trained detector's predictions on images, tiled into one picture.

Uses mmdet's ``DetInferencer`` (the config's test pipeline, the checkpoint's
class names and mmdet's visualiser for boxes and masks). Each image shows its
detections scoring at least ``--score-thr``, or its ``--top-k`` best ones if
fewer pass (a briefly trained model is shown, with its scores, rather than
hidden).

Example:
    python tools/visualize_detections.py CONFIG CHECKPOINT IMG [IMG ...] \
--out outputs/predictions.png
"""
import argparse
import os
import os.path as osp

import matplotlib
import numpy as np
from mmengine.logging import MMLogger

from vsa_mm.checkpoint.safe_load import check_checkpoint_file
from vsa_mm.cli.tool import ToolArgumentParser, load_config, run_tool

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = ToolArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('images', nargs='+')
    parser.add_argument('--score-thr', type=float, default=0.3)
    parser.add_argument('--top-k', type=int, default=3)
    parser.add_argument('--out', default='outputs/predictions.png')
    return parser.parse_args()


def draw_predictions(args: argparse.Namespace) -> None:
    """Run the detector on ``args.images``; write the tiled picture."""
    cfg = load_config(args.config)
    if '://' not in args.checkpoint:
        check_checkpoint_file(args.checkpoint)
    from mmdet.apis import DetInferencer
    inferencer = DetInferencer(
        model=cfg, weights=args.checkpoint, device='cpu')
    pictures, titles = [], []
    for path in args.images:
        scores = np.sort(
            inferencer(path, no_save_vis=True)['predictions'][0]['scores'])
        best = scores[-args.top_k:] if len(scores) else np.zeros(1)
        threshold = min(args.score_thr, float(best[0]))
        pictures.append(
            inferencer(
                path,
                return_vis=True,
                no_save_vis=True,
                pred_score_thr=threshold)['visualization'][0])
        titles.append(f'{osp.basename(path)}: '
                      f'{int(np.sum(scores >= threshold))} detections, '
                      f'score >= {threshold:.2f}')
    columns = min(len(pictures), 2)
    rows = -(-len(pictures) // columns)
    fig, axes = plt.subplots(
        rows, columns, figsize=(6 * columns, 4.6 * rows), squeeze=False)
    for axis in axes.flat:
        axis.axis('off')
    for axis, picture, title in zip(axes.flat, pictures, titles):
        axis.imshow(picture)
        axis.set_title(title)
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    fig.savefig(args.out, dpi=100)
    plt.close(fig)
    MMLogger.get_instance('vsa_mm').info(f'wrote {args.out}')


def main() -> None:
    args = parse_args()
    run_tool(
        lambda: draw_predictions(args), checkpoint=lambda: args.checkpoint)


if __name__ == '__main__':
    main()

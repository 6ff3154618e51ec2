"""Shared helpers of the ImageNet-ReaL metric tests."""
import datetime
import json
import os
import os.path as osp
from typing import Dict, List, Sequence, Tuple

import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

# The demo ImageNet-style validation set with 3 images per class, by sorted
# file name: (class ranking of the prediction, ReaL labels). Demo classes
# are folders in sorted order: cat=0, coffee=1, coin=2, horse=3.
# Comments: correct at top-1 / top-2 (by hand).
HAND_CASE: Dict[str, Tuple[List[int], List[int]]] = {
    'cat_0000.JPEG': ([0, 1, 2, 3], [0]),  # yes / yes
    'cat_0001.JPEG': ([1, 0, 2, 3], [0]),  # no / yes
    'cat_0002.JPEG': ([2, 3, 0, 1], [0]),  # no / no
    'coffee_0000.JPEG': ([3, 2, 1, 0], []),  # left out
    'coffee_0001.JPEG': ([1, 2, 0, 3], [1, 2]),  # yes / yes
    'coffee_0002.JPEG': ([0, 3, 1, 2], [1, 3]),  # no / yes
    'coin_0000.JPEG': ([2, 1, 3, 0], [2]),  # yes / yes
    'coin_0001.JPEG': ([0, 1, 2, 3], []),  # left out
    'coin_0002.JPEG': ([3, 0, 1, 2], [0, 1]),  # no / yes
    'horse_0000.JPEG': ([1, 3, 2, 0], [2]),  # no / no
    'horse_0001.JPEG': ([3, 1, 0, 2], [3]),  # yes / yes
    'horse_0002.JPEG': ([2, 0, 1, 3], [0, 1, 3]),  # no / yes
}
# 10 images counted; 4 right at top-1, 8 at top-2, all 10 within the 4
# classes (top-5 of a 4-class model counts every class).
HAND_EXPECTED = {
    'real/top1': 40.0,
    'real/top2': 80.0,
    'real/num_images': 10,
}


def ranking_scores(ranking: Sequence[int]) -> torch.Tensor:
    """Scores of shape (num_classes, ) that rank classes as ``ranking``."""
    scores = torch.zeros(len(ranking))
    for place, label in enumerate(ranking):
        scores[label] = 1.0 - place / len(ranking)
    return scores


def write_json(path: str, data) -> str:
    """Write ``data`` as JSON to ``path``; return ``path``."""
    with open(path, 'w') as f:
        json.dump(data, f)
    return path


def hand_samples(val_paths: Sequence[str]) -> List[dict]:
    """Data-sample dicts of :data:`HAND_CASE` for the given image paths."""
    return [
        dict(
            img_path=path,
            pred_score=ranking_scores(HAND_CASE[osp.basename(path)][0]))
        for path in val_paths
    ]


def run_rank(rank: int, world_size: int, init_file: str, real_json: str,
             scenarios: List[List[List[dict]]], size: int,
             out_dir: str) -> None:
    """One rank of a gloo run: process its shard of every scenario.

    ``scenarios[s][rank]`` is the list of data samples of this rank in
    scenario ``s``; the metrics of every scenario are written to
    ``out_dir/rank{rank}.json``.
    """
    import torch.distributed as dist

    from vsa_mm.evaluation import ReaLAccuracy

    # MMEngine gathers through a folder under the working directory.
    os.chdir(out_dir)
    dist.init_process_group(
        'gloo',
        init_method=f'file://{init_file}',
        rank=rank,
        world_size=world_size,
        # a lost peer fails the test in minutes, not torch's 30
        timeout=datetime.timedelta(seconds=120))
    try:
        found = []
        for shards in scenarios:
            metric = ReaLAccuracy(real_json, topk=(1, 2))
            samples = shards[rank]
            for start in range(0, len(samples), 3):
                metric.process(None, samples[start:start + 3])
            found.append(metric.evaluate(size))
        write_json(osp.join(out_dir, f'rank{rank}.json'), found)
        # Without it, torch 2.1's gloo may hang one rank in the teardown
        # while the other still finishes the last gather (about one run in
        # five on a 2-core machine).
        dist.barrier()
    finally:
        dist.destroy_process_group()

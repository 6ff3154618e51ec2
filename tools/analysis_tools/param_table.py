"""Parameter counts of the detection and segmentation configs vs the paper.

Reads every model of ``model-index.yml`` whose config lies under
``configs/mmdet`` or ``configs/mmseg`` (test-only ``*_ms-flip-test`` configs
share their training config's model and are skipped), builds it, and prints
a Markdown table with the paper's ``#params`` column (``Paper Parameters``
in the metafiles) where the paper gives one.

Example:
    python tools/analysis_tools/param_table.py
"""
import argparse
import os.path as osp
from typing import Iterator, List, NamedTuple, Optional

import yaml
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TASK_DIRS = ('configs/mmdet/', 'configs/mmseg/')


class Row(NamedTuple):
    """One model of the table."""
    name: str
    config: str
    paper_params: Optional[float]  # millions


def iter_models(index: str = osp.join(ROOT,
                                      'model-index.yml')) -> Iterator[Row]:
    """Detection and segmentation models listed by the model index."""
    with open(index, encoding='utf-8') as f:
        metafiles = yaml.safe_load(f)['Import']
    for metafile in metafiles:
        if not metafile.startswith(TASK_DIRS):
            continue
        with open(osp.join(ROOT, metafile), encoding='utf-8') as f:
            models = yaml.safe_load(f)['Models']
        for model in models:
            if model['Name'].endswith('_ms-flip-test'):
                continue
            paper = model['Metadata'].get('Paper Parameters')
            yield Row(model['Name'], model['Config'],
                      float(paper.rstrip('M')) if paper else None)


def count_params(config: str) -> float:
    """Parameters (millions) of the model that ``config`` builds."""
    cfg = Config.fromfile(osp.join(ROOT, config))
    init_default_scope(cfg.get('default_scope', 'mmengine'))
    model = MODELS.build(cfg.model)
    return sum(p.numel() for p in model.parameters()) / 1e6


def format_table(rows: List[Row], counts: List[float]) -> str:
    """Markdown table: model, ours, paper, relative difference."""
    lines = [
        '| model | params (ours) | #params (paper) | difference |',
        '|:---|---:|---:|---:|'
    ]
    for row, count in zip(rows, counts):
        if row.paper_params is None:
            paper = diff = '-'
        else:
            paper = f'{row.paper_params:g}M'
            diff = f'{100 * (count / row.paper_params - 1):+.1f}%'
        lines.append(f'| {row.name} | {count:.2f}M | {paper} | {diff} |')
    return '\n'.join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--only', default='', help='keep models whose name contains this')
    args = parser.parse_args()
    rows = [row for row in iter_models() if args.only in row.name]
    counts = [count_params(row.config) for row in rows]
    print(format_table(rows, counts))  # noqa: T201  the table is the output


if __name__ == '__main__':
    main()

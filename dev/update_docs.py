"""Regenerate the measured tables of ``docs/`` from the tools that make them.

Each table lives between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``
in a docs page and is the standard output of one command:

============================  ====================  =========================
block                         page                  command
============================  ====================  =========================
``model-complexity``          docs/backbones.md     model_complexity.py
``param-table``               docs/reproduction.md  param_table.py
``launch-counts``             docs/benchmarks.md    count_launches.py
``bench-vsa-layer``           docs/benchmarks.md    bench_vsa_layer.py (slow)
``bench-backbones``           docs/benchmarks.md    bench_backbones.py (slow)
``bench-vsa-layer-compiled``  docs/benchmarks.md    bench_vsa_layer.py
                                                    --compile (slow: inductor
                                                    compiles every model)
============================  ====================  =========================

Usage::

    python dev/update_docs.py                # the model tables, counts
    python dev/update_docs.py --benchmarks   # and the benchmarks (7-30 min)
    python dev/update_docs.py --check        # fail if a model table is stale
"""
import argparse
import re
import subprocess
import sys
from pathlib import Path
from typing import List, NamedTuple

ROOT = Path(__file__).resolve().parents[1]


class Block(NamedTuple):
    """A generated table: its marker name, page and command."""
    name: str
    page: str
    command: List[str]
    slow: bool


BLOCKS = (
    Block('model-complexity', 'docs/backbones.md',
          ['tools/analysis_tools/model_complexity.py'], False),
    Block('param-table', 'docs/reproduction.md',
          ['tools/analysis_tools/param_table.py'], False),
    Block('launch-counts', 'docs/benchmarks.md',
          ['benchmarks/count_launches.py'], False),
    Block('bench-vsa-layer', 'docs/benchmarks.md',
          ['benchmarks/bench_vsa_layer.py', '--rounds', '41'], True),
    Block('bench-backbones', 'docs/benchmarks.md',
          ['benchmarks/bench_backbones.py'], True),
    Block('bench-vsa-layer-compiled', 'docs/benchmarks.md',
          ['benchmarks/bench_vsa_layer.py', '--compile', '--rounds', '21'],
          True),
)


def block_pattern(name: str) -> 're.Pattern[str]':
    """The marked block ``name`` of a page, markers included."""
    return re.compile(rf'(<!-- {name}:start -->\n)(.*?)(<!-- {name}:end -->)',
                      re.S)


#: A line that MMEngine's logger wrote (``MM/DD hh:mm:ss - name - LEVEL``).
LOG_LINE = re.compile(r'^\d\d/\d\d \d\d:\d\d:\d\d - ')


def generate(block: Block) -> str:
    """Run the block's command and return its table (log lines dropped)."""
    result = subprocess.run([sys.executable, *block.command],
                            cwd=ROOT,
                            check=True,
                            capture_output=True,
                            text=True)
    lines = [
        line for line in result.stdout.splitlines() if not LOG_LINE.match(line)
    ]
    return '\n'.join(lines).strip() + '\n'


def current(block: Block) -> str:
    """The table a page holds now."""
    text = (ROOT / block.page).read_text(encoding='utf-8')
    match = block_pattern(block.name).search(text)
    if match is None:
        raise ValueError(f'{block.page} has no {block.name} block')
    return match.group(2)


def write(block: Block, table: str) -> None:
    """Put ``table`` between the block's markers."""
    page = ROOT / block.page
    text = page.read_text(encoding='utf-8')
    current(block)  # the markers must exist
    page.write_text(
        block_pattern(block.name).sub(
            lambda match: match.group(1) + table + match.group(3), text),
        encoding='utf-8')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--benchmarks', action='store_true', help='also run the benchmarks')
    parser.add_argument(
        '--check',
        action='store_true',
        help='only compare the fast tables with a fresh run')
    args = parser.parse_args()
    stale = []
    for block in BLOCKS:
        if block.slow and (args.check or not args.benchmarks):
            continue
        table = generate(block)
        if args.check:
            if table != current(block):
                stale.append(f'{block.page} ({block.name})')
        else:
            write(block, table)
    if stale:
        sys.stderr.write('stale tables: ' + ', '.join(stale) +
                         '; run python dev/update_docs.py\n')
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())

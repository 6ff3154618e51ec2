"""The benchmark scripts run and print their tables (one short round each;
the timings themselves are not checked here: see docs/benchmarks.md)."""
import subprocess
import sys
from typing import List

from helpers.paths import REPO


def _table(script: str, *args: str) -> List[List[str]]:
    """The cells of the data rows of ``benchmarks/<script>``'s table."""
    proc = subprocess.run([
        sys.executable,
        str(REPO / 'benchmarks' / script), '--rounds', '1', '--warmup', '0',
        *args
    ],
                          cwd=str(REPO),
                          capture_output=True,
                          text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [[cell.strip() for cell in line.strip('|').split('|')]
            for line in proc.stdout.splitlines() if line.startswith('| ')]
    return [row for row in rows[1:] if not set(row[0]) <= {'-', ':'}]


def test_layer_benchmark_times_every_backend_against_window_msa():
    rows = _table('bench_vsa_layer.py')
    assert [
        row[1] for row in rows
    ] == ['WindowMSA (mmpretrain)', 'VSA auto', 'VSA reference', 'VSA gather'
          ] * 2
    for baseline in (rows[0], rows[4]):
        assert baseline[3] == '1.00x' and baseline[5] == '1.00x', baseline
    assert all(float(row[3].rstrip('x')) > 0 for row in rows)


def test_backbone_benchmark_times_both_pairs():
    rows = _table('bench_backbones.py', '--batch', '1')
    assert [row[0] for row in rows] == [
        'Swin-T (mmpretrain)', 'Swin-T + VSA', 'ViTAEv2*-S', 'ViTAEv2*-S + VSA'
    ]
    assert rows[0][2] == rows[2][2] == '1.00x'
    assert all(float(row[2].rstrip('x')) > 0 for row in rows)

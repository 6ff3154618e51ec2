"""dev/gpu_check.sh (``make gpu-check``) on a machine without a GPU: its
command line, where it stops, and its time budget, with a stand-in
interpreter whose steps only sleep."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.tools import REPO, Result


def _gpu_check(tmp_path: Path, **env: str) -> Result:
    proc = subprocess.run(['bash', str(REPO / 'dev/gpu_check.sh')],
                          env=dict(
                              os.environ,
                              VSA_MM_GPU_WORK_DIR=str(tmp_path / 'work'),
                              VSA_MM_GPU_REPORT=str(tmp_path / 'report.md'),
                              **env),
                          capture_output=True,
                          text=True,
                          timeout=300)
    return Result(proc.returncode, proc.stdout, proc.stderr)


@pytest.mark.parametrize('env, message', [
    (dict(VSA_MM_GPU_STEPS='kernel benchmark'), "unknown step 'benchmark'"),
    (dict(VSA_MM_GPU_BUDGET='10m'), "got '10m'"),
    (dict(VSA_MM_WHEELHOUSE='.whl'), 'needs VSA_MM_PYTHON'),
])
def test_gpu_check_rejects_a_bad_request_in_one_line(tmp_path, env, message):
    result = _gpu_check(tmp_path, **env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_gpu_check_stops_at_the_environment_without_a_gpu(tmp_path):
    import torch
    if torch.cuda.is_available():
        pytest.skip('this machine has a GPU, so the check would run whole')
    result = _gpu_check(
        tmp_path, VSA_MM_PYTHON=sys.executable, VSA_MM_GPU_STEPS='kernel')
    assert result.returncode == 1
    assert 'torch sees no GPU' in result.stderr
    report = (tmp_path / 'report.md').read_text()
    # The environment was read (versions), then the check stopped there.
    assert 'mmpretrain 1.2.0' in report
    assert '**Stopped:**' in report
    assert 'Fused backend' not in report


def _stand_in_python(root: Path, compile_seconds: int = 0) -> Path:
    """An "interpreter" that passes the environment check (``-c``), installs
    a wheelhouse at once, compiles mmcv in ``compile_seconds``, and sleeps
    for a minute as any other step. Each call is logged to ``calls.txt``."""
    python = root / 'python'
    python.write_text(f"""#!/usr/bin/env bash
echo "$*" >> {root / 'calls.txt'}
case "$*" in
  -c*) echo "stand-in stack" ;;
  *"wheelhouse.py compile-mmcv"*) sleep {compile_seconds}; echo compiled ;;
  *"wheelhouse.py install"*) echo "installed $*" ;;
  *"test_models_on_cuda.py"*) echo "models passed" ;;
  *) echo "step $*"; exec sleep 60 ;;
esac
""")
    python.chmod(0o755)
    return python


def test_gpu_check_stops_a_step_at_the_budget_and_runs_no_more(tmp_path):
    result = _gpu_check(
        tmp_path,
        VSA_MM_PYTHON=str(_stand_in_python(tmp_path)),
        VSA_MM_GPU_STEPS='kernel layer',
        VSA_MM_GPU_BUDGET='3')
    assert result.returncode == 1
    report = (tmp_path / 'report.md').read_text()
    kernel, *layer = report.split('## Fused backend')[1].split(
        '## Layer benchmark')
    assert 'step benchmarks/check_triton_backend.py' in kernel
    assert 'exit status 124' in kernel
    assert 'stopped: the budget ran out' in kernel
    # The step after it (its fp32 and bf16 benchmarks) did not start.
    assert len(layer) == 2
    assert all('not run: the budget ran out' in part for part in layer)
    assert 'step benchmarks/bench_vsa_layer.py' not in report


def test_gpu_check_compiles_mmcv_behind_the_models_step(tmp_path):
    """With a wheelhouse, mmcv compiles in the background from the models
    step on; the mmcv-ops step waits for that compile, then installs."""
    house = tmp_path / 'house'
    house.mkdir()
    result = _gpu_check(
        tmp_path,
        VSA_MM_PYTHON=str(_stand_in_python(tmp_path, compile_seconds=3)),
        VSA_MM_WHEELHOUSE=str(house),
        VSA_MM_GPU_STEPS='models mmcv-ops')
    report = (tmp_path / 'report.md').read_text()
    assert result.returncode == 0, report
    calls = (tmp_path / 'calls.txt').read_text().splitlines()
    assert [
        call.split(' ', 2)[1] for call in calls if 'wheelhouse.py' in call
    ] == ['install', 'compile-mmcv', 'install'], calls
    assert calls[-1].endswith('--mmcv-ops')
    # The models step ran while mmcv compiled; the wait shows its log.
    models = report.index('models passed')
    waited = report.index("## mmcv's background compile (waited for)")
    assert report.index('mmcv compiling in the background') < models < waited
    assert report.index(
        'compiled',
        waited) < report.index("## mmcv's CUDA ops, compiled for this GPU")

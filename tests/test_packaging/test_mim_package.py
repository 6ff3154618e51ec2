"""The built package ships its configs, model index and tools as OpenMMLab
packages do, in ``vsa_mm/.mim``, and works installed outside the checkout.

The sdist and the wheel are built from a copy of the checkout's files (so no
build output lands in the repository), installed with ``pip --target``
(leaving the environment's editable install alone), and used from a
directory outside the checkout with that target first on ``PYTHONPATH``.
"""
import os
import os.path as osp
import shutil
import subprocess
import sys
import zipfile
from glob import glob
from pathlib import Path
from typing import List

import pytest
import yaml
from helpers.paths import REPO

BIN = osp.dirname(sys.executable)
DEMO = 'demo/swin-tiny-vsa_demo-imagenet.py'


def run(cmd: List[str], cwd: str, env: dict = None, timeout=900) -> str:
    """Run ``cmd``; return its output, or fail with the output's tail."""
    proc = subprocess.run(
        cmd,
        cwd=cwd,
        env=dict(os.environ, PYTHONWARNINGS='ignore', **(env or {})),
        timeout=timeout,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT)
    assert proc.returncode == 0, f'{cmd}:\n{proc.stdout[-6000:]}'
    return proc.stdout


def checkout_copy(dst: Path) -> Path:
    """The checkout's files (tracked, and new ones git does not ignore)."""
    names = run([
        'git', 'ls-files', '--cached', '--others', '--exclude-standard', '-z'
    ],
                cwd=str(REPO)).split('\0')
    for name in filter(None, names):
        if (REPO / name).is_file():
            (dst / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, dst / name)
    return dst


def mim_files(package: Path) -> List[str]:
    """The files of an installed package's ``.mim``, less the bytecode pip
    compiles at install time."""
    root = package / 'vsa_mm' / '.mim'
    return sorted(
        path.relative_to(root).as_posix() for path in root.rglob('*')
        if path.is_file() and '__pycache__' not in path.parts)


def model_names() -> List[str]:
    """Every model of the checkout's metafiles."""
    with open(REPO / 'model-index.yml') as f:
        metafiles = yaml.safe_load(f)['Import']
    names = []
    for metafile in metafiles:
        with open(REPO / metafile) as f:
            names += [model['Name'] for model in yaml.safe_load(f)['Models']]
    return names


@pytest.mark.slow
def test_wheel_and_sdist_ship_configs_and_train_outside_the_checkout(tmp_path):
    src = checkout_copy(tmp_path / 'src')
    dist = tmp_path / 'dist'
    pip = [sys.executable, '-m', 'pip']
    run([
        *pip, 'wheel', '--no-deps', '--no-build-isolation', '-w',
        str(dist), '.'
    ],
        cwd=str(src))
    run([sys.executable, 'setup.py', '-q', 'sdist', '-d',
         str(dist)],
        cwd=str(src))
    wheel, = glob(str(dist / 'vsa_mm-*.whl'))
    sdist, = glob(str(dist / 'vsa_mm-*.tar.gz'))
    with zipfile.ZipFile(wheel) as archive:
        bytecode = [n for n in archive.namelist() if n.endswith('.pyc')]
    assert bytecode == []
    from_wheel, site = tmp_path / 'from_wheel', tmp_path / 'site'
    run([*pip, 'install', '--no-deps', '--target',
         str(from_wheel), wheel],
        cwd=str(tmp_path))
    # The sdist builds (its setup.py reads requirements/) and installs.
    run([
        *pip, 'install', '--no-deps', '--no-build-isolation', '--target',
        str(site), sdist
    ],
        cwd=str(tmp_path))

    shipped = mim_files(site)
    assert shipped == mim_files(from_wheel)
    configs = sorted(
        path.relative_to(REPO).as_posix()
        for path in (REPO / 'configs').rglob('*')
        if path.suffix in ('.py', '.yml', '.md'))
    assert set(configs) <= set(shipped)
    assert {
        'model-index.yml', 'tools/train.py', 'tools/test.py',
        'tools/make_demo_data.py'
    } <= set(shipped)
    # The wheel holds what runs from it: every tool of the checkout's
    # tools/, none of the maintainers' machinery (dev/).
    tools = sorted(
        path.relative_to(REPO).as_posix()
        for path in (REPO / 'tools').rglob('*')
        if path.suffix in ('.py', '.sh'))
    assert [name for name in shipped if name.startswith('tools/')] == tools
    assert not [name for name in shipped if name.startswith('dev/')]

    outside = tmp_path / 'outside'
    outside.mkdir()
    env = dict(
        PYTHONPATH=os.pathsep.join(
            [str(site), os.environ.get('PYTHONPATH', '')]))
    where = run(
        [sys.executable, '-c', 'import vsa_mm; print(vsa_mm.__file__)'],
        cwd=str(outside),
        env=env)
    assert where.splitlines()[-1].startswith(str(site)), where

    listed = run([osp.join(BIN, 'mim'), 'search', 'vsa_mm'],
                 cwd=str(outside),
                 env=dict(env, COLUMNS='400'))
    missing = [name for name in model_names() if name not in listed]
    assert not missing, listed[-3000:]

    # A config of the user's on a shipped base; the shipped data tool and
    # training script, through mim.
    (outside / 'my_config.py').write_text(
        f"_base_ = ['vsa_mm::{DEMO}']\n"
        'train_dataloader = dict(dataset=dict(indices=8))\n'
        'val_dataloader = dict(dataset=dict(indices=8))\n'
        'train_cfg = dict(max_epochs=2, val_interval=2)\n')
    run([osp.join(BIN, 'mim'), 'run', 'vsa_mm', 'make_demo_data'],
        cwd=str(outside),
        env=env)
    log = run([
        osp.join(BIN, 'mim'), 'train', 'vsa_mm', 'my_config.py', '--gpus', '0',
        '--work-dir', 'work'
    ],
              cwd=str(outside),
              env=env)
    assert str(site / 'vsa_mm' / '.mim' / 'tools' / 'train.py') in log
    assert 'Epoch(train) [2][1/1]' in log, log[-3000:]  # one batch an epoch
    assert (outside / 'work' / 'epoch_2.pth').is_file()
    assert sorted(os.listdir(outside)) == ['data', 'my_config.py', 'work']

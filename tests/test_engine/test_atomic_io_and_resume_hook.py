"""Atomic checkpoint writes, exact resume bookkeeping, CPU launch set-up."""
import os
import random
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.fileio import get_file_backend

from vsa_mm.checkpoint.atomic_io import AtomicLocalBackend, atomic_write_bytes
from vsa_mm.cli.launch import prepare_cpu_distributed
from vsa_mm.engine import ExactResumeHook
from vsa_mm.engine.exact_resume_hook import (get_rng_state,
                                             latest_complete_checkpoint,
                                             set_rng_state)


def _draws() -> tuple:
    return (random.random(), float(np.random.rand()), torch.rand(1).item())


def test_local_paths_use_the_atomic_backend(runtime):
    assert isinstance(
        get_file_backend('work_dirs/epoch_1.pth'), AtomicLocalBackend)


def test_failed_write_keeps_previous_content(tmp_path, disk_full):
    path = tmp_path / 'epoch_1.pth'
    path.write_bytes(b'previous')
    with pytest.raises(OSError, match='disk full'):
        atomic_write_bytes(path, b'new content')
    assert path.read_bytes() == b'previous'
    assert os.listdir(tmp_path) == ['epoch_1.pth']


def test_sigkill_during_write_never_exposes_a_partial_file(tmp_path):
    path = tmp_path / 'epoch_1.pth'
    path.write_bytes(b'previous')
    writer = ('import sys\n'
              'from vsa_mm.checkpoint.atomic_io import atomic_write_bytes\n'
              'atomic_write_bytes(sys.argv[1], b"x" * (1 << 30))\n')
    proc = subprocess.Popen([sys.executable, '-c', writer, str(path)])
    try:
        deadline = time.monotonic() + 120
        while not any(
                name.endswith('.partial') and os.path.getsize(tmp_path /
                                                              name) > 0
                for name in os.listdir(tmp_path)):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert path.read_bytes() == b'previous'


def _runner(work_dir, resume=True, load_from=None):
    return SimpleNamespace(
        work_dir=str(work_dir), _resume=resume, _load_from=load_from)


def _checkpoints(work_dir):
    torch.save({'meta': {}}, work_dir / 'epoch_1.pth')
    torch.save({'meta': {}}, work_dir / 'epoch_2.pth')
    complete = (work_dir / 'epoch_2.pth').read_bytes()
    (work_dir / 'epoch_3.pth').write_bytes(complete[:len(complete) // 2])


def test_resume_skips_a_truncated_checkpoint(tmp_path):
    _checkpoints(tmp_path)
    pointer = tmp_path / 'last_checkpoint'
    pointer.write_text(str(tmp_path / 'epoch_3.pth'))
    assert latest_complete_checkpoint(str(tmp_path)) == str(tmp_path /
                                                            'epoch_2.pth')

    ExactResumeHook().before_run(_runner(tmp_path))
    assert pointer.read_text() == str(tmp_path / 'epoch_2.pth')


@pytest.mark.parametrize('content', ['', 'missing.pth'])
def test_resume_repairs_an_empty_or_stale_pointer(tmp_path, content):
    _checkpoints(tmp_path)
    pointer = tmp_path / 'last_checkpoint'
    pointer.write_text(content)
    ExactResumeHook().before_run(_runner(tmp_path))
    assert pointer.read_text() == str(tmp_path / 'epoch_2.pth')


def test_pointer_is_left_alone_when_valid_or_not_resuming(tmp_path):
    _checkpoints(tmp_path)
    pointer = tmp_path / 'last_checkpoint'
    pointer.write_text(str(tmp_path / 'epoch_1.pth'))
    ExactResumeHook().before_run(_runner(tmp_path))
    assert pointer.read_text() == str(tmp_path / 'epoch_1.pth')
    pointer.write_text(str(tmp_path / 'epoch_3.pth'))
    ExactResumeHook().before_run(_runner(tmp_path, resume=False))
    ExactResumeHook().before_run(
        _runner(tmp_path, load_from=str(tmp_path / 'epoch_1.pth')))
    assert pointer.read_text() == str(tmp_path / 'epoch_3.pth')


def test_rng_states_travel_with_the_checkpoint():
    hook = ExactResumeHook()
    torch.manual_seed(1)
    np.random.seed(1)
    random.seed(1)
    hook.after_train_epoch(None)
    checkpoint = {'meta': {}}
    hook.before_save_checkpoint(None, checkpoint)
    expected = _draws()

    torch.manual_seed(2)
    np.random.seed(2)
    random.seed(2)
    resumed = ExactResumeHook()
    resumed.after_load_checkpoint(_runner('.'), checkpoint)
    resumed.before_train(None)
    assert _draws() == expected


def test_states_of_a_loaded_not_resumed_checkpoint_are_ignored():
    checkpoint = {'meta': {'rng_states': [get_rng_state()]}}
    _draws()
    hook = ExactResumeHook()
    hook.after_load_checkpoint(_runner('.', resume=False), checkpoint)
    state = get_rng_state()
    hook.before_train(None)
    after = _draws()
    set_rng_state(state)
    assert _draws() == after


def test_validation_does_not_change_training_randomness():
    state = get_rng_state()
    expected = _draws()
    set_rng_state(state)
    hook = ExactResumeHook()
    hook.before_val(None)
    _draws()  # validation consumes random numbers
    hook.after_val(None)
    assert _draws() == expected


def test_cpu_distributed_needs_torchrun_variables(monkeypatch):
    for name in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match='MASTER_ADDR'):
        prepare_cpu_distributed(Config(dict(model=dict())))


def test_cpu_distributed_sets_gloo_and_device_free_ddp(monkeypatch):
    monkeypatch.setattr(torch.distributed, 'is_initialized', lambda: True)
    for name, value in dict(
            RANK='0', WORLD_SIZE='1', MASTER_ADDR='x',
            MASTER_PORT='1').items():
        monkeypatch.setenv(name, value)
    cfg = Config(dict(env_cfg=dict(dist_cfg=dict(backend='nccl'))))
    prepare_cpu_distributed(cfg)
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    assert cfg.model_wrapper_cfg.device_ids is None


def test_iteration_runs_record_states_only_where_they_save():
    from mmengine.hooks import CheckpointHook
    hook = ExactResumeHook()
    runner = SimpleNamespace(
        hooks=[CheckpointHook(interval=3, by_epoch=False)],
        train_loop=object(),
        iter=0,
        max_iters=8)
    captured = []
    for step in range(8):
        runner.iter = step
        hook._states = None
        hook.after_train_iter(runner, step)
        captured.append(hook._states is not None)
    # saves after iterations 3 and 6 (every 3) and 8 (the last)
    assert captured == [False, False, True, False, False, True, False, True]

"""Two-process CPU (gloo) training through torchrun and tools/train.py."""
import json
import os
import os.path as osp
import sys

import pytest
import torch
from helpers.e2e import (DEMO_CONFIGS, REPO, free_port, run,
                         write_recording_config)
from helpers.record_weights_hook import weights_checksum

pytestmark = pytest.mark.slow


def test_two_process_training_synchronises_gradients(demo_workspace, tmp_path):
    work_dir = str(tmp_path / 'work_dir')
    record_dir = str(tmp_path / 'record')
    os.makedirs(record_dir)
    config = write_recording_config(
        str(tmp_path), DEMO_CONFIGS['mmdet'], record_dir,
        'train_cfg = dict(max_epochs=1)\n'
        'train_dataloader = dict(dataset=dict(indices=8))\n')
    run([
        sys.executable, '-m', 'torch.distributed.run', '--nnodes', '1',
        '--nproc_per_node', '2', '--master_port',
        str(free_port()),
        osp.join(REPO, 'tools', 'train.py'), config, '--launcher', 'pytorch',
        '--work-dir', work_dir
    ],
        cwd=demo_workspace,
        env=dict(OMP_NUM_THREADS='1'))

    records = []
    for rank in (0, 1):
        with open(osp.join(record_dir, f'rank{rank}.json')) as f:
            records.append(json.load(f))
    assert [r['rank'] for r in records] == [0, 1]
    assert all(r['world_size'] == 2 for r in records)
    # 8 images, 2 per process and iteration: each process ran 2 iterations.
    assert [r['iters'] for r in records] == [2, 2]

    weights = [
        torch.load(osp.join(record_dir, f'rank{rank}.pth')) for rank in (0, 1)
    ]
    # Both processes started from the same weights and trained on different
    # images; they end equal only if their gradients were averaged.
    assert records[0]['initial_checksum'] == records[1]['initial_checksum']
    assert weights_checksum(weights[0]) != pytest.approx(
        records[0]['initial_checksum'], rel=1e-9, abs=0)
    initial_keys = set(weights[0])
    assert initial_keys == set(weights[1])
    for key in initial_keys:
        assert torch.equal(weights[0][key], weights[1][key]), key

    checkpoints = sorted(
        name for name in os.listdir(work_dir) if name.endswith('.pth'))
    assert checkpoints == ['epoch_1.pth']
    saved = torch.load(
        osp.join(work_dir, 'epoch_1.pth'), weights_only=False)['state_dict']
    for key, value in weights[0].items():
        assert torch.equal(saved[key], value), key

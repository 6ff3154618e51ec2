"""MMEngine checkpoints written by a run with vsa_mm.ExactResumeHook (as
every vsa_mm training config has) load and resume weights-only once vsa_mm
is imported, and load with plain torch.load(weights_only=True) where torch
allowlists by name."""
import os.path as osp

import pytest
import torch
from engine_helpers import ToyRegressor
from engine_helpers import toy_runner as make_runner
from helpers.torch_features import requires

import vsa_mm  # noqa: F401  allowlists MMEngine's checkpoint types
from vsa_mm.checkpoint.safe_load import weights_only_load
from vsa_mm.compat import NAMED_SAFE_GLOBALS


def final_weights(runner):
    return {k: v.clone() for k, v in runner.model.state_dict().items()}


@pytest.fixture(scope='module')
def two_epoch_run(tmp_path_factory):
    work_dir = str(tmp_path_factory.mktemp('two_epochs'))
    runner = make_runner(work_dir, 'two_epochs', max_epochs=2)
    runner.train()
    return work_dir


@requires(NAMED_SAFE_GLOBALS)
def test_plain_torch_load_accepts_the_checkpoints(two_epoch_run):
    checkpoint = torch.load(
        osp.join(two_epoch_run, 'epoch_2.pth'), weights_only=True)
    assert checkpoint['meta']['epoch'] == 2


def test_resume_continues_to_the_same_weights(two_epoch_run, tmp_path):
    resumed = make_runner(two_epoch_run, 'resumed', max_epochs=3, resume=True)
    resumed.train()
    assert resumed.epoch == 3
    assert resumed.iter == 12  # 3 epochs x 4 iterations: resumed at 8

    straight = make_runner(str(tmp_path), 'straight', max_epochs=3)
    straight.train()
    for key, value in final_weights(straight).items():
        torch.testing.assert_close(
            final_weights(resumed)[key], value, rtol=0, atol=0)


def test_load_from_restores_weights_only(two_epoch_run, tmp_path):
    checkpoint = osp.join(two_epoch_run, 'epoch_2.pth')
    runner = make_runner(
        str(tmp_path), 'load_from', max_epochs=1, load_from=checkpoint)
    runner.load_or_resume()
    saved = weights_only_load(checkpoint)['state_dict']
    for key, value in runner.model.state_dict().items():
        torch.testing.assert_close(value, saved[key])
    assert runner.epoch == 0  # weights only, no training state


def test_pretrained_init_cfg_loads(two_epoch_run):
    checkpoint = osp.join(two_epoch_run, 'epoch_2.pth')
    model = ToyRegressor(
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint))
    model.init_weights()
    saved = weights_only_load(checkpoint)['state_dict']
    torch.testing.assert_close(model.linear.weight, saved['linear.weight'])

"""The ImageNet-22K fine-tunes refuse to start without their weights."""
from pathlib import Path

import pytest
import torch
from engine_helpers import unique_name
from helpers.paths import CONFIGS
from mmengine.config import Config
from mmengine.runner import Runner

from vsa_mm.engine import RequirePretrainedHook

FINETUNE = (
    CONFIGS / 'mmpretrain' / 'vitaev2_vsa' /
    'vitaev2-48m-vsa_in21k-pre_8xb128_in1k.py')


def runner_for(tmp_path: Path, train: bool, **backbone) -> Runner:
    cfg = Config.fromfile(str(FINETUNE))
    cfg.work_dir = str(tmp_path / 'work_dir')
    cfg.experiment_name = unique_name('pretrained_guard')
    cfg.model.backbone.update(backbone)
    runner = Runner.from_cfg(cfg)
    if train:
        # What Runner.train() does before its before_run hooks.
        runner.optim_wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
    return runner


def guard(runner: Runner) -> RequirePretrainedHook:
    hooks = [h for h in runner.hooks if isinstance(h, RequirePretrainedHook)]
    assert len(hooks) == 1
    return hooks[0]


def test_missing_22k_weights_stop_training_before_it_starts(tmp_path):
    runner = runner_for(tmp_path, train=True)
    with pytest.raises(FileNotFoundError) as error:
        guard(runner).before_run(runner)
    message = str(error.value)
    assert 'checkpoints/vitaev2-48m-vsa_in21k.pth' in message
    assert 'vitaev2_vsa_to_vsa_mm.py' in message


def test_training_starts_when_the_weights_exist(tmp_path):
    weights = tmp_path / 'in21k.pth'
    torch.save({'state_dict': {}}, weights)
    init_cfg = dict(
        type='Pretrained', checkpoint=str(weights), prefix='backbone.')
    runner = runner_for(tmp_path, train=True, init_cfg=init_cfg)
    guard(runner).before_run(runner)


def test_random_weights_are_refused(tmp_path):
    runner = runner_for(tmp_path, train=True, init_cfg=None)
    with pytest.raises(ValueError, match='random weights'):
        guard(runner).before_run(runner)


def test_testing_a_finetuned_model_needs_no_22k_weights(tmp_path):
    runner = runner_for(tmp_path, train=False)
    guard(runner).before_run(runner)


def test_bad_module_name_is_a_type_error():
    with pytest.raises(TypeError, match='module'):
        RequirePretrainedHook(module='')

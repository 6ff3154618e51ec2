"""MMEngine's ``compile`` option trains models whose optimizer MMEngine built
from a config (``ConfigDict`` parameter groups), the optimizer step eager."""
import torch
from engine_helpers import toy_runner
from mmengine.config import ConfigDict
from mmengine.runner import Runner

from vsa_mm.engine.compile_train_step import keep_optimizer_step_eager

#: AdamW with per-parameter options, as read from a config file: MMEngine
#: builds its parameter groups as ConfigDicts, which dynamo cannot trace.
PARAMWISE_ADAMW = ConfigDict(
    optimizer=dict(type='AdamW', lr=0.05, weight_decay=0.01),
    paramwise_cfg=dict(bias_decay_mult=0.))


def _trained_weights(work_dir, name, **kwargs):
    torch._dynamo.reset()
    runner = toy_runner(
        str(work_dir), name, optim_wrapper=PARAMWISE_ADAMW, **kwargs)
    runner.train()
    groups = runner.optim_wrapper.optimizer.param_groups
    return runner, {
        k: v.clone()
        for k, v in runner.model.state_dict().items()
    }, groups


def test_compiled_train_step_trains_like_eager(tmp_path, runtime):
    compiled, weights, groups = _trained_weights(
        tmp_path, 'compiled', cfg=dict(compile=dict(backend='eager')))
    _, eager_weights, _ = _trained_weights(tmp_path, 'eager')
    assert type(groups[0]).__name__ == 'ConfigDict'
    assert getattr(compiled.optim_wrapper.step, '_vsa_mm_eager_optimizer_step',
                   False)
    assert weights.keys() == eager_weights.keys()
    for key in weights:
        torch.testing.assert_close(weights[key], eager_weights[key])
    assert not torch.equal(
        weights['linear.weight'],
        toy_runner(str(tmp_path), 'init').model.state_dict()['linear.weight'])


def test_without_the_patch_dynamo_fails_on_the_optimizer_step(
        tmp_path, monkeypatch, runtime):
    """What the patch works around (torch 2.14, MMEngine 0.10.7)."""
    monkeypatch.setattr(Runner, '_maybe_compile',
                        Runner._maybe_compile.__wrapped__)
    try:
        _trained_weights(
            tmp_path, 'unpatched', cfg=dict(compile=dict(backend='eager')))
    except Exception as error:  # dynamo's own error types vary by release
        assert 'UserDefinedDictVariable' in str(error), error
    else:
        raise AssertionError('an unpatched compiled train_step trained')


def test_keep_optimizer_step_eager_is_idempotent(tmp_path):
    runner = toy_runner(str(tmp_path), 'idempotent')
    wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
    keep_optimizer_step_eager(wrapper)
    first = wrapper.step
    keep_optimizer_step_eager(wrapper)
    assert wrapper.step is first

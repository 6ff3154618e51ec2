"""Running the user's entry points (mim, torchrun) in subprocesses."""
import json
import os
import os.path as osp
import re
import socket
import subprocess
import sys
from glob import glob
from typing import Dict, List, Optional

from helpers import paths

REPO = str(paths.REPO)
BIN = osp.dirname(sys.executable)
DEMO_CONFIGS = {
    'mmdet': osp.join(REPO,
                      'configs/demo/mask-rcnn_swin-t-vsa_fpn_demo-coco.py'),
    'mmseg': osp.join(REPO,
                      'configs/demo/upernet_swin-t-vsa_demo-cityscapes.py'),
    'mmpretrain': osp.join(REPO,
                           'configs/demo/swin-tiny-vsa_demo-imagenet.py'),
}


def free_port() -> int:
    """A TCP port free on this machine now, for a launcher's rendezvous
    (each concurrent test gets its own)."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def run(cmd: List[str],
        cwd: str,
        timeout: int = 900,
        env: Optional[dict] = None) -> str:
    """Run ``cmd``; return its output, or fail with the output's tail."""
    full_env = dict(
        os.environ,
        PYTHONWARNINGS='ignore',
        PYTHONPATH=os.pathsep.join(
            [osp.join(REPO, 'tests'),
             os.environ.get('PYTHONPATH', '')]))
    full_env.update(env or {})
    proc = subprocess.run(
        cmd,
        cwd=cwd,
        env=full_env,
        timeout=timeout,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise AssertionError(f'{" ".join(cmd)} exited with '
                             f'{proc.returncode}:\n{proc.stdout[-6000:]}')
    return proc.stdout


def mim(*args: str, cwd: str) -> str:
    """``mim <args>`` with this environment's mim, on the CPU."""
    return run([osp.join(BIN, 'mim'), *args, '--gpus', '0'], cwd=cwd)


def train_losses(work_dir: str) -> List[float]:
    """The logged training losses of the (single) run in ``work_dir``."""
    logs = glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    assert len(logs) == 1, logs
    with open(logs[0]) as f:
        records = [json.loads(line) for line in f]
    return [r['loss'] for r in records if 'loss' in r]


def read_test_metrics(output: str) -> Dict[str, float]:
    """The metrics of the last ``(test)`` summary line of a log."""
    lines = [line for line in output.splitlines() if '(test)' in line]
    assert lines, output[-3000:]
    return {
        key: float(value)
        for key, value in re.findall(r'(\S+): (-?\d+(?:\.\d+)?)', lines[-1])
    }


def write_recording_config(directory: str,
                           base: str,
                           record_dir: str,
                           overrides: str = '') -> str:
    """A config that runs ``base`` with the weight-recording test hook."""
    path = osp.join(directory, 'recording_config.py')
    with open(path, 'w') as f:
        f.write(f"_base_ = [{base!r}]\n"
                "custom_imports = dict(imports=['vsa_mm', "
                "'helpers.record_weights_hook'], "
                "allow_failed_imports=False)\n"
                "custom_hooks = [dict(type='vsa_mm.ExactResumeHook'), "
                f"dict(type='RecordWeightsHook', out_dir={record_dir!r})]\n" +
                overrides)
    return path


UNTRAINED_CHECKPOINT = 'untrained.pth'


def write_untrained_saving_config(directory: str, base: str) -> str:
    """``base`` plus a hook that saves the weights training starts from.

    The hook (:class:`SaveUntrainedHook`, imported from this module by the
    training process) writes ``untrained.pth`` into the work dir once the
    weights are initialised, before the first iteration. The base config's
    own custom hooks are kept.
    """
    from mmengine.config import Config
    hooks = Config.fromfile(base).to_dict().get('custom_hooks', [])
    hooks = list(hooks) + [dict(type='SaveUntrainedHook')]
    path = osp.join(directory, 'untrained_saving_config.py')
    with open(path, 'w') as f:
        f.write(f'_base_ = [{base!r}]\n'
                "custom_imports = dict(imports=['vsa_mm', 'helpers.e2e'], "
                'allow_failed_imports=False)\n'
                f'custom_hooks = {hooks!r}\n')
    return path


def _register_untrained_hook() -> None:
    from mmengine.hooks import Hook
    from mmengine.model import is_model_wrapper
    from mmengine.registry import HOOKS
    from mmengine.runner.checkpoint import save_checkpoint

    if 'SaveUntrainedHook' in HOOKS.module_dict:
        return

    @HOOKS.register_module()
    class SaveUntrainedHook(Hook):
        """Save the model's initialised weights before training starts."""

        priority = 'VERY_HIGH'

        def before_train(self, runner) -> None:
            model = runner.model.module if is_model_wrapper(
                runner.model) else runner.model
            state = {
                key: value.detach().cpu().clone()
                for key, value in model.state_dict().items()
            }
            save_checkpoint({
                'state_dict': state,
                'meta': {}
            }, osp.join(runner.work_dir, UNTRAINED_CHECKPOINT))


_register_untrained_hook()

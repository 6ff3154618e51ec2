"""What importing vsa_mm changes is logged once and can be turned off."""
import json
import os
import subprocess
import sys

import pytest
from engine_helpers import REPO

#: Prints, after ``import vsa_mm``, the state of each change.
PROBE = """
import json
import torch
from mmengine.fileio import get_file_backend
from mmengine.runner import checkpoint as ckpt
import vsa_mm
from vsa_mm.engine import AtomicLocalBackend, applied_side_effects
from vsa_mm.engine.safe_load import (load_http_checkpoint,
                                     mmengine_safe_globals)
from mmengine.analysis import complexity_analysis
from mmengine.runner import Runner
print('STATE ' + json.dumps(dict(
    flop_handles='vsa_mm::bilinear_gather' in
    complexity_analysis._DEFAULT_SUPPORTED_FLOP_OPS,
    safe_globals=set(mmengine_safe_globals()) <= set(
        torch.serialization.get_safe_globals()),
    http_loader=ckpt.load_from_http is load_http_checkpoint,
    atomic_writes=isinstance(get_file_backend('x.pth'), AtomicLocalBackend),
    eager_optimizer_step=getattr(Runner._maybe_compile,
                                 '_vsa_mm_eager_optimizer_step', False),
    applied=sorted(applied_side_effects()))))
"""
SWITCHES = {
    'safe_globals': 'VSA_MM_SAFE_GLOBALS',
    'http_loader': 'VSA_MM_WEIGHTS_ONLY_HTTP',
    'atomic_writes': 'VSA_MM_ATOMIC_WRITES',
    'flop_handles': 'VSA_MM_FLOP_HANDLES',
    'eager_optimizer_step': 'VSA_MM_EAGER_OPTIMIZER_STEP',
}


def _probe(**env: str):
    full_env = {
        key: value
        for key, value in os.environ.items() if key not in SWITCHES.values()
    }
    full_env.update(env)
    proc = subprocess.run([sys.executable, '-c', PROBE],
                          cwd=REPO,
                          env=full_env,
                          capture_output=True,
                          text=True,
                          check=True)
    state = next(line for line in proc.stdout.splitlines()
                 if line.startswith('STATE '))
    return json.loads(state[len('STATE '):]), proc.stdout + proc.stderr


def test_every_change_is_applied_and_logged_once():
    state, output = _probe()
    assert state == dict(
        safe_globals=True,
        http_loader=True,
        atomic_writes=True,
        flop_handles=True,
        eager_optimizer_step=True,
        applied=sorted(SWITCHES))
    logged = [
        line for line in output.splitlines()
        if ' - vsa_mm - INFO - ' in line and '=0 turns this off' in line
    ]
    assert len(logged) == len(SWITCHES), output
    for switch in SWITCHES.values():
        assert sum(f'{switch}=0' in line for line in logged) == 1, switch


@pytest.mark.parametrize('name', sorted(SWITCHES))
def test_each_switch_turns_its_change_off(name):
    state, output = _probe(**{SWITCHES[name]: '0'})
    assert state[name] is False
    others = set(SWITCHES) - {name}
    assert all(state[other] for other in others)
    assert state['applied'] == sorted(others)
    assert f'{SWITCHES[name]}=0' not in output

"""``import vsa_mm`` only registers; ``vsa_mm.runtime`` is the opt-in."""
import json
import os
import subprocess
import sys

import pytest
from engine_helpers import REPO

from vsa_mm.checkpoint.safe_load import mmengine_loads_local_files_weights_only
from vsa_mm.env_switches import switch

#: Prints the state of what vsa_mm may touch, before and after running
#: ``{statement}`` in a fresh interpreter.
PROBE = """
import json
import torch
import mmengine.fileio.backends.registry_utils as backends
from mmengine.analysis import complexity_analysis
from mmengine.runner import Runner
from mmengine.runner import checkpoint as ckpt
from mmengine.runner.checkpoint import CheckpointLoader

def state():
    return dict(
        backends={k: repr(v) for k, v in backends.backends.items()},
        prefixes={k: repr(v) for k, v in backends.prefix_to_backends.items()},
        maybe_compile=repr(Runner._maybe_compile),
        schemes={k: repr(v) for k, v in CheckpointLoader._schemes.items()},
        load_from_http=repr(ckpt.load_from_http),
        flop_handles={k: repr(v) for k, v in
                      complexity_analysis._DEFAULT_SUPPORTED_FLOP_OPS.items()},
        safe_globals=sorted(map(repr, torch.serialization.get_safe_globals())),
        vsa_ops=hasattr(torch.ops.vsa_mm, 'fused_varied_window_attention'))

before = state()
{statement}
print('STATE ' + json.dumps(dict(before=before, after=state())))
"""


def _probe(statement: str, **env: str):
    full_env = {
        key: value
        for key, value in os.environ.items() if not key.startswith('VSA_MM_')
    }
    full_env.update(env)
    proc = subprocess.run(
        [sys.executable, '-c',
         PROBE.replace('{statement}', statement)],
        cwd=REPO,
        env=full_env,
        capture_output=True,
        text=True,
        check=True)
    line = next(line for line in proc.stdout.splitlines()
                if line.startswith('STATE '))
    found = json.loads(line[len('STATE '):])
    printed = proc.stdout.replace(line, '').strip()
    return found['before'], found['after'], printed, proc.stderr


@pytest.mark.parametrize('statement', [
    'import vsa_mm',
    'from vsa_mm.models.layers import VSAWindowAttention',
    'from vsa_mm.models import SwinTransformerVSA, ViTAEv2',
])
def test_import_registers_and_replaces_nothing(statement):
    before, after, printed, stderr = _probe(statement)
    for unchanged in ('backends', 'prefixes', 'maybe_compile',
                      'load_from_http'):
        assert after[unchanged] == before[unchanged], unchanged
    # The one exception: MMEngine's local loader, where it would unpickle
    # code.
    if not mmengine_loads_local_files_weights_only():
        assert 'load_from_local_weights_only' in after['schemes'].pop('')
        before['schemes'].pop('')
    assert after['schemes'] == before['schemes']
    for name, handle in before['flop_handles'].items():
        assert after['flop_handles'][name] == handle, name
    # Registered: the operators, their FLOP handles, MMEngine's types.
    assert after['vsa_ops'] and not before['vsa_ops']
    assert {
        'vsa_mm::bilinear_gather', 'vsa_mm::fused_varied_window_attention'
    } <= set(after['flop_handles'])
    assert len(after['safe_globals']) > len(before['safe_globals'])
    assert printed == ''
    assert ' INFO ' not in stderr and 'WARNING' not in stderr, stderr


def test_the_switches_leave_the_registrations_out():
    before, after, _, _ = _probe(
        'import vsa_mm', VSA_MM_FLOP_HANDLES='off', VSA_MM_SAFE_GLOBALS='no')
    assert after['flop_handles'] == before['flop_handles']
    assert after['safe_globals'] == before['safe_globals']


def test_runtime_install_applies_three_changes_and_logs_one_line():
    before, after, printed, stderr = _probe('import vsa_mm.runtime\n'
                                            'print(vsa_mm.runtime.install())\n'
                                            'print(vsa_mm.runtime.install())')
    assert after['backends']['local'] != before['backends']['local']
    assert 'AtomicLocalBackend' in after['backends']['local']
    assert after['maybe_compile'] != before['maybe_compile']
    assert after['load_from_http'] != before['load_from_http']
    assert 'load_http_checkpoint' in after['schemes']['https://']
    parts = ("('VSA_MM_ATOMIC_WRITES', 'VSA_MM_WEIGHTS_ONLY_HTTP', "
             "'VSA_MM_EAGER_OPTIMIZER_STEP')")
    lines = (printed + '\n' + stderr).splitlines()
    assert [line for line in lines if line == parts] == [parts, parts]
    logged = [line for line in lines if ' INFO ' in line]
    assert len(logged) == 1 and 'writes atomically' in logged[0], logged


@pytest.mark.parametrize('name, part', [
    ('VSA_MM_ATOMIC_WRITES', 'backends'),
    ('VSA_MM_WEIGHTS_ONLY_HTTP', 'load_from_http'),
    ('VSA_MM_EAGER_OPTIMIZER_STEP', 'maybe_compile'),
])
def test_each_runtime_switch_leaves_its_part_out(name, part):
    before, after, _, _ = _probe(
        'import vsa_mm.runtime; vsa_mm.runtime.install()', **{name: 'false'})
    assert after[part] == before[part]
    others = {'backends', 'load_from_http', 'maybe_compile'} - {part}
    assert all(after[other] != before[other] for other in others)


def test_a_config_opts_in_with_one_custom_imports_line(tmp_path):
    config = tmp_path / 'opt_in.py'
    config.write_text(
        "custom_imports = dict(imports=['vsa_mm', "
        "'vsa_mm.runtime.enable'], allow_failed_imports=False)\n")
    before, after, _, _ = _probe('from mmengine.config import Config\n'
                                 f'Config.fromfile({str(config)!r})')
    assert 'AtomicLocalBackend' in after['backends']['local']
    assert after['maybe_compile'] != before['maybe_compile']


@pytest.mark.parametrize('value, expected', [('', True), ('0', False),
                                             ('FALSE', False),
                                             (' off ', False), ('No', False),
                                             ('1', True), ('true', True),
                                             ('on', True)])
def test_switches_read_the_same_values_everywhere(monkeypatch, value,
                                                  expected):
    monkeypatch.setenv('VSA_MM_PROBE', value)
    assert switch('VSA_MM_PROBE', default=True) is expected
    if value:
        assert switch('VSA_MM_PROBE', default=False) is expected


def test_a_mistyped_switch_is_an_error(monkeypatch):
    monkeypatch.setenv('VSA_MM_PROBE', 'ture')
    with pytest.raises(ValueError, match="VSA_MM_PROBE='ture'"):
        switch('VSA_MM_PROBE', default=False)

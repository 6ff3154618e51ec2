"""torch.load keeps weights_only=True; MMEngine checkpoints still load."""
import argparse
import functools
import http.server
import os
import os.path as osp
import pickle
import sys
import threading
import types
import zipfile
from collections import OrderedDict, deque

import numpy as np
import pytest
import torch
from engine_helpers import ToyRegressor, toy_runner
from helpers.payloads import write_malicious
from helpers.torch_features import requires
from mmengine.logging import HistoryBuffer
from mmengine.runner import checkpoint as mmengine_checkpoint
from mmengine.runner.checkpoint import CheckpointLoader

import vsa_mm  # noqa: F401  applies the allowlist
from vsa_mm.checkpoint import (UnsafeCheckpointError, check_checkpoint_file,
                               load_checkpoint_file, load_http_checkpoint,
                               mmengine_safe_globals)
from vsa_mm.checkpoint.history_buffers import (HistoryBufferLoader,
                                               history_buffer_statistic)
from vsa_mm.checkpoint.safe_load import (
    UNSAFE_FALLBACK_LOADER, extra_safe_globals, get_safe_globals,
    load_from_local_weights_only, mmengine_loads_local_files_weights_only,
    register_mmengine_safe_globals, set_safe_globals, weights_only_load)
from vsa_mm.compat import NAMED_SAFE_GLOBALS
from vsa_mm.models.utils.official_init import OFFICIAL_CHECKPOINT_GLOBALS

HISTORY_BUFFER = 'mmengine.logging.history_buffer.HistoryBuffer'
#: Everything the allowlist may hold, by name.
EXPECTED_ALLOWLIST = {
    HISTORY_BUFFER, 'builtins.getattr', 'numpy.ndarray', 'numpy.dtype',
    'numpy._core.multiarray._reconstruct', 'numpy._core.multiarray.scalar',
    'numpy.core.multiarray._reconstruct', 'numpy.core.multiarray.scalar'
} | {
    f'numpy.dtypes.{type(np.dtype(t)).__name__}'
    for t in ('?', 'i1', 'i2', 'i4', 'i8', 'u1', 'u2', 'u4', 'u8', 'f2', 'f4',
              'f8', 'c8', 'c16')
}


def _name(entry) -> str:
    if isinstance(entry, tuple):
        return entry[1]
    return f'{entry.__module__}.{entry.__qualname__}'


@pytest.fixture(scope='module')
def toy_checkpoint(tmp_path_factory) -> str:
    """A checkpoint written by a real MMEngine Runner (2 epochs)."""
    work_dir = str(tmp_path_factory.mktemp('toy'))
    toy_runner(work_dir, 'toy', max_epochs=2).train()
    return osp.join(work_dir, 'epoch_2.pth')


def test_allowlist_is_exactly_the_mmengine_types():
    names = {_name(entry) for entry in mmengine_safe_globals()}
    assert names == EXPECTED_ALLOWLIST
    registered = {_name(e) for e in get_safe_globals()}
    assert EXPECTED_ALLOWLIST <= registered
    # HistoryBuffer is built through its constructor only
    assert (HistoryBufferLoader, HISTORY_BUFFER) in mmengine_safe_globals()
    assert HistoryBuffer not in get_safe_globals()


def test_no_general_purpose_callable_is_allowlisted():
    ours = {_name(entry): entry for entry in mmengine_safe_globals()}
    builtins = {name for name in ours if name.startswith('builtins.')}
    assert builtins == {'builtins.getattr'}
    assert ours['builtins.getattr'][0] is history_buffer_statistic
    everything = get_safe_globals()
    values = {e[0] if isinstance(e, tuple) else e for e in everything}
    names = {_name(entry) for entry in everything}
    for forbidden in (getattr, setattr, eval, exec, compile, open, __import__,
                      os.system, functools.partial):
        assert forbidden not in values, forbidden
        if forbidden is not getattr:
            assert f'builtins.{forbidden.__name__}' not in names


def test_runner_checkpoint_loads_weights_only(toy_checkpoint):
    checkpoint = weights_only_load(toy_checkpoint)
    scalars = checkpoint['message_hub']['log_scalars']
    assert scalars and all(type(v) is HistoryBuffer for v in scalars.values())
    loss = scalars['train/loss']
    assert loss.data[0].dtype == np.float64 and len(loss.data[0]) == 8


@requires(NAMED_SAFE_GLOBALS)
def test_runner_checkpoint_loads_with_plain_weights_only(toy_checkpoint):
    checkpoint = torch.load(toy_checkpoint, weights_only=True)
    loss = checkpoint['message_hub']['log_scalars']['train/loss']
    assert type(loss) is HistoryBuffer and len(loss.data[0]) == 8
    assert torch.serialization.get_unsafe_globals_in_checkpoint(
        toy_checkpoint) == []


@pytest.fixture(scope='module')
def stock_checkpoint(tmp_path_factory) -> str:
    """A checkpoint of a plain MMEngine run (no ExactResumeHook): its
    history buffers pickle their statistics methods through getattr."""
    work_dir = str(tmp_path_factory.mktemp('stock'))
    toy_runner(work_dir, 'stock', max_epochs=2, exact_resume=False).train()
    path = osp.join(work_dir, 'epoch_2.pth')
    with zipfile.ZipFile(path) as archive:
        pickled = archive.read(
            next(n for n in archive.namelist() if n.endswith('data.pkl')))
    assert b'builtins\ngetattr' in pickled or b'getattr' in pickled
    return path


def test_a_plain_mmengine_checkpoint_loads_everywhere(stock_checkpoint,
                                                      tmp_path):
    """torch.load, CheckpointLoader, load_from and resume: the buffers come
    back as HistoryBuffers with their values."""
    for checkpoint in (weights_only_load(stock_checkpoint),
                       CheckpointLoader.load_checkpoint(stock_checkpoint),
                       load_checkpoint_file(stock_checkpoint)):
        loss = checkpoint['message_hub']['log_scalars']['train/loss']
        assert type(loss) is HistoryBuffer and len(loss.data[0]) == 8
        assert float(loss.mean()) > 0
    resumed = toy_runner(
        osp.dirname(stock_checkpoint),
        'stock_resumed',
        max_epochs=3,
        exact_resume=False,
        resume=True,
        load_from=stock_checkpoint)
    resumed.train()
    assert resumed.epoch == 3
    loaded = toy_runner(
        str(tmp_path), 'stock_loaded', load_from=stock_checkpoint)
    loaded.load_or_resume()


class _Fetch:
    """Pickles as ``getattr(owner, name)``."""

    def __init__(self, owner, name: str) -> None:
        self.owner, self.name = owner, name

    def __reduce__(self):
        return getattr, (self.owner, self.name)


@pytest.mark.parametrize('payload, refused', [
    (_Fetch(HistoryBuffer, '__init__'), "'__init__'"),
    (_Fetch(HistoryBuffer, 'register_statistics'), "'register_statistics'"),
    (_Fetch(np.ndarray, 'tofile'), 'tofile'),
])
def test_getattr_fetches_only_history_buffer_statistics(
        tmp_path, payload, refused):
    path = str(tmp_path / 'fetch.pth')
    torch.save({'meta': {'x': payload}}, path)
    with pytest.raises(pickle.UnpicklingError, match=refused):
        weights_only_load(path)
    with pytest.raises(UnsafeCheckpointError, match=refused):
        load_checkpoint_file(path)


@pytest.mark.parametrize('state, refused', [
    ({
        '_log_history': np.ones(2),
        'evil': 1
    }, 'evil'),
    ({
        'statistics_methods': {
            'min': np.ndarray
        }
    }, 'statistics methods'),
    ({
        'max_length': 'long'
    }, 'max_length'),
    ({
        '_log_history': 'text'
    }, 'log_history'),
    ([1, 2], 'unexpected state'),
])
def test_history_buffer_state_is_checked(state, refused):
    with pytest.raises(pickle.UnpicklingError, match=refused):
        HistoryBufferLoader().__setstate__(state)


def test_history_buffer_state_builds_a_buffer():
    buffer = HistoryBufferLoader()
    buffer.__setstate__({
        '_log_history': np.array([1., 3.]),
        '_count_history': np.array([1, 1]),
        'max_length': 5,
        'statistics_methods': {
            'mean': HistoryBuffer.mean
        }
    })
    assert type(buffer) is HistoryBuffer and float(buffer.mean()) == 2.


def test_without_the_allowlist_the_checkpoint_is_refused(toy_checkpoint):
    """What the allowlist is for: the same file, without it."""
    saved = get_safe_globals()
    set_safe_globals([])
    try:
        with pytest.raises(pickle.UnpicklingError, match='HistoryBuffer'):
            weights_only_load(toy_checkpoint)
    finally:
        set_safe_globals(saved)


def test_resume_and_load_from_work(toy_checkpoint, tmp_path):
    resumed = toy_runner(
        osp.dirname(toy_checkpoint),
        'resumed',
        max_epochs=3,
        resume=True,
        load_from=toy_checkpoint)
    resumed.train()
    assert resumed.epoch == 3
    loaded = toy_runner(str(tmp_path), 'loaded', load_from=toy_checkpoint)
    loaded.load_or_resume()
    saved = weights_only_load(toy_checkpoint)['state_dict']
    torch.testing.assert_close(loaded.model.linear.weight,
                               saved['linear.weight'])


@pytest.fixture
def malicious(tmp_path):
    marker = str(tmp_path / 'marker')
    path = write_malicious(
        str(tmp_path / 'evil.pth'), marker,
        ToyRegressor().state_dict())
    return path, marker


def test_the_payload_is_live(malicious):
    """Loading without the protection runs the payload (so the tests
    below, where nothing runs, mean something)."""
    path, marker = malicious
    torch.load(path, weights_only=False)
    assert osp.exists(marker)


@pytest.mark.parametrize('entry', ['load_from', 'resume', 'init_cfg'])
def test_runner_refuses_a_malicious_checkpoint(malicious, tmp_path, entry):
    path, marker = malicious
    if entry == 'init_cfg':
        model = ToyRegressor(init_cfg=dict(type='Pretrained', checkpoint=path))
        runner = toy_runner(str(tmp_path), entry, model=model)
    else:
        runner = toy_runner(
            str(tmp_path), entry, load_from=path, resume=entry == 'resume')
    with pytest.raises(
            pickle.UnpicklingError, match=r'GLOBAL (builtins\.)?exec '):
        runner.train()
    assert not osp.exists(marker)


def test_our_loader_names_the_refused_type(malicious):
    path, marker = malicious
    with pytest.raises(UnsafeCheckpointError) as info:
        load_checkpoint_file(path, hint='HINT')
    message = str(info.value)
    assert path in message and 'builtins.exec' in message
    assert 'could run code' in message and message.endswith('HINT')
    assert '\n' not in message
    assert not osp.exists(marker)


def _load_retrying_without_weights_only(file, map_location=None):
    """What onedl-mmengine 0.10.12 loads checkpoints with."""
    try:
        return torch.load(file, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        return torch.load(file, map_location=map_location, weights_only=False)


def test_a_loader_that_retries_unsafely_is_replaced(malicious, monkeypatch):
    """The onedl-mmengine fork retries a refused checkpoint with
    weights_only=False; the import makes its local loader weights-only."""
    path, marker = malicious
    monkeypatch.setattr(
        mmengine_checkpoint,
        UNSAFE_FALLBACK_LOADER,
        _load_retrying_without_weights_only,
        raising=False)
    # register_scheme builds a new dict: restore the attribute itself
    monkeypatch.setattr(CheckpointLoader, '_schemes',
                        OrderedDict(CheckpointLoader._schemes))
    assert not mmengine_loads_local_files_weights_only()
    assert register_mmengine_safe_globals()
    assert CheckpointLoader._schemes[''] is load_from_local_weights_only
    with pytest.raises(pickle.UnpicklingError, match='exec'):
        CheckpointLoader.load_checkpoint(path)
    assert not osp.exists(marker)
    # what the replaced loader would have done
    _load_retrying_without_weights_only(path)
    assert osp.exists(marker)


def test_http_loader_is_replaced_and_keeps_weights_only(
        malicious, tmp_path, monkeypatch, runtime):
    """MMEngine 0.10.7 would download with weights_only=False; the runtime
    opt-in replaces its loader."""
    monkeypatch.setattr(torch.hub, '_hub_dir', str(tmp_path / 'hub'))
    assert CheckpointLoader._schemes['http://'] is load_http_checkpoint
    assert mmengine_checkpoint.load_from_http is load_http_checkpoint
    path, marker = malicious
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=osp.dirname(path))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f'http://127.0.0.1:{server.server_address[1]}/evil.pth'
    try:
        with pytest.raises(
                UnsafeCheckpointError, match=r'GLOBAL (builtins\.)?exec '):
            load_checkpoint_file(url)
        with pytest.raises(pickle.UnpicklingError):
            load_http_checkpoint(url, model_dir=str(tmp_path / 'hub2'))
    finally:
        server.shutdown()
    assert not osp.exists(marker)


def test_broken_files_fail_clearly(tmp_path):
    missing = str(tmp_path / 'missing.pth')
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        load_checkpoint_file(missing)
    empty = tmp_path / 'empty.pth'
    empty.write_bytes(b'')
    with pytest.raises(ValueError, match='empty'):
        check_checkpoint_file(str(empty))
    text = tmp_path / 'notes.pth'
    text.write_text('not weights')
    with pytest.raises(ValueError, match="starts with b'not "):
        check_checkpoint_file(str(text))
    whole = tmp_path / 'whole.pth'
    torch.save({'w': torch.zeros(3)}, whole)
    cut = tmp_path / 'cut.pth'
    cut.write_bytes(whole.read_bytes()[:200])
    with pytest.raises(ValueError, match='truncated'):
        load_checkpoint_file(str(cut))
    archive = tmp_path / 'archive.pth'
    with zipfile.ZipFile(archive, 'w') as z:
        z.writestr('readme.txt', 'hello')
    with pytest.raises(ValueError, match='without data.pkl'):
        check_checkpoint_file(str(archive))
    check_checkpoint_file(str(whole))  # a whole checkpoint passes


def test_extra_globals_are_removed_after_the_load_only():
    before = set(get_safe_globals())
    with extra_safe_globals([argparse.Namespace, HistoryBuffer]):
        assert argparse.Namespace in get_safe_globals()
    after = set(get_safe_globals())
    assert after == before  # HistoryBuffer (already there) stays


def _fake_yacs() -> types.ModuleType:
    """A stand-in for yacs.config with a CfgNode pickled like yacs's."""

    class CfgNode(dict):

        def __init__(self, entries=None):
            super().__init__(entries or {})
            self.__dict__['__immutable__'] = False
            self.__dict__['__deprecated_keys__'] = set()

    module = types.ModuleType('yacs.config')
    CfgNode.__module__ = 'yacs.config'
    CfgNode.__qualname__ = 'CfgNode'
    module.CfgNode = CfgNode
    return module


def test_official_trainer_checkpoints_load(tmp_path, monkeypatch):
    weights = OrderedDict(w=torch.ones(2))
    timm_like = tmp_path / 'vitae.pth'
    torch.save(
        {
            'state_dict':
            weights,
            'epoch':
            299,
            'version':
            2,
            'args':
            argparse.Namespace(
                model='ViTAEv2_VSA_S', lr=5e-4, mean=None, scale=[0.08, 1.0])
        }, timm_like)
    yacs = _fake_yacs()
    monkeypatch.setitem(sys.modules, 'yacs', types.ModuleType('yacs'))
    monkeypatch.setitem(sys.modules, 'yacs.config', yacs)
    config = yacs.CfgNode({
        'MODEL': yacs.CfgNode({'TYPE': 'swin'}),
        'TRAIN': yacs.CfgNode({'EPOCHS': 300})
    })
    swin_like = tmp_path / 'qformer.pth'
    torch.save(
        {
            'model': weights,
            'max_accuracy': 82.3,
            'epoch': 299,
            'config': config,
            'lr_scheduler': {
                't_initial': 300,
                'base_values': [1e-3]
            }
        }, swin_like)
    monkeypatch.delitem(sys.modules, 'yacs.config')

    loaded = load_checkpoint_file(
        str(timm_like), extra_globals=OFFICIAL_CHECKPOINT_GLOBALS)
    assert loaded['args'].model == 'ViTAEv2_VSA_S'
    loaded = load_checkpoint_file(
        str(swin_like), extra_globals=OFFICIAL_CHECKPOINT_GLOBALS)
    assert type(loaded['config']) is OrderedDict
    assert loaded['config']['MODEL']['TYPE'] == 'swin'
    assert 'yacs.config' not in sys.modules  # never imported
    # not accepted outside the official loads
    with pytest.raises(UnsafeCheckpointError, match='argparse.Namespace'):
        load_checkpoint_file(str(timm_like))


def test_other_types_in_official_files_are_refused(tmp_path):
    path = tmp_path / 'odd.pth'
    torch.save({'model': {'w': torch.ones(1)}, 'queue': deque([1])}, path)
    with pytest.raises(UnsafeCheckpointError, match='collections.deque'):
        load_checkpoint_file(
            str(path), extra_globals=OFFICIAL_CHECKPOINT_GLOBALS)
    trusted = load_checkpoint_file(str(path), unsafe=True)
    assert trusted['queue'] == deque([1])

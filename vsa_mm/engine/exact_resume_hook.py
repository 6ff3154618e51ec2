"""A hook that makes ``--resume`` continue a run exactly where it stopped."""
import os
import os.path as osp
import random
import re
from typing import Any, Dict, List, Optional

import numpy as np
import torch
from mmengine.dist import (all_gather_object, barrier, get_dist_info,
                           is_main_process)
from mmengine.hooks import CheckpointHook, Hook
from mmengine.logging import MMLogger
from mmengine.runner import EpochBasedTrainLoop

from ..checkpoint.atomic_io import atomic_write_bytes
from ..checkpoint.history_buffers import portable_message_hub
from ..checkpoint.safe_load import check_checkpoint_file
from ..registry import HOOKS

DATA_BATCH = Optional[Any]
_REGULAR_CHECKPOINT = re.compile(r'^(epoch|iter)_(\d+)\.pth$')


def get_rng_state() -> Dict[str, Any]:
    """The states of Python's, NumPy's and torch's global generators.

    Only plain types (ints, floats, strings, lists, tuples) and tensors, so
    that a checkpoint holding them loads with ``weights_only=True``.
    """
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    state = dict(
        python=[version, list(internal), gauss],
        numpy=[
            str(name),
            keys.tolist(),
            int(pos),
            int(has_gauss),
            float(cached)
        ],
        torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: Dict[str, Any]) -> None:
    """Restore states returned by :func:`get_rng_state`."""
    version, internal, gauss = state['python']
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state['numpy']
    np.random.set_state(
        (name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state['cuda'])


def is_complete_checkpoint(path: str) -> bool:
    """Whether ``path`` is a whole ``torch.save`` file.

    A file cut short while being written lacks the zip's central directory,
    which sits at its end (see
    :func:`~vsa_mm.checkpoint.safe_load.check_checkpoint_file`).
    """
    try:
        check_checkpoint_file(path)
    except (OSError, ValueError):
        return False
    return True


def latest_complete_checkpoint(directory: str) -> Optional[str]:
    """The newest complete ``epoch_N.pth``/``iter_N.pth`` in ``directory``."""
    found = []
    for name in os.listdir(directory):
        match = _REGULAR_CHECKPOINT.match(name)
        path = osp.join(directory, name)
        if match and is_complete_checkpoint(path):
            found.append((int(match.group(2)), path))
    return max(found)[1] if found else None


@HOOKS.register_module()
class ExactResumeHook(Hook):
    """Resume from a complete checkpoint with the random state of the run.

    MMEngine's resume restores weights, optimiser, schedulers and counters,
    then re-seeds the random generators with the run's initial seed, so a
    resumed run draws different augmentations, dropout masks and RoI samples
    than the run it continues. This hook:

    - stores the Python, NumPy and torch (and CUDA) generator states of every
      rank in each checkpoint's ``meta['rng_states']`` (as lists, ints and
      tensors) and restores this rank's state when training resumes;
    - writes the message hub's history buffers through their constructor,
      so that every checkpoint of the run loads with ``weights_only=True``
      even without vsa_mm (:mod:`vsa_mm.checkpoint.history_buffers`);
    - restores the generators after each validation during training, so
      that validating does not change training;
    - before an automatic resume (``resume=True`` without ``load_from``),
      checks that ``work_dir/last_checkpoint`` names a complete checkpoint
      and otherwise points it at the newest complete one.

    Checkpoints themselves are written atomically by the file backend of
    the runtime opt-in (:mod:`vsa_mm.runtime`), which every vsa_mm config
    has.

    Note:
        The resumed run repeats the original exactly when its data loader
        draws random numbers in the main process (``num_workers=0``) or in
        workers restarted every epoch. Persistent workers restart their
        streams on resume, and iteration-based loops fast-forward the data
        loader through the finished iterations, which draws again.
    """

    priority = 'LOW'  # before CheckpointHook (VERY_LOW) in the same stage

    def __init__(self) -> None:
        self._states: Optional[List[Dict[str, Any]]] = None
        self._resumed: Optional[List[Dict[str, Any]]] = None
        self._before_val: Optional[Dict[str, Any]] = None

    def before_run(self, runner) -> None:
        """Repair ``last_checkpoint`` before the runner auto-resumes."""
        if not getattr(runner, '_resume', False) or runner._load_from:
            return
        if is_main_process():
            self._repair_pointer(runner.work_dir)
        barrier()  # every process reads the pointer after the repair

    @staticmethod
    def _repair_pointer(work_dir: str) -> None:
        pointer = osp.join(work_dir, 'last_checkpoint')
        named = ''
        if osp.isfile(pointer):
            with open(pointer, encoding='utf-8') as f:
                named = f.read().strip()
        if named and is_complete_checkpoint(named):
            return
        fallback = latest_complete_checkpoint(work_dir)
        if fallback is None:
            return
        MMLogger.get_current_instance().warning(
            f'last_checkpoint names {named!r}, which is not a complete '
            f'checkpoint; resuming from {fallback} instead')
        atomic_write_bytes(pointer, fallback.encode('utf-8'))

    def _capture(self) -> None:
        state = get_rng_state()
        _, world_size = get_dist_info()
        self._states = all_gather_object(state) if world_size > 1 else [state]

    @staticmethod
    def _saves_after_this_iter(runner) -> bool:
        """Whether a CheckpointHook saves at the end of this iteration."""
        hooks = [h for h in runner.hooks if isinstance(h, CheckpointHook)]
        if not hooks:
            return True
        return any(not hook.by_epoch and (
            hook.every_n_train_iters(runner, hook.interval, hook.save_begin) or
            (hook.save_last and hook.is_last_train_iter(runner)))
                   for hook in hooks)

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: DATA_BATCH = None,
                         outputs: Optional[dict] = None) -> None:
        """Record the generators where an iteration-based run will save."""
        if not isinstance(runner.train_loop, EpochBasedTrainLoop) and \
                self._saves_after_this_iter(runner):
            self._capture()

    def after_train_epoch(self, runner) -> None:
        """Record the generators where an epoch-based run may save."""
        self._capture()

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Store every rank's generator states in the checkpoint.

        Also makes the message hub's history buffers pickle as plain arrays
        (:func:`~vsa_mm.checkpoint.history_buffers.portable_message_hub`),
        so that the file loads with ``torch.load(weights_only=True)`` even
        without vsa_mm.
        """
        states = self._states if self._states is not None else [
            get_rng_state()
        ]
        checkpoint.setdefault('meta', {})['rng_states'] = states
        portable_message_hub(checkpoint)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Keep the states of a checkpoint that is being resumed from."""
        if getattr(runner, '_resume', False):
            self._resumed = checkpoint.get('meta', {}).get('rng_states')

    def before_train(self, runner) -> None:
        """Restore this rank's generators once resuming has finished."""
        if self._resumed is None:
            return
        rank, world_size = get_dist_info()
        if len(self._resumed) == world_size:
            set_rng_state(self._resumed[rank])
        else:
            MMLogger.get_current_instance().warning(
                f'the checkpoint holds random states of '
                f'{len(self._resumed)} processes, this run has {world_size}; '
                f'the resumed run will not repeat the original exactly')
        self._resumed = None

    def before_val(self, runner) -> None:
        """Remember the generators before validating during training."""
        self._before_val = get_rng_state()

    def after_val(self, runner) -> None:
        """Give training back the generators it had before validation."""
        if self._before_val is not None:
            set_rng_state(self._before_val)
            self._before_val = None

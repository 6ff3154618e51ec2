"""Checkpoint loaders that keep MMEngine checkpoints loadable on torch >= 2.6.

torch 2.6 changed ``torch.load``'s default to ``weights_only=True``, which
refuses the Python objects that MMEngine stores in every checkpoint (the
message hub's history buffers, NumPy scalars, the config text's metadata).
MMEngine 0.10.7 calls ``torch.load`` without the argument, so ``load_from``,
``resume`` and ``init_cfg=dict(type='Pretrained', ...)`` all fail.

Importing :mod:`vsa_mm` (which configs do through ``custom_imports``)
replaces MMEngine's loaders for local paths and http(s) URLs with ones that
pass ``weights_only=False``: the behaviour of torch < 2.6, under which these
checkpoints were written. Only load checkpoints you trust, as before.
"""
import os
import os.path as osp
from typing import Any, Callable, Optional, Union

import torch
from mmengine.dist import barrier, get_dist_info
from mmengine.runner import checkpoint as mmengine_checkpoint
from mmengine.runner.checkpoint import CheckpointLoader

MapLocation = Union[str, torch.device, Callable, dict, None]


def load_local_checkpoint(filename: str,
                          map_location: MapLocation = None) -> Any:
    """Load a checkpoint from a local path with full unpickling.

    Args:
        filename (str): Path; ``~`` is expanded.
        map_location: As for :func:`torch.load`.

    Returns:
        The unpickled checkpoint (usually a dict).

    Raises:
        FileNotFoundError: If ``filename`` is not a file.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return torch.load(filename, map_location=map_location, weights_only=False)


def load_http_checkpoint(filename: str,
                         map_location: MapLocation = None,
                         model_dir: Optional[str] = None,
                         progress: bool = os.isatty(0)) -> Any:
    """Download (once, on local rank 0) and load an http(s) checkpoint.

    Args:
        filename (str): URL.
        map_location: As for :func:`torch.load`.
        model_dir (str, optional): Download directory; torch hub's
            checkpoint directory when None.
        progress (bool): Show a download progress bar.

    Returns:
        The unpickled checkpoint.
    """
    rank, world_size = get_dist_info()

    def load() -> Any:
        return torch.hub.load_state_dict_from_url(
            filename,
            model_dir=model_dir,
            map_location=map_location,
            progress=progress,
            weights_only=False)

    if rank == 0:
        checkpoint = load()
    if world_size > 1:
        barrier()
        if rank > 0:
            checkpoint = load()
    return checkpoint


def register_checkpoint_loaders() -> None:
    """Make MMEngine use the loaders above (idempotent).

    Besides the local and http(s) schemes, MMEngine's ``openmmlab://``,
    ``torchvision://`` and ``mmcls://`` loaders download through the module
    function ``load_from_http``, which is replaced as well.
    """
    CheckpointLoader.register_scheme(
        prefixes='', loader=load_local_checkpoint, force=True)
    CheckpointLoader.register_scheme(
        prefixes=('http://', 'https://'),
        loader=load_http_checkpoint,
        force=True)
    mmengine_checkpoint.load_from_http = load_http_checkpoint

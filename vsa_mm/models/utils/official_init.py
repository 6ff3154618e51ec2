"""Load-time conversion of official checkpoints (``convert_weights=True``)."""
from typing import Callable, List, Optional, Tuple, Union

import torch.nn as nn
from mmengine.runner.checkpoint import load_state_dict

from vsa_mm.engine.safe_load import (OFFICIAL_CHECKPOINT_GLOBALS,
                                     load_checkpoint_file)
from .ckpt_convert import StateDict, unwrap_state_dict

InitCfg = Union[dict, List[dict], None]


def take_official_checkpoint(
        init_cfg: InitCfg,
        convert_weights: bool) -> Tuple[InitCfg, Optional[str]]:
    """Split an official ``Pretrained`` checkpoint off a backbone's init_cfg.

    Args:
        init_cfg (dict | list[dict], optional): The backbone's init_cfg.
        convert_weights (bool): Whether the Pretrained checkpoint is in an
            official layout that must be converted.

    Returns:
        tuple: The init_cfg to give :class:`BaseModule` (None, i.e. the
        backbone's default initialisation, when converting) and the official
        checkpoint's path (None when not converting).

    Raises:
        ValueError: If ``convert_weights`` is set without a single
            ``Pretrained`` init_cfg.
    """
    if not convert_weights:
        return init_cfg, None
    if not (isinstance(init_cfg, dict)
            and init_cfg.get('type') == 'Pretrained'):
        raise ValueError(
            "convert_weights=True needs init_cfg=dict(type='Pretrained', "
            f'checkpoint=...), got {init_cfg!r}')
    return None, init_cfg['checkpoint']


def load_official_checkpoint(
        module: nn.Module, checkpoint: str,
        convert: Callable[[StateDict], Tuple[StateDict, StateDict]]) -> None:
    """Load an official checkpoint into ``module`` through ``convert``.

    The file is loaded with ``torch.load(weights_only=True)`` and the types
    official trainers pickle (see :mod:`vsa_mm.engine.safe_load`). Keys the
    checkpoint lacks keep their initialisation; mmengine logs them (and any
    unexpected ones) as warnings.

    Raises:
        ValueError: If the file is not a checkpoint or is refused (it
            pickles other types); a refused file can be converted once with
            ``tools/model_converters`` and ``--unsafe-load`` if trusted.
    """
    loaded = load_checkpoint_file(
        checkpoint,
        map_location='cpu',
        extra_globals=OFFICIAL_CHECKPOINT_GLOBALS,
        hint='If you trust it, convert it once with the matching '
        'tools/model_converters script and --unsafe-load (only for files '
        'you trust), and load the converted file instead')
    backbone, _ = convert(unwrap_state_dict(loaded))
    load_state_dict(module, backbone, strict=False, logger='current')

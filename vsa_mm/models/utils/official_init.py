"""Load-time conversion of official checkpoints (``convert_weights=True``)."""
import argparse
from collections import OrderedDict
from typing import Callable, Optional, Tuple

import torch.nn as nn
from mmengine.runner.checkpoint import load_state_dict

from ...checkpoint.safe_load import load_checkpoint_file
from .ckpt_convert import StateDict, unwrap_state_dict
from .init_cfg import InitCfg, pretrained_entry

#: What official checkpoints pickle besides tensors, allowlisted only while
#: one of them loads (they are handed to the loader for that load):
#:
#: - ``argparse.Namespace``: timm's trainer (ViTAE-VSA) stores its ``args``,
#:   a namespace of plain values; it is rebuilt from its attributes.
#: - ``yacs.config.CfgNode``: the Swin/QFormer trainer stores its ``config``.
#:   A ``CfgNode`` is a ``dict`` subclass, and torch's unpickler fills only
#:   exact dicts, so the name is mapped to ``OrderedDict`` itself (already
#:   allowed by torch): the config is read as plain nested ``OrderedDict``
#:   data, and yacs is never imported or called.
OFFICIAL_CHECKPOINT_GLOBALS = (argparse.Namespace, (OrderedDict,
                                                    'yacs.config.CfgNode'))


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
    if not isinstance(init_cfg, dict) or pretrained_entry(init_cfg) is None:
        raise ValueError(
            "convert_weights=True needs init_cfg=dict(type='Pretrained', "
            f'checkpoint=...), got {init_cfg!r}')
    return None, init_cfg['checkpoint']


def load_official_checkpoint(
        module: nn.Module, checkpoint: str,
        convert: Callable[[StateDict], Tuple[StateDict, StateDict]]) -> None:
    """Load an official checkpoint into ``module`` through ``convert``.

    The file is loaded with ``torch.load(weights_only=True)`` and the types
    official trainers pickle (:data:`OFFICIAL_CHECKPOINT_GLOBALS`). Keys the
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

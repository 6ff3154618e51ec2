"""Behaviour shared by vsa_mm's backbones."""
from collections.abc import Mapping
from typing import (Any, Callable, Dict, FrozenSet, List, Optional, Sequence,
                    Tuple, Union)

import torch.nn as nn
import torch.utils.checkpoint as cp
from mmengine.model import BaseModule
from torch.nn.modules.batchnorm import _BatchNorm

from ..utils.ckpt_convert import StateDict
from ..utils.official_init import (load_official_checkpoint,
                                   take_official_checkpoint)


def checkpointed(function: Callable[..., Any], x: Any, enabled: bool) -> Any:
    """``function(x)``, under gradient checkpointing (non-reentrant) when
    ``enabled`` and ``x`` requires grad."""
    if enabled and x.requires_grad:
        return cp.checkpoint(function, x, use_reentrant=False)
    return function(x)


#: Arguments of the attention that its block decides.
_BLOCK_OWNED_ATTENTION_KEYS = ('embed_dims', 'num_heads', 'out_dims')
#: Arguments of the attention that the backbone's own arguments set: the
#: window size (Swin's position encoding follows it too).
_BACKBONE_OWNED_ATTENTION_KEYS = ('window_size', )


def attention_arguments(attn_cfg: Optional[dict], **defaults: Any) -> dict:
    """A block's attention arguments: ``defaults`` updated by ``attn_cfg``.

    Args:
        attn_cfg (dict, optional): The user's arguments; ``type``, the
            widths and the number of heads belong to the block, the window
            size to the backbone's ``window_size`` argument.
        **defaults: The block's own arguments.

    Returns:
        dict: Keyword arguments of the attention.

    Raises:
        TypeError: If ``attn_cfg`` is not a dict.
        ValueError: If it sets a width, the heads, the type or the window
            size.
    """
    if attn_cfg is None:
        return defaults
    if not isinstance(attn_cfg, Mapping):
        raise TypeError(f'attn_cfg must be a dict, got {attn_cfg!r}')
    owned = sorted(key for key in attn_cfg
                   if key in _BLOCK_OWNED_ATTENTION_KEYS + ('type', ))
    if owned:
        raise ValueError(f'attn_cfg cannot set {owned}: the block sets them '
                         f'(got attn_cfg={dict(attn_cfg)!r})')
    if any(key in attn_cfg for key in _BACKBONE_OWNED_ATTENTION_KEYS):
        raise ValueError('attn_cfg cannot set window_size: give it as the '
                         "backbone's window_size argument (got "
                         f'attn_cfg={dict(attn_cfg)!r})')
    return {**defaults, **attn_cfg}


AttnCfg = Union[None, dict, Sequence[Optional[dict]]]


def stage_attn_cfgs(attn_cfg: AttnCfg,
                    num_stages: int) -> List[Optional[dict]]:
    """A backbone's ``attn_cfg`` as one entry per stage.

    Args:
        attn_cfg (dict | Sequence[dict | None] | None): Arguments of every
            VSA layer (a dict, or None for none), or one such entry per
            stage.
        num_stages (int): Number of stages.

    Returns:
        list[dict | None]: One entry per stage.

    Raises:
        TypeError: If ``attn_cfg`` is neither a dict, None nor a sequence
            of them.
        ValueError: If a sequence does not have one entry per stage.

    Examples:
        >>> stage_attn_cfgs(dict(backend='gather'), 2)
        [{'backend': 'gather'}, {'backend': 'gather'}]
        >>> stage_attn_cfgs([None, dict(backend='gather')], 2)
        [None, {'backend': 'gather'}]
    """
    if attn_cfg is None or isinstance(attn_cfg, Mapping):
        return [attn_cfg] * num_stages
    if not isinstance(attn_cfg, (list, tuple)) or not all(
            cfg is None or isinstance(cfg, Mapping) for cfg in attn_cfg):
        raise TypeError('attn_cfg must be a dict, None or one of them per '
                        f'stage, got {attn_cfg!r}')
    if len(attn_cfg) != num_stages:
        raise ValueError(f'attn_cfg has {len(attn_cfg)} entries for '
                         f'{num_stages} stages: {attn_cfg!r}')
    return list(attn_cfg)


#: Initialisation when no init_cfg is given (as timm and Swin do).
DEFAULT_INIT_CFG = [
    dict(type='TruncNormal', layer='Linear', std=.02, bias=0.),
    dict(type='Constant', layer='LayerNorm', val=1., bias=0.)
]


class VSABackboneBase(BaseModule):
    """Output/frozen-stage options, official checkpoints and ``train()``.

    Subclasses set :attr:`arch_zoo`, :attr:`arch_keys`,
    :attr:`per_stage_keys` and :attr:`official_converter` (the key map of
    their official checkpoints), and implement :meth:`_frozen_modules`.

    Args:
        convert_weights (bool): ``init_cfg``'s ``Pretrained`` checkpoint is
            official: load it through :attr:`official_converter` after the
            default initialisation.
        init_cfg (dict | list[dict], optional): Initialisation config;
            :data:`DEFAULT_INIT_CFG` when None.
    """

    #: Preset architectures by (lower-case) name.
    arch_zoo: Dict[str, dict]
    #: Keys a custom ``arch`` dict must have.
    arch_keys: FrozenSet[str]
    #: Optional ``arch`` keys and their values when absent.
    arch_defaults: Dict[str, Any] = {}
    #: Keys of ``arch`` that hold one value per stage.
    per_stage_keys: Tuple[str, ...]
    official_converter: Callable[[StateDict], Tuple[StateDict, StateDict]]

    def __init__(self, convert_weights: bool, init_cfg: Union[dict, List[dict],
                                                              None]) -> None:
        init_cfg, self._official_checkpoint = take_official_checkpoint(
            init_cfg, convert_weights)
        super().__init__(
            init_cfg=DEFAULT_INIT_CFG if init_cfg is None else init_cfg)

    @classmethod
    def _resolve_arch(cls, arch: Union[str, dict]) -> dict:
        """A preset's settings, or a validated custom ``arch`` dict, with
        :attr:`arch_defaults` filled in."""
        if isinstance(arch, str):
            if arch.lower() not in cls.arch_zoo:
                raise ValueError(f'arch {arch!r} is not one of '
                                 f'{sorted(cls.arch_zoo)}')
            return {**cls.arch_defaults, **cls.arch_zoo[arch.lower()]}
        if not isinstance(arch, dict):
            raise TypeError(f'arch must be a str or a dict, got {arch!r}')
        unknown = set(arch) - cls.arch_keys - set(cls.arch_defaults)
        if unknown:
            raise ValueError(
                f'unknown arch keys {sorted(unknown)}; valid keys are '
                f'{sorted(cls.arch_keys | set(cls.arch_defaults))}')
        missing = cls.arch_keys - set(arch)
        if missing:
            raise ValueError(f'arch dict misses {sorted(missing)}, got keys '
                             f'{sorted(arch)}')
        settings = {**cls.arch_defaults, **arch}
        lengths = {
            key: len(settings[key])
            for key in cls.per_stage_keys if key in settings
        }
        if len(set(lengths.values())) != 1:
            raise ValueError(f'arch lists differ in length: {lengths}')
        return settings

    def _set_stage_options(self, num_stages: int, out_indices: Sequence[int],
                           frozen_stages: int, norm_eval: bool) -> None:
        """Validate and store ``out_indices`` (negative ones count from the
        end), ``frozen_stages`` and ``norm_eval``."""
        indices = tuple(i + num_stages if i < 0 else i for i in out_indices)
        if not indices or any(not 0 <= i < num_stages for i in indices):
            raise ValueError(f'out_indices must index the {num_stages} '
                             f'stages, got {tuple(out_indices)}')
        if not -1 <= frozen_stages <= num_stages:
            raise ValueError(f'frozen_stages must be in [-1, {num_stages}], '
                             f'got {frozen_stages}')
        self.out_indices = indices
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval

    def init_weights(self) -> None:
        """Initialise, then load a converted official checkpoint if any."""
        super().init_weights()
        if self._official_checkpoint is not None:
            load_official_checkpoint(self, self._official_checkpoint,
                                     type(self).official_converter)

    def _frozen_modules(self) -> List[nn.Module]:
        """Modules that ``frozen_stages`` freezes."""
        raise NotImplementedError

    def _freeze_stages(self) -> None:
        for module in self._frozen_modules():
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> 'VSABackboneBase':
        """Set training mode, keeping frozen stages and (with
        ``norm_eval``) BatchNorm layers in eval mode."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self

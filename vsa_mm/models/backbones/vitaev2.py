"""ViTAEv2, with varied-size window attention (ViTAEv2 + VSA) or without."""
import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn.bricks.drop import DropPath
from mmengine.model import BaseModule, ModuleList
from torch import Tensor

from vsa_mm.compat import GELU_BACKWARD_NEEDS_CONTIGUOUS_GRAD
from vsa_mm.registry import MODELS
from ..layers import FFN, ConvPosEnc, VSAWindowAttention
from ..layers.patch_bricks import cover_padding
from ..layers.window_geometry import map_to_tokens, tokens_to_map
from ..utils import convert_vitaev2_vsa, read_vitaev2_arch
from .base import (AttnCfg, VSABackboneBase, attention_arguments, checkpointed,
                   stage_attn_cfgs)


class PyramidReduction(nn.Module):
    """ViTAEv2's pyramid reduction module (PRM).

    One strided dilated convolution per dilation, concatenated along
    channels in dilation order, then GELU. The padding is the official
    ``ceil(((k - 1) * d + 1 - stride) / 2)`` at the top and left; the bottom
    and right get what makes the output exactly ``ceil(H / stride)``, so
    that it always matches the convolution branch. For sizes divisible by
    the stride this is the official result.

    Args:
        in_channels (int): Input channels.
        embed_dims (int): Output channels per dilation.
        kernel_size (int): Kernel size k.
        stride (int): Downsampling ratio.
        dilations (Sequence[int]): One branch per dilation.
    """

    def __init__(self, in_channels: int, embed_dims: int, kernel_size: int,
                 stride: int, dilations: Sequence[int]) -> None:
        super().__init__()
        self.stride = stride
        self.dilations = tuple(dilations)
        self.extents = [(kernel_size - 1) * d + 1 for d in dilations]
        self.convs = nn.ModuleList(
            nn.Conv2d(
                in_channels, embed_dims, kernel_size, stride, dilation=d)
            for d in dilations)
        self.act = nn.GELU()
        self.out_channels = embed_dims * len(self.dilations)

    def _padding(self, size: int, extent: int) -> Tuple[int, int]:
        before = max(math.ceil((extent - self.stride) / 2), 0)
        return before, cover_padding(size, extent, self.stride, before)

    def forward(self, x: Tensor) -> Tensor:
        """(B, C_in, H, W) -> (B, embed_dims * len(dilations), H', W')."""
        height, width = x.shape[-2:]
        outs = []
        for conv, extent in zip(self.convs, self.extents, strict=True):
            top, bottom = self._padding(height, extent)
            left, right = self._padding(width, extent)
            outs.append(conv(F.pad(x, (left, right, top, bottom))))
        out = self.act(torch.cat(outs, dim=1))
        if GELU_BACKWARD_NEEDS_CONTIGUOUS_GRAD and out.requires_grad:
            # The gradient comes back channels-last from the tokens.
            out.register_hook(torch.Tensor.contiguous)
        return out


def parallel_conv_branch(channels: Sequence[int], strides: Sequence[int],
                         groups: int) -> nn.Sequential:
    """ViTAEv2's parallel convolution module (PCM).

    Conv3x3 -> BN -> SiLU -> Conv3x3 -> BN -> SiLU -> Conv3x3, grouped, with
    padding 1 and biases; module indices (0, 1, 3, 4, 6) follow the official
    checkpoints.

    Args:
        channels (Sequence[int]): (input, after conv 1, after conv 2,
            output) channels.
        strides (Sequence[int]): Stride of each convolution.
        groups (int): Groups of every convolution.
    """
    c0, c1, c2, c3 = channels
    return nn.Sequential(
        nn.Conv2d(c0, c1, 3, strides[0], 1, groups=groups), nn.BatchNorm2d(c1),
        nn.SiLU(), nn.Conv2d(c1, c2, 3, strides[1], 1, groups=groups),
        nn.BatchNorm2d(c2), nn.SiLU(),
        nn.Conv2d(c2, c3, 3, strides[2], 1, groups=groups))


class ReductionCell(BaseModule):
    """ViTAEv2 reduction cell.

    ``t = PRM(x)`` (+ ``CPE(t)``); ``a = Attention(LN(t))`` from the PRM
    width to ``embed_dims`` (no residual: the width changes);
    ``y = a + DropPath(PCM(x))``; ``y = y + DropPath(MLP(LN(y)))``.

    Args:
        in_channels (int): Channels of the input map.
        prm_dims (int): PRM channels per dilation.
        embed_dims (int): Output channels (the stage's token width).
        stride (int): Downsampling ratio (4 or 2).
        kernel_size (int): PRM kernel size.
        dilations (Sequence[int]): PRM dilations.
        groups (int): PCM groups.
        wide_pcm (bool): PCM hidden width ``2 * embed_dims`` instead of
            ``prm_dims``.
        cpe (bool): Convolutional position encoding before attention.
        attention (nn.Module): Maps (B, N, PRM width) tokens and their
            ``hw_shape`` to (B, N, embed_dims).
        mlp_ratio (float): MLP width ratio (1 in the official cells).
        drop_path_rate (float): Drop path of the PCM and MLP terms.
        with_cp (bool): Gradient checkpointing.
    """

    def __init__(self,
                 in_channels: int,
                 prm_dims: int,
                 embed_dims: int,
                 stride: int,
                 kernel_size: int,
                 dilations: Sequence[int],
                 groups: int,
                 wide_pcm: bool,
                 cpe: bool,
                 attention: nn.Module,
                 mlp_ratio: float = 1.,
                 drop_path_rate: float = 0.,
                 with_cp: bool = False) -> None:
        super().__init__()
        if stride not in (2, 4):
            raise ValueError(f'stride must be 2 or 4, got {stride}')
        self.with_cp = with_cp
        self.prm = PyramidReduction(in_channels, prm_dims, kernel_size, stride,
                                    dilations)
        prm_width = self.prm.out_channels
        self.cpe = ConvPosEnc(prm_width, 7) if cpe else None
        self.norm1 = nn.LayerNorm(prm_width, eps=1e-5)
        self.attn = attention
        pcm_strides = (2, 2, 1) if stride == 4 else (2, 1, 1)
        hidden = 2 * embed_dims if wide_pcm else prm_dims
        self.pcm = parallel_conv_branch(
            (in_channels, hidden, hidden, embed_dims), pcm_strides, groups)
        self.drop_path = DropPath(drop_path_rate)
        self.norm2 = nn.LayerNorm(embed_dims, eps=1e-5)
        self.ffn = FFN(
            embed_dims=embed_dims,
            feedforward_channels=int(embed_dims * mlp_ratio),
            act_cfg=dict(type='GELU'),
            dropout_layer=dict(type='DropPath', drop_prob=drop_path_rate),
            add_identity=True)

    def forward(self, x: Tensor) -> Tuple[Tensor, Tuple[int, int]]:
        """(B, C_in, H, W) -> tokens (B, H' * W', embed_dims), (H', W')."""

        def cell(x: Tensor) -> Tuple[Tensor, Tuple[int, int]]:
            reduced = self.prm(x)
            hw_shape = tuple(reduced.shape[-2:])
            tokens = map_to_tokens(reduced)
            if self.cpe is not None:
                tokens = tokens + self.cpe(tokens, hw_shape)
            out = self.attn(self.norm1(tokens), hw_shape)
            out = out + self.drop_path(map_to_tokens(self.pcm(x)))
            return self.ffn(self.norm2(out), identity=out), hw_shape

        return checkpointed(cell, x, self.with_cp)


class NormalCell(BaseModule):
    """ViTAEv2 normal cell.

    ``a = Attention(LN(x + CPE(x)))`` (the position encoding feeds the
    attention only); ``x = x + DropPath(a) + DropPath(PCM(x))``;
    ``x = x + DropPath(MLP(LN(x)))``.

    Args:
        embed_dims (int): Channels D.
        groups (int): PCM groups.
        cpe (bool): Convolutional position encoding before attention.
        attention (nn.Module): Maps (B, N, D) tokens and their ``hw_shape``
            to (B, N, D).
        mlp_ratio (float): MLP (and PCM hidden) width ratio.
        drop_path_rate (float): Drop path rate.
        with_cp (bool): Gradient checkpointing.
    """

    def __init__(self,
                 embed_dims: int,
                 groups: int,
                 cpe: bool,
                 attention: nn.Module,
                 mlp_ratio: float = 4.,
                 drop_path_rate: float = 0.,
                 with_cp: bool = False) -> None:
        super().__init__()
        self.with_cp = with_cp
        hidden = int(embed_dims * mlp_ratio)
        self.cpe = ConvPosEnc(embed_dims, 7) if cpe else None
        self.norm1 = nn.LayerNorm(embed_dims, eps=1e-6)
        self.attn = attention
        self.pcm = parallel_conv_branch(
            (embed_dims, hidden, embed_dims, embed_dims), (1, 1, 1), groups)
        self.drop_path = DropPath(drop_path_rate)
        self.norm2 = nn.LayerNorm(embed_dims, eps=1e-6)
        self.ffn = FFN(
            embed_dims=embed_dims,
            feedforward_channels=hidden,
            act_cfg=dict(type='GELU'),
            dropout_layer=dict(type='DropPath', drop_prob=drop_path_rate),
            add_identity=True)

    def forward(self, x: Tensor, hw_shape: Tuple[int, int]) -> Tensor:
        """Tokens (B, H * W, D) -> (B, H * W, D)."""

        def cell(x: Tensor) -> Tensor:
            attn_in = x if self.cpe is None else x + self.cpe(x, hw_shape)
            attn = self.attn(self.norm1(attn_in), hw_shape)
            conv = map_to_tokens(self.pcm(tokens_to_map(x, hw_shape)))
            x = x + self.drop_path(attn) + self.drop_path(conv)
            return self.ffn(self.norm2(x), identity=x)

        return checkpointed(cell, x, self.with_cp)


class ViTAEv2Stage(BaseModule):
    """A reduction cell followed by normal cells.

    Args:
        reduction (ReductionCell): The stage's reduction cell.
        normals (list[NormalCell]): The stage's normal cells.
    """

    def __init__(self, reduction: ReductionCell,
                 normals: List[NormalCell]) -> None:
        super().__init__()
        self.reduction = reduction
        self.normals = ModuleList(normals)

    def forward(self, x: Tensor) -> Tuple[Tensor, Tuple[int, int]]:
        """(B, C_in, H, W) -> tokens (B, H' * W', embed_dims), (H', W')."""
        tokens, hw_shape = self.reduction(x)
        for cell in self.normals:
            tokens = cell(tokens, hw_shape)
        return tokens, hw_shape


#: Layouts of the normal cells' drop path rates (``drop_path_schedule``).
DROP_PATH_SCHEDULES = ('linear', 'official')


def normal_cell_drop_path_rates(depths: Sequence[int],
                                drop_path_rate: float,
                                schedule: str = 'linear') -> List[List[float]]:
    """Stochastic depth rate of every normal cell, stage by stage.

    Both layouts start from ``linspace(0, drop_path_rate, sum(depths))``.

    - ``'linear'``: stage i takes the next ``depths[i]`` rates (a running
      sum), so the last cell gets ``drop_path_rate``.
    - ``'official'``: stage i takes ``rates[s_i:s_i + depths[i]]`` with
      ``s_0 = 0`` and ``s_i = depths[i - 1]``, as the official ViTAEv2 and
      ViTAE-VSA code (classification and detection) slices the list. Later
      stages then get less than the nominal rate; use this layout to
      reproduce the official runs.

    Args:
        depths (Sequence[int]): Normal cells per stage.
        drop_path_rate (float): The nominal (largest) rate.
        schedule (str): ``'linear'`` or ``'official'``.
            Defaults to ``'linear'``.

    Returns:
        list[list[float]]: One list of rates per stage.

    Examples:
        >>> normal_cell_drop_path_rates([1, 2, 2], 0.5)
        [[0.0], [0.125, 0.25], [0.375, 0.5]]
        >>> normal_cell_drop_path_rates([1, 2, 2], 0.5, 'official')
        [[0.0], [0.125, 0.25], [0.25, 0.375]]
    """
    if schedule not in DROP_PATH_SCHEDULES:
        raise ValueError(f'drop_path_schedule must be one of '
                         f'{DROP_PATH_SCHEDULES}, got {schedule!r}')
    if not 0 <= drop_path_rate < 1:
        raise ValueError(
            f'drop_path_rate must be in [0, 1), got {drop_path_rate!r}')
    rates = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
    per_stage, start = [], 0
    for index, depth in enumerate(depths):
        if schedule == 'official':
            start = 0 if index == 0 else depths[index - 1]
        per_stage.append(rates[start:start + depth])
        if schedule == 'linear':
            start += depth
    return per_stage


def _stage_attention_cfgs(cfgs: Union[dict, Sequence[dict]], num_stages: int,
                          name: str) -> List[dict]:
    """One attention config per stage: a dict is shared by all stages."""
    if isinstance(cfgs, dict):
        cfgs = [cfgs] * num_stages
    if (not isinstance(cfgs, (list, tuple)) or len(cfgs) != num_stages or
            not all(isinstance(cfg, dict) and 'type' in cfg for cfg in cfgs)):
        raise ValueError(f'{name} must be a dict with a type, or one such '
                         f'dict per stage ({num_stages}), got {cfgs!r}')
    return [dict(cfg) for cfg in cfgs]


def _is_vsa(cfg: dict) -> bool:
    return MODELS.get(cfg['type']) is VSAWindowAttention


def _with_vsa_arguments(cfgs: List[dict],
                        extras: List[Optional[dict]]) -> List[dict]:
    """Each stage's attention config, with the stage's ``attn_cfg`` entry
    applied where it builds a VSA layer."""
    return [
        dict(
            type=cfg['type'],
            **attention_arguments(
                extra, **{
                    k: v
                    for k, v in cfg.items() if k != 'type'
                })) if extra is not None and _is_vsa(cfg) else cfg
        for cfg, extra in zip(cfgs, extras, strict=True)
    ]


def build_cell_attention(cfg: dict, in_dims: int, out_dims: int,
                         num_heads: int) -> nn.Module:
    """Build one cell's attention from its config through the registry.

    The cell fills in its widths and heads; everything else (window size,
    scale, biases, ...) comes from ``cfg``.

    Args:
        cfg (dict): The attention's config, e.g.
            ``dict(type='VSAWindowAttention', window_size=7)``.
        in_dims (int): Input width (the PRM width in reduction cells).
        out_dims (int): Output width.
        num_heads (int): Attention heads.

    Returns:
        nn.Module: ``attention(tokens, hw_shape)`` mapping (B, N, in_dims)
        to (B, N, out_dims).
    """
    return MODELS.build(
        dict(cfg, embed_dims=in_dims, out_dims=out_dims, num_heads=num_heads))


#: Attention of the VSA cells: varied-size windows of side 7.
VSA_ATTENTION = dict(type='vsa_mm.VSAWindowAttention', window_size=7)
#: VSA in reduction cells, scaled by the input width as the official
#: ViTAE-VSA reduction cells do.
VSA_REDUCTION_ATTENTION = dict(VSA_ATTENTION, scale_by_input_dims=True)
#: Non-shifted window attention without position bias (official ViTAEv2).
WINDOW_ATTENTION = dict(type='vsa_mm.MultiheadSelfAttention', window_size=7)
#: Global attention of the official ViTAEv2 normal cells.
FULL_ATTENTION = dict(type='vsa_mm.MultiheadSelfAttention')
#: Global attention of the official ViTAEv2 reduction cells: no q/k/v bias,
#: and the values added to the output.
FULL_REDUCTION_ATTENTION = dict(
    FULL_ATTENTION, qkv_bias=False, value_skip=True)

_BASELINE_ATTENTION = dict(
    attn_cfgs=[WINDOW_ATTENTION] * 2 + [FULL_ATTENTION] * 2,
    reduction_attn_cfgs=[WINDOW_ATTENTION] * 2 +
    [FULL_REDUCTION_ATTENTION] * 2,
    cpe=False)


@MODELS.register_module()
class ViTAEv2(VSABackboneBase):
    """ViTAEv2, with varied-size window attention or the official attention.

    Four stages, each a reduction cell (pyramid reduction + attention +
    parallel convolutions) followed by normal cells (attention in parallel
    with grouped convolutions). The model is stem-free: stage 1's reduction
    cell works on the image. Inputs of any size work; outputs are NCHW maps
    at strides 4, 8, 16 and 32 with ``embed_dims`` channels.

    Presets (``arch``), one per model of the VSA paper's tables:

    - ``'s-vsa'``, ``'48m-vsa'``, ``'b-vsa'``: ViTAEv2*-S/48M/B + VSA, with
      VSA and a convolutional position encoding in every cell, as defined
      in the official ViTAE-VSA code;
    - ``'s'``, ``'48m'``, ``'b'``: the official ViTAEv2 baselines, with
      window attention in stages 1-2 and full attention in stages 3-4;
    - ``'s-window'``: ViTAEv2*-S, with window attention in all stages.

    A custom ``arch`` is a dict with the essential keys (one value per
    stage):

    - ``embed_dims``: token width of the stage (its output channels);
    - ``prm_dims``: channels of each dilated convolution of the reduction
      cell's pyramid reduction module (its output is ``prm_dims *
      len(dilations)`` wide);
    - ``depths``: number of normal cells;
    - ``num_heads``: attention heads of the normal cells;
    - ``reduction_heads``: attention heads of the reduction cell;

    and optionally (defaults in :attr:`arch_defaults`: the official cells
    with VSA):

    - ``attn_cfgs``, ``reduction_attn_cfgs``: the attention of the normal
      and reduction cells, a config built through the registry (one dict
      for all stages, or one per stage); the cell fills in ``embed_dims``,
      ``out_dims`` and ``num_heads``. VSA reduction cells use
      ``scale_by_input_dims=True`` as the official ones do, and the
      baselines' full-attention reduction cells ``qkv_bias=False,
      value_skip=True``;
    - ``cpe``: a depthwise 7x7 convolutional position encoding before each
      attention;
    - ``wide_pcm``: the reduction cell's convolution branch is
      ``2 * embed_dims`` wide instead of ``prm_dims``;
    - ``strides``, ``kernel_sizes``, ``dilations``: the pyramid reduction
      module's downsampling, kernel and dilations;
    - ``groups``, ``reduction_groups``: groups of the normal and reduction
      cells' convolution branches;
    - ``mlp_ratio``: the normal cells' MLP width ratio.

    Papers: `VSA <https://arxiv.org/abs/2204.08446>`_,
    `ViTAEv2 <https://arxiv.org/abs/2202.10108>`_.

    Args:
        arch (str | dict): A preset name, or a dict with the essential
            keys above. Defaults to ``'s-vsa'``.
        in_channels (int): Image channels. Defaults to 3.
        window_size (int, optional): Window size of every attention whose
            config has one; None keeps the configs' (7 in the presets).
            Defaults to None.
        attn_cfg (dict | Sequence[dict | None], optional): More arguments
            of every :class:`~vsa_mm.models.layers.VSAWindowAttention`, in
            normal and reduction cells, for example
            ``dict(backend='reference')``; they override the arch's. One
            dict for all stages, or one entry per stage, as for
            :class:`~vsa_mm.models.backbones.SwinTransformerVSA`.
            Defaults to None.
        drop_path_rate (float): Nominal stochastic depth rate: that of the
            last normal cell with the ``'linear'`` schedule.
            Defaults to 0.1.
        drop_path_schedule (str): How the rates are laid out over the
            normal cells (see :func:`normal_cell_drop_path_rates`):
            ``'linear'`` rises linearly over all cells; ``'official'``
            reproduces the official code's per-stage slicing, which gives
            later stages less than ``drop_path_rate``. Reduction cells have
            no stochastic depth in either. Defaults to ``'linear'``.
        out_indices (Sequence[int]): Stages to output. Defaults to
            (0, 1, 2, 3).
        frozen_stages (int): Stages 0..frozen_stages-1 get no gradients and
            stay in eval mode (-1: none). Defaults to -1.
        norm_eval (bool): Keep BatchNorm layers (in the PCMs) in eval mode
            during training. Defaults to False.
        with_cp (bool): Gradient checkpointing of every cell.
            Defaults to False.
        convert_weights (bool): ``init_cfg``'s ``Pretrained`` checkpoint is
            an official ViTAE-VSA classification checkpoint: convert its keys
            while loading. Defaults to False.
        init_cfg (dict | list[dict], optional): Initialisation; truncated
            normal Linear layers (std 0.02) and unit LayerNorms when None.
            Defaults to None.

    Examples:
        >>> import torch
        >>> from vsa_mm.models import ViTAEv2
        >>> model = ViTAEv2('s-vsa').eval()
        >>> outs = model(torch.rand(1, 3, 112, 137))
        >>> [tuple(out.shape) for out in outs]
        [(1, 64, 28, 35), (1, 128, 14, 18), (1, 256, 7, 9), (1, 512, 4, 5)]
    """

    official_converter = staticmethod(convert_vitaev2_vsa)
    # yapf: disable
    arch_zoo: Dict[str, dict] = {
        's-vsa': dict(
            embed_dims=[64, 128, 256, 512], prm_dims=[64, 64, 128, 256],
            depths=[2, 2, 8, 2], num_heads=[2, 4, 8, 16],
            reduction_heads=[2, 2, 4, 8]),
        '48m-vsa': dict(
            embed_dims=[96, 192, 384, 768], prm_dims=[96, 96, 192, 384],
            depths=[2, 2, 11, 2], num_heads=[3, 6, 12, 24],
            reduction_heads=[3, 6, 12, 24], wide_pcm=True),
        'b-vsa': dict(
            embed_dims=[128, 256, 512, 1024], prm_dims=[128, 128, 256, 512],
            depths=[2, 2, 12, 2], num_heads=[4, 8, 16, 32],
            reduction_heads=[4, 8, 16, 32], wide_pcm=True),
        's': dict(
            embed_dims=[64, 128, 256, 512], prm_dims=[64, 64, 128, 256],
            depths=[2, 2, 8, 2], num_heads=[1, 2, 4, 8],
            reduction_heads=[1, 1, 2, 4], **_BASELINE_ATTENTION),
        '48m': dict(
            embed_dims=[96, 192, 384, 768], prm_dims=[64, 64, 192, 384],
            depths=[2, 2, 11, 2], num_heads=[1, 2, 4, 8],
            reduction_heads=[1, 1, 2, 4], **_BASELINE_ATTENTION),
        'b': dict(
            embed_dims=[128, 256, 512, 1024], prm_dims=[96, 96, 256, 512],
            depths=[2, 2, 12, 2], num_heads=[1, 4, 8, 16],
            reduction_heads=[1, 1, 4, 8], **_BASELINE_ATTENTION),
        's-window': dict(
            embed_dims=[64, 128, 256, 512], prm_dims=[64, 64, 128, 256],
            depths=[2, 2, 8, 2], num_heads=[1, 2, 4, 8],
            reduction_heads=[1, 1, 2, 4], attn_cfgs=WINDOW_ATTENTION,
            reduction_attn_cfgs=WINDOW_ATTENTION, cpe=False),
    }
    # yapf: enable
    arch_keys = frozenset(
        {'embed_dims', 'prm_dims', 'depths', 'num_heads', 'reduction_heads'})
    #: Values of the optional ``arch`` keys: the official cells with VSA.
    arch_defaults: Dict[str, object] = dict(
        strides=[4, 2, 2, 2],
        kernel_sizes=[7, 3, 3, 3],
        dilations=[[1, 2, 3, 4], [1, 2, 3], [1, 2], [1, 2]],
        groups=[1, 32, 64, 128],
        reduction_groups=[1, 16, 32, 64],
        attn_cfgs=VSA_ATTENTION,
        reduction_attn_cfgs=VSA_REDUCTION_ATTENTION,
        cpe=True,
        wide_pcm=False,
        mlp_ratio=4.)
    per_stage_keys = ('embed_dims', 'prm_dims', 'depths', 'num_heads',
                      'reduction_heads', 'strides', 'kernel_sizes',
                      'dilations', 'groups', 'reduction_groups')

    def __init__(self,
                 arch: Union[str, dict] = 's-vsa',
                 in_channels: int = 3,
                 window_size: Optional[int] = None,
                 attn_cfg: AttnCfg = None,
                 drop_path_rate: float = 0.1,
                 drop_path_schedule: str = 'linear',
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 convert_weights: bool = False,
                 init_cfg: Union[dict, List[dict], None] = None) -> None:
        super().__init__(convert_weights, init_cfg)
        self.arch_settings = settings = self._resolve_arch(arch)
        num_stages = len(settings['depths'])
        self._set_stage_options(num_stages, out_indices, frozen_stages,
                                norm_eval)
        self.num_features = list(settings['embed_dims'])
        attn_cfgs = _stage_attention_cfgs(settings['attn_cfgs'], num_stages,
                                          'attn_cfgs')
        reduction_attn_cfgs = _stage_attention_cfgs(
            settings['reduction_attn_cfgs'], num_stages, 'reduction_attn_cfgs')
        if window_size is not None:
            for cfg in attn_cfgs + reduction_attn_cfgs:
                if 'window_size' in cfg:
                    cfg['window_size'] = window_size
        vsa_cfgs = stage_attn_cfgs(attn_cfg, num_stages)
        attn_cfgs = _with_vsa_arguments(attn_cfgs, vsa_cfgs)
        reduction_attn_cfgs = _with_vsa_arguments(reduction_attn_cfgs,
                                                  vsa_cfgs)
        if attn_cfg is not None and not any(
                _is_vsa(cfg) for cfg in attn_cfgs + reduction_attn_cfgs):
            raise ValueError(f'attn_cfg={attn_cfg!r} is for VSA layers, and '
                             f'arch {arch!r} has none')

        rates = normal_cell_drop_path_rates(settings['depths'], drop_path_rate,
                                            drop_path_schedule)
        self.stages = ModuleList()
        channels = in_channels
        for i in range(num_stages):
            embed_dims = settings['embed_dims'][i]
            reduction = ReductionCell(
                in_channels=channels,
                prm_dims=settings['prm_dims'][i],
                embed_dims=embed_dims,
                stride=settings['strides'][i],
                kernel_size=settings['kernel_sizes'][i],
                dilations=settings['dilations'][i],
                groups=settings['reduction_groups'][i],
                wide_pcm=settings['wide_pcm'],
                cpe=settings['cpe'],
                attention=build_cell_attention(
                    reduction_attn_cfgs[i],
                    settings['prm_dims'][i] * len(settings['dilations'][i]),
                    embed_dims, settings['reduction_heads'][i]),
                with_cp=with_cp)
            normals = [
                NormalCell(
                    embed_dims,
                    groups=settings['groups'][i],
                    cpe=settings['cpe'],
                    attention=build_cell_attention(attn_cfgs[i], embed_dims,
                                                   embed_dims,
                                                   settings['num_heads'][i]),
                    mlp_ratio=settings['mlp_ratio'],
                    drop_path_rate=rate,
                    with_cp=with_cp) for rate in rates[i]
            ]
            self.stages.append(ViTAEv2Stage(reduction, normals))
            channels = embed_dims
        self._freeze_stages()

    @classmethod
    def preset_of(cls, state_dict: Dict[str, Tensor]) -> str:
        """The preset whose weights have the shapes of ``state_dict``.

        Args:
            state_dict (dict[str, Tensor]): Weights of a ViTAEv2 backbone.

        Returns:
            str: The preset's name in :attr:`arch_zoo`.

        Raises:
            ValueError: If no preset, or more than one, has these shapes.
        """
        found = read_vitaev2_arch(state_dict)
        matches = []
        for name, preset in cls.arch_zoo.items():
            settings = {**cls.arch_defaults, **preset}
            if all(found[key] is None or list(settings[key]) == found[key]
                   for key in ('embed_dims', 'prm_dims', 'depths', 'num_heads',
                               'reduction_heads')) and all(
                                   settings[key] == found[key]
                                   for key in ('wide_pcm', 'cpe')):
                matches.append(name)
        if len(matches) != 1:
            raise ValueError(
                f'the weights ({found}) match '
                f'{matches or "none"} of the presets {sorted(cls.arch_zoo)}')
        return matches[0]

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Extract multi-scale features.

        Args:
            x (Tensor): Images of shape (B, in_channels, H, W).

        Returns:
            tuple[Tensor]: For each of ``out_indices``, a map of shape
            (B, embed_dims[i], ceil(H / 4 / 2**i), ceil(W / 4 / 2**i)).
        """
        outs = []
        for index, stage in enumerate(self.stages):
            tokens, hw_shape = stage(x)
            x = tokens_to_map(tokens, hw_shape)
            if index in self.out_indices:
                outs.append(x.contiguous())
        return tuple(outs)

    def _frozen_modules(self) -> List[nn.Module]:
        return list(self.stages[:max(self.frozen_stages, 0)])

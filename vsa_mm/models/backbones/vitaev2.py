"""ViTAEv2, with varied-size window attention (ViTAEv2 + VSA) or without."""
import math
from typing import Dict, List, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn.bricks.drop import DropPath
from mmcv.cnn.bricks.transformer import FFN
from mmengine.model import BaseModule, ModuleList
from torch import Tensor

from vsa_mm.registry import MODELS
from ..layers import (ConvPosEnc, MultiheadSelfAttention,
                      VSAWindowAttention)
from ..utils import convert_vitaev2_vsa
from .base import VSABackboneBase, checkpointed


def _to_map(tokens: Tensor, hw_shape: Tuple[int, int]) -> Tensor:
    """(B, H * W, C) -> (B, C, H, W)."""
    return tokens.transpose(1, 2).reshape(tokens.shape[0], -1, *hw_shape)


def _to_tokens(feature_map: Tensor) -> Tensor:
    """(B, C, H, W) -> (B, H * W, C)."""
    return feature_map.flatten(2).transpose(1, 2)


class PyramidReduction(nn.Module):
    """ViTAEv2's pyramid reduction module (PRM).

    One strided dilated convolution (+ GELU) per dilation, concatenated along
    channels in dilation order. The padding is the official
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
        total = (math.ceil(size / self.stride) - 1) * self.stride + extent \
            - size
        return before, max(total - before, 0)

    def forward(self, x: Tensor) -> Tensor:
        """(B, C_in, H, W) -> (B, embed_dims * len(dilations), H', W')."""
        height, width = x.shape[-2:]
        outs = []
        for conv, extent in zip(self.convs, self.extents, strict=True):
            top, bottom = self._padding(height, extent)
            left, right = self._padding(width, extent)
            outs.append(
                self.act(conv(F.pad(x, (left, right, top, bottom)))))
        return torch.cat(outs, dim=1)


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
        nn.Conv2d(c0, c1, 3, strides[0], 1, groups=groups),
        nn.BatchNorm2d(c1), nn.SiLU(),
        nn.Conv2d(c1, c2, 3, strides[1], 1, groups=groups),
        nn.BatchNorm2d(c2), nn.SiLU(),
        nn.Conv2d(c2, c3, 3, strides[2], 1, groups=groups))


class ReductionCell(BaseModule):
    """ViTAEv2 reduction cell.

    ``t = PRM(x)`` (+ ``CPE(t)``); ``a = Attention(LN(t))`` from the PRM
    width to ``token_dims`` (no residual: the width changes);
    ``y = a + DropPath(PCM(x))``; ``y = y + DropPath(MLP(LN(y)))``.

    Args:
        in_channels (int): Channels of the input map.
        embed_dims (int): PRM channels per dilation.
        token_dims (int): Output channels.
        stride (int): Downsampling ratio (4 or 2).
        kernel_size (int): PRM kernel size.
        dilations (Sequence[int]): PRM dilations.
        groups (int): PCM groups.
        wide_pcm (bool): PCM hidden width ``2 * token_dims`` instead of
            ``embed_dims``.
        cpe (bool): Convolutional position encoding before attention.
        attention (nn.Module): Maps (B, N, PRM width) tokens and their
            ``hw_shape`` to (B, N, token_dims).
        mlp_ratio (float): MLP width ratio (1 in the official cells).
        drop_path_rate (float): Drop path of the PCM and MLP terms.
        with_cp (bool): Gradient checkpointing.
    """

    def __init__(self,
                 in_channels: int,
                 embed_dims: int,
                 token_dims: int,
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
        self.prm = PyramidReduction(in_channels, embed_dims, kernel_size,
                                    stride, dilations)
        prm_dims = self.prm.out_channels
        self.cpe = ConvPosEnc(prm_dims, 7) if cpe else None
        self.norm1 = nn.LayerNorm(prm_dims, eps=1e-5)
        self.attn = attention
        pcm_strides = (2, 2, 1) if stride == 4 else (2, 1, 1)
        hidden = 2 * token_dims if wide_pcm else embed_dims
        self.pcm = parallel_conv_branch(
            (in_channels, hidden, hidden, token_dims), pcm_strides, groups)
        self.drop_path = DropPath(drop_path_rate)
        self.norm2 = nn.LayerNorm(token_dims, eps=1e-5)
        self.ffn = FFN(
            embed_dims=token_dims,
            feedforward_channels=int(token_dims * mlp_ratio),
            act_cfg=dict(type='GELU'),
            dropout_layer=dict(type='DropPath', drop_prob=drop_path_rate),
            add_identity=True)

    def forward(self, x: Tensor) -> Tuple[Tensor, Tuple[int, int]]:
        """(B, C_in, H, W) -> tokens (B, H' * W', token_dims), (H', W')."""

        def cell(x: Tensor) -> Tuple[Tensor, Tuple[int, int]]:
            reduced = self.prm(x)
            hw_shape = tuple(reduced.shape[-2:])
            tokens = _to_tokens(reduced)
            if self.cpe is not None:
                tokens = tokens + self.cpe(tokens, hw_shape)
            out = self.attn(self.norm1(tokens), hw_shape)
            out = out + self.drop_path(_to_tokens(self.pcm(x)))
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
            conv = _to_tokens(self.pcm(_to_map(x, hw_shape)))
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
        """(B, C_in, H, W) -> tokens (B, H' * W', token_dims), (H', W')."""
        tokens, hw_shape = self.reduction(x)
        for cell in self.normals:
            tokens = cell(tokens, hw_shape)
        return tokens, hw_shape


def build_cell_attention(kind: str, in_dims: int, out_dims: int,
                         num_heads: int, window_size: int,
                         reduction: bool) -> nn.Module:
    """The attention of one ViTAEv2 cell, as the official models define it.

    Args:
        kind (str): ``'vsa'`` (:class:`VSAWindowAttention`), ``'window'``
            (non-shifted window attention without position bias) or
            ``'full'`` (global attention).
        in_dims (int): Input width (the PRM width in reduction cells).
        out_dims (int): Output width.
        num_heads (int): Attention heads.
        window_size (int): Window size of ``'vsa'`` and ``'window'``.
        reduction (bool): For a reduction cell: VSA's scale is then
            ``(in_dims // heads) ** -0.5``, and full attention has no q/k/v
            bias and adds its values to the output.

    Returns:
        nn.Module: ``attention(tokens, hw_shape)``.
    """
    if kind == 'vsa':
        return VSAWindowAttention(
            in_dims,
            num_heads,
            window_size=window_size,
            qk_scale=(in_dims // num_heads)**-0.5 if reduction else None,
            out_dims=out_dims)
    if kind == 'window':
        return MultiheadSelfAttention(
            in_dims, num_heads, out_dims, window_size=window_size)
    if kind == 'full':
        return MultiheadSelfAttention(
            in_dims,
            num_heads,
            out_dims,
            qkv_bias=not reduction,
            value_skip=reduction)
    raise ValueError(f"attention kind must be 'vsa', 'window' or 'full', "
                     f'got {kind!r}')


_COMMON = dict(
    strides=[4, 2, 2, 2],
    kernel_sizes=[7, 3, 3, 3],
    dilations=[[1, 2, 3, 4], [1, 2, 3], [1, 2], [1, 2]],
    nc_groups=[1, 32, 64, 128],
    rc_groups=[1, 16, 32, 64],
    mlp_ratio=4.)
_VSA = dict(attn_types=['vsa'] * 4, cpe=True, **_COMMON)
_BASELINE = dict(
    attn_types=['window', 'window', 'full', 'full'],
    cpe=False,
    wide_pcm=False,
    **_COMMON)


@MODELS.register_module()
class ViTAEv2(VSABackboneBase):
    """ViTAEv2, with varied-size window attention or the official attention.

    Four stages, each a reduction cell (pyramid reduction + attention +
    parallel convolutions) followed by normal cells (attention in parallel
    with grouped convolutions). The model is stem-free: stage 1's reduction
    cell works on the image. Inputs of any size work; outputs are NCHW maps
    at strides 4, 8, 16 and 32 with ``token_dims`` channels.

    Presets (``arch``), one per model of the VSA paper's tables:

    - ``'s-vsa'``, ``'48m-vsa'``, ``'b-vsa'``: ViTAEv2*-S/48M/B + VSA, with
      VSA and a convolutional position encoding in every cell, as defined
      in the official ViTAE-VSA code;
    - ``'s'``, ``'48m'``, ``'b'``: the official ViTAEv2 baselines, with
      window attention in stages 1-2 and full attention in stages 3-4;
    - ``'s-window'``: ViTAEv2*-S, with window attention in all stages.

    VSA cells use :class:`VSAWindowAttention`; the baselines use
    :class:`MultiheadSelfAttention` (PyTorch's scaled dot-product
    attention). Each cell's attention is built by
    :func:`build_cell_attention`.

    Papers: `VSA <https://arxiv.org/abs/2204.08446>`_,
    `ViTAEv2 <https://arxiv.org/abs/2202.10108>`_.

    Args:
        arch (str | dict): A preset name, or a dict with the keys of
            :attr:`arch_zoo`'s entries. Defaults to ``'s-vsa'``.
        in_channels (int): Image channels. Defaults to 3.
        window_size (int): Window size. Defaults to 7.
        drop_path_rate (float): Stochastic depth of the last normal cell;
            rates rise linearly over all normal cells. Defaults to 0.1.
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
    arch_zoo: Dict[str, dict] = {
        's-vsa': dict(
            embed_dims=[64, 64, 128, 256],
            token_dims=[64, 128, 256, 512],
            depths=[2, 2, 8, 2],
            nc_heads=[2, 4, 8, 16],
            rc_heads=[2, 2, 4, 8],
            wide_pcm=False, **_VSA),
        '48m-vsa': dict(
            embed_dims=[96, 96, 192, 384],
            token_dims=[96, 192, 384, 768],
            depths=[2, 2, 11, 2],
            nc_heads=[3, 6, 12, 24],
            rc_heads=[3, 6, 12, 24],
            wide_pcm=True, **_VSA),
        'b-vsa': dict(
            embed_dims=[128, 128, 256, 512],
            token_dims=[128, 256, 512, 1024],
            depths=[2, 2, 12, 2],
            nc_heads=[4, 8, 16, 32],
            rc_heads=[4, 8, 16, 32],
            wide_pcm=True, **_VSA),
        's': dict(
            embed_dims=[64, 64, 128, 256],
            token_dims=[64, 128, 256, 512],
            depths=[2, 2, 8, 2],
            nc_heads=[1, 2, 4, 8],
            rc_heads=[1, 1, 2, 4], **_BASELINE),
        '48m': dict(
            embed_dims=[64, 64, 192, 384],
            token_dims=[96, 192, 384, 768],
            depths=[2, 2, 11, 2],
            nc_heads=[1, 2, 4, 8],
            rc_heads=[1, 1, 2, 4], **_BASELINE),
        'b': dict(
            embed_dims=[96, 96, 256, 512],
            token_dims=[128, 256, 512, 1024],
            depths=[2, 2, 12, 2],
            nc_heads=[1, 4, 8, 16],
            rc_heads=[1, 1, 4, 8], **_BASELINE),
    }
    arch_zoo['s-window'] = dict(
        arch_zoo['s'], attn_types=['window'] * 4)
    arch_keys = frozenset(arch_zoo['s-vsa'])
    per_stage_keys = ('embed_dims', 'token_dims', 'depths', 'nc_heads',
                      'rc_heads', 'strides', 'kernel_sizes', 'dilations',
                      'nc_groups', 'rc_groups', 'attn_types')

    def __init__(self,
                 arch: Union[str, dict] = 's-vsa',
                 in_channels: int = 3,
                 window_size: int = 7,
                 drop_path_rate: float = 0.1,
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 convert_weights: bool = False,
                 init_cfg: Union[dict, List[dict], None] = None) -> None:
        super().__init__(convert_weights, init_cfg)
        self.arch_settings = self._resolve_arch(arch)
        settings = self.arch_settings
        num_stages = len(settings['depths'])
        self._set_stage_options(num_stages, out_indices, frozen_stages,
                                norm_eval)
        self.num_features = list(settings['token_dims'])

        rates = torch.linspace(0, drop_path_rate,
                               sum(settings['depths'])).tolist()
        self.stages = ModuleList()
        channels, start = in_channels, 0
        for i in range(num_stages):
            kind = settings['attn_types'][i]
            token_dims = settings['token_dims'][i]
            prm_dims = settings['embed_dims'][i] * len(
                settings['dilations'][i])
            reduction = ReductionCell(
                in_channels=channels,
                embed_dims=settings['embed_dims'][i],
                token_dims=token_dims,
                stride=settings['strides'][i],
                kernel_size=settings['kernel_sizes'][i],
                dilations=settings['dilations'][i],
                groups=settings['rc_groups'][i],
                wide_pcm=settings['wide_pcm'],
                cpe=settings['cpe'],
                attention=build_cell_attention(
                    kind, prm_dims, token_dims, settings['rc_heads'][i],
                    window_size, reduction=True),
                with_cp=with_cp)
            normals = [
                NormalCell(
                    token_dims,
                    groups=settings['nc_groups'][i],
                    cpe=settings['cpe'],
                    attention=build_cell_attention(
                        kind, token_dims, token_dims,
                        settings['nc_heads'][i], window_size,
                        reduction=False),
                    mlp_ratio=settings['mlp_ratio'],
                    drop_path_rate=rates[start + j],
                    with_cp=with_cp) for j in range(settings['depths'][i])
            ]
            self.stages.append(ViTAEv2Stage(reduction, normals))
            channels = token_dims
            start += settings['depths'][i]
        self._freeze_stages()

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Extract multi-scale features.

        Args:
            x (Tensor): Images of shape (B, in_channels, H, W).

        Returns:
            tuple[Tensor]: For each of ``out_indices``, a map of shape
            (B, token_dims[i], ceil(H / 4 / 2**i), ceil(W / 4 / 2**i)).
        """
        outs = []
        for index, stage in enumerate(self.stages):
            tokens, hw_shape = stage(x)
            x = _to_map(tokens, hw_shape)
            if index in self.out_indices:
                outs.append(x.contiguous())
        return tuple(outs)

    def _frozen_modules(self) -> List[nn.Module]:
        return list(self.stages[:max(self.frozen_stages, 0)])

"""Swin Transformer with varied-size window attention (Swin + VSA)."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmcv.cnn import build_norm_layer
from mmcv.cnn.bricks.drop import DropPath
from mmcv.cnn.bricks.transformer import PatchEmbed, PatchMerging
from mmengine.model import BaseModule, ModuleList
from torch import Tensor

from vsa_mm.registry import MODELS
from ..layers import (FFN, ConvPosEnc, VSAWindowAttention,
                      make_patch_bricks_symbolic)
from ..utils import convert_swin
from .base import (AttnCfg, VSABackboneBase, attention_arguments, checkpointed,
                   stage_attn_cfgs)


class SwinVSABlock(BaseModule):
    """One Swin + VSA block.

    ``x = x + CPE(x)``; ``x = x + DropPath(VSA(LN(x)))``;
    ``x = x + DropPath(MLP(LN(x)))``. There is no cyclic shift: the varied-size
    windows replace it.

    Args:
        embed_dims (int): Channels C.
        num_heads (int): Attention heads.
        window_size (int): Window side. Defaults to 7.
        mlp_ratio (float): MLP hidden width over C. Defaults to 4.
        qkv_bias (bool): Bias in the q, k, v projection. Defaults to True.
        qk_scale (float, optional): Attention scale override.
            Defaults to None.
        drop_rate (float): Dropout after the attention and MLP projections.
            Defaults to 0.
        attn_drop_rate (float): Attention-weight dropout. Defaults to 0.
        drop_path_rate (float): Stochastic depth rate. Defaults to 0.
        act_cfg (dict): MLP activation. Defaults to ``dict(type='GELU')``.
        norm_cfg (dict): Norm layers. Defaults to ``dict(type='LN')``.
        with_cp (bool): Gradient checkpointing. Defaults to False.
        attn_cfg (dict, optional): More arguments of the
            :class:`VSAWindowAttention`, for example
            ``dict(backend='triton')``; they override the ones above.
            Defaults to None.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 window_size: int = 7,
                 mlp_ratio: float = 4.,
                 qkv_bias: bool = True,
                 qk_scale: Optional[float] = None,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 act_cfg: dict = dict(type='GELU'),
                 norm_cfg: dict = dict(type='LN'),
                 with_cp: bool = False,
                 attn_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.with_cp = with_cp
        self.cpe = ConvPosEnc(embed_dims, kernel_size=window_size // 2 * 2 + 1)
        self.norm1 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.attn = VSAWindowAttention(
            embed_dims, num_heads,
            **attention_arguments(
                attn_cfg,
                window_size=window_size,
                qkv_bias=qkv_bias,
                qk_scale=qk_scale,
                attn_drop=attn_drop_rate,
                proj_drop=drop_rate))
        self.drop_path = DropPath(drop_path_rate)
        self.norm2 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.ffn = FFN(
            embed_dims=embed_dims,
            feedforward_channels=int(embed_dims * mlp_ratio),
            num_fcs=2,
            ffn_drop=drop_rate,
            dropout_layer=dict(type='DropPath', drop_prob=drop_path_rate),
            act_cfg=act_cfg,
            add_identity=True)

    def forward(self, x: Tensor, hw_shape: Tuple[int, int]) -> Tensor:
        """Apply the block.

        Args:
            x (Tensor): Tokens of shape (B, H * W, C).
            hw_shape (tuple[int, int]): (H, W).

        Returns:
            Tensor: Shape (B, H * W, C).
        """

        def block(x: Tensor) -> Tensor:
            x = x + self.cpe(x, hw_shape)
            x = x + self.drop_path(self.attn(self.norm1(x), hw_shape))
            return self.ffn(self.norm2(x), identity=x)

        return checkpointed(block, x, self.with_cp)


class SwinVSAStage(BaseModule):
    """Blocks of one stage, then an optional 2x2 patch merging.

    Args:
        embed_dims (int): Channels of the stage.
        depth (int): Number of blocks.
        num_heads (int): Attention heads.
        drop_paths (Sequence[float]): Stochastic depth rate of each block.
        downsample (bool): Merge 2x2 patches (C -> 2C) after the blocks.
        norm_cfg (dict): Norm layers. Defaults to ``dict(type='LN')``.
        **block_kwargs: Passed to every :class:`SwinVSABlock`.
    """

    def __init__(self,
                 embed_dims: int,
                 depth: int,
                 num_heads: int,
                 drop_paths: Sequence[float],
                 downsample: bool,
                 norm_cfg: dict = dict(type='LN'),
                 **block_kwargs) -> None:
        super().__init__()
        if len(drop_paths) != depth:
            raise ValueError(f'drop_paths has {len(drop_paths)} rates for '
                             f'{depth} blocks')
        self.blocks = ModuleList([
            SwinVSABlock(
                embed_dims,
                num_heads,
                drop_path_rate=rate,
                norm_cfg=norm_cfg,
                **block_kwargs) for rate in drop_paths
        ])
        self.downsample = PatchMerging(
            embed_dims, 2 *
            embed_dims, norm_cfg=norm_cfg) if downsample else None
        self.out_channels = 2 * embed_dims if downsample else embed_dims

    def forward(
        self, x: Tensor, hw_shape: Tuple[int, int]
    ) -> Tuple[Tensor, Tuple[int, int], Tensor, Tuple[int, int]]:
        """Apply the blocks, then the patch merging if there is one.

        Args:
            x (Tensor): Tokens of shape (B, H * W, C).
            hw_shape (tuple[int, int]): (H, W).

        Returns:
            tuple: ``(x_down, down_hw_shape, x, hw_shape)`` as mmdet's Swin
            stages return them: the merged tokens (B, H/2 * W/2, 2C) and
            their size (the blocks' output and size without a merging),
            then the blocks' output (B, H * W, C) and (H, W).
        """
        for block in self.blocks:
            x = block(x, hw_shape)
        if self.downsample is None:
            return x, hw_shape, x, hw_shape
        x_down, down_hw_shape = self.downsample(x, hw_shape)
        return x_down, down_hw_shape, x, hw_shape


@MODELS.register_module()
class SwinTransformerVSA(VSABackboneBase):
    """Swin Transformer with varied-size window attention.

    Every block adds a depthwise convolutional position encoding and uses
    :class:`VSAWindowAttention` without cyclic shift (the authors' Swin + VSA,
    ``QFormer/models/swin/swin_transformer_vsa.py``). Inputs of any size
    work: each attention pads its map to a window multiple, including maps
    smaller than a window, and crops back. Outputs are NCHW maps at strides
    4, 8, 16 and 32 (for ``out_indices`` 0-3), each after its own norm.

    Paper: `VSA: Learning Varied-Size Window Attention in Vision Transformers
    <https://arxiv.org/abs/2204.08446>`_.

    Args:
        arch (str | dict): ``'tiny'``/``'t'``, ``'small'``/``'s'``,
            ``'base'``/``'b'``, or a dict with ``embed_dims``, ``depths`` and
            ``num_heads``. Defaults to ``'tiny'``.
        in_channels (int): Input channels. Defaults to 3.
        patch_size (int): Patch embedding stride. Defaults to 4.
        window_size (int): Attention window side. Defaults to 7.
        mlp_ratio (float): MLP hidden width ratio. Defaults to 4.
        qkv_bias (bool): Bias in q, k, v. Defaults to True.
        qk_scale (float, optional): Attention scale override.
            Defaults to None.
        drop_rate (float): Dropout rate. Defaults to 0.
        attn_drop_rate (float): Attention dropout rate. Defaults to 0.
        drop_path_rate (float): Stochastic depth rate of the last block; the
            rates rise linearly over all blocks. Defaults to 0.1.
        out_indices (Sequence[int]): Stages whose outputs are returned.
            Defaults to (0, 1, 2, 3).
        frozen_stages (int): -1 freezes nothing, 0 the patch embedding, i > 0
            also stages 0..i-1 and their output norms (no gradients, eval
            mode). Defaults to -1.
        norm_eval (bool): Keep BatchNorm layers in eval mode during training
            (for heads that add them). Defaults to False.
        with_cp (bool): Gradient checkpointing of every block.
            Defaults to False.
        attn_cfg (dict | Sequence[dict | None], optional): More arguments
            of every :class:`VSAWindowAttention`, for example
            ``dict(backend='reference')``; they override the ones above. One
            dict for all stages, or one entry per stage. Defaults to None
            (the layer's defaults).
        act_cfg (dict): MLP activation. Defaults to ``dict(type='GELU')``.
        norm_cfg (dict): Norm layers. Defaults to ``dict(type='LN')``.
        convert_weights (bool): ``init_cfg``'s ``Pretrained`` checkpoint is
            an official one (Microsoft Swin, or the authors' Swin + VSA from
            the QFormer repository): convert its keys while loading. Weights
            a plain Swin lacks (position encodings, regression heads) keep
            their initialisation and are logged. Defaults to False.
        init_cfg (dict | list[dict], optional): Initialisation; truncated
            normal Linear layers (std 0.02) and unit LayerNorms when None.
            ``dict(type='Pretrained', checkpoint=..., prefix=...)`` loads
            weights. Defaults to None.

    Examples:
        >>> import torch
        >>> from vsa_mm.models import SwinTransformerVSA
        >>> model = SwinTransformerVSA(arch='tiny')
        >>> outs = model(torch.rand(1, 3, 112, 137))
        >>> [tuple(out.shape) for out in outs]
        [(1, 96, 28, 35), (1, 192, 14, 18), (1, 384, 7, 9), (1, 768, 4, 5)]
    """

    official_converter = staticmethod(convert_swin)
    arch_keys = frozenset({'embed_dims', 'depths', 'num_heads'})
    per_stage_keys = ('depths', 'num_heads')
    arch_zoo: Dict[str, dict] = {
        **dict.fromkeys(['t', 'tiny'], {
                            'embed_dims': 96,
                            'depths': [2, 2, 6, 2],
                            'num_heads': [3, 6, 12, 24]
                        }),
        **dict.fromkeys(['s', 'small'], {
                            'embed_dims': 96,
                            'depths': [2, 2, 18, 2],
                            'num_heads': [3, 6, 12, 24]
                        }),
        **dict.fromkeys(
            ['b', 'base'], {
                'embed_dims': 128,
                'depths': [2, 2, 18, 2],
                'num_heads': [4, 8, 16, 32]
            }),
    }

    def __init__(self,
                 arch: Union[str, dict] = 'tiny',
                 in_channels: int = 3,
                 patch_size: int = 4,
                 window_size: int = 7,
                 mlp_ratio: float = 4.,
                 qkv_bias: bool = True,
                 qk_scale: Optional[float] = None,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.1,
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 attn_cfg: AttnCfg = None,
                 act_cfg: dict = dict(type='GELU'),
                 norm_cfg: dict = dict(type='LN'),
                 convert_weights: bool = False,
                 init_cfg: Union[dict, List[dict], None] = None) -> None:
        super().__init__(convert_weights, init_cfg)
        self.arch_settings = self._resolve_arch(arch)
        depths = self.arch_settings['depths']
        num_heads = self.arch_settings['num_heads']
        embed_dims = self.arch_settings['embed_dims']
        num_stages = len(depths)
        self._set_stage_options(num_stages, out_indices, frozen_stages,
                                norm_eval)

        self.patch_embed = PatchEmbed(
            in_channels=in_channels,
            embed_dims=embed_dims,
            conv_type='Conv2d',
            kernel_size=patch_size,
            stride=patch_size,
            norm_cfg=norm_cfg)
        self.drop_after_pos = nn.Dropout(p=drop_rate)

        rates = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        attn_cfgs = stage_attn_cfgs(attn_cfg, num_stages)
        self.stages = ModuleList()
        self.num_features: List[int] = []
        start = 0
        for index, (depth,
                    heads) in enumerate(zip(depths, num_heads, strict=True)):
            stage = SwinVSAStage(
                embed_dims=embed_dims,
                depth=depth,
                num_heads=heads,
                drop_paths=rates[start:start + depth],
                downsample=index < num_stages - 1,
                norm_cfg=norm_cfg,
                window_size=window_size,
                mlp_ratio=mlp_ratio,
                qkv_bias=qkv_bias,
                qk_scale=qk_scale,
                drop_rate=drop_rate,
                attn_drop_rate=attn_drop_rate,
                act_cfg=act_cfg,
                with_cp=with_cp,
                attn_cfg=attn_cfgs[index])
            self.stages.append(stage)
            self.num_features.append(embed_dims)
            start += depth
            embed_dims = stage.out_channels
        for index in self.out_indices:
            self.add_module(
                f'norm{index}',
                build_norm_layer(norm_cfg, self.num_features[index])[1])
        # Patch embedding and merging pad without pinning symbolic sizes.
        make_patch_bricks_symbolic(self)
        self._freeze_stages()

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Extract multi-scale features.

        Args:
            x (Tensor): Images of shape (B, in_channels, H, W), any H and W.

        Returns:
            tuple[Tensor]: For each of ``out_indices``, a map of shape
            (B, C_i, ceil(H / 4 / 2**i), ceil(W / 4 / 2**i)).
        """
        x, hw_shape = self.patch_embed(x)
        x = self.drop_after_pos(x)
        outs = []
        for index, stage in enumerate(self.stages):
            x, hw_shape, out, out_hw_shape = stage(x, hw_shape)
            if index in self.out_indices:
                out = getattr(self, f'norm{index}')(out)
                outs.append(
                    out.view(-1, *out_hw_shape,
                             out.shape[-1]).permute(0, 3, 1, 2).contiguous())
        return tuple(outs)

    def _frozen_modules(self) -> List[nn.Module]:
        if self.frozen_stages < 0:
            return []
        modules: List[nn.Module] = [self.patch_embed]
        for index in range(self.frozen_stages):
            modules.append(self.stages[index])
            if index in self.out_indices:
                modules.append(getattr(self, f'norm{index}'))
        return modules

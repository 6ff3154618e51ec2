"""Varied-size window attention (VSA, Zhang et al., ECCV 2022)."""
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_
from torch import Tensor

from vsa_mm.compat import compile_unsupported, compiling_unsupported
from vsa_mm.registry import MODELS
from ..utils.init_cfg import pretrained_entry
from .backends import check_backend
from .varied_window_attention import varied_window_attention
from .window_geometry import (own_buffer, pad_to_window_multiple, padded_hw,
                              relative_position_index, sampling_grid)


def _check_positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f'{name} must be an int, got {value!r} '
                        f'({type(value).__name__})')
    if value < 1:
        raise ValueError(f'{name} must be >= 1, got {value}')
    return value


def _is_int(value: object) -> bool:
    """An int, a symbolic int (``torch.compile``/``torch.export`` with
    dynamic shapes) or a 0-dim integer tensor (how ``torch.jit.trace``, used
    by ``mmengine.analysis``, passes sizes)."""
    if isinstance(value, Tensor):
        return value.dim() == 0 and not value.is_floating_point()
    return isinstance(value, (int, torch.SymInt)) and \
        not isinstance(value, bool)


def _as_size(
    value: Union[int, torch.SymInt,
                 Tensor]) -> Union[int, torch.SymInt, Tensor]:
    """A size as an int, keeping symbolic sizes symbolic: symbolic ints, and
    the 0-dim tensors of sizes that ``torch.jit.trace`` records (an ``int()``
    of one would freeze the traced graph, and so an ONNX export, to the
    example's size)."""
    if isinstance(value, torch.SymInt) or (isinstance(value, Tensor)
                                           and torch.jit.is_tracing()):
        return value
    return int(value)


class WindowRegressionHead(nn.Module):
    """Regresses one (x, y) pair per head for every window.

    LeakyReLU, then a linear projection of the window-pooled features to
    ``2 * num_heads`` channels: channel ``2h`` is head h's x value, ``2h + 1``
    its y value (the layout of the official VSA checkpoints). The projection
    starts at zero, so a new layer samples exactly the default windows.

    Args:
        in_dims (int): Channels C of the pooled features.
        num_heads (int): Number of heads.
    """

    def __init__(self, in_dims: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.act = nn.LeakyReLU()
        self.proj = nn.Linear(in_dims, 2 * num_heads)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Zero the projection: no offset, no scaling."""
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, pooled: Tensor) -> Tensor:
        """Regress (x, y) per window and head.

        Args:
            pooled (Tensor): Window-averaged features, shape (B, nh, nw, C).

        Returns:
            Tensor: Shape (B, nh * nw, heads, 2), last axis (x, y).
        """
        out = self.proj(self.act(pooled))
        batch, rows, cols = out.shape[:3]
        # Explicit sizes: a -1 would make symbolic sizes harder to compare.
        # A buffer of its own while tracing: the attention saves it for
        # backward, and inductor could not order a view's symbolic strides.
        return own_buffer(out.view(batch, rows * cols, self.num_heads, 2))


def move_windows(model: nn.Module,
                 seed: int = 0,
                 weight_std: float = 0.05,
                 bias_std: float = 0.1) -> nn.Module:
    """Give every :class:`WindowRegressionHead` in ``model`` random weights,
    in place, so that its windows move and stretch as in a trained model (a
    new layer samples the default windows); for checks and benchmarks.

    Args:
        model (nn.Module): A layer or a model containing VSA layers.
        seed (int): Seed of the draws. Defaults to 0.
        weight_std (float): Standard deviation of the projection weights.
            Defaults to 0.05.
        bias_std (float): Standard deviation of the projection biases.
            Defaults to 0.1.

    Returns:
        nn.Module: ``model``.
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for head in model.modules():
            if isinstance(head, WindowRegressionHead):
                head.proj.weight.normal_(0, weight_std, generator=generator)
                head.proj.bias.normal_(0, bias_std, generator=generator)
    return model


@MODELS.register_module()
class VSAWindowAttention(BaseModule):
    """Varied-size window attention.

    Queries come from the default non-overlapping ``ws x ws`` windows. For
    every window and head, the window's average feature regresses an offset
    and a scale that move and stretch the window; keys and values are sampled
    bilinearly at the ``ws x ws`` positions of that varied-size window. The
    attention uses Swin's relative position bias. With the regression at
    zero (its initial state), VSA equals non-shifted window attention.

    Paper: `VSA: Learning Varied-Size Window Attention in Vision Transformers
    <https://arxiv.org/abs/2204.08446>`_.

    The layer accepts any map size: the map is padded at the bottom and right
    to a window multiple (padded keys and values are zero) and the output is
    cropped back. Sampling grids are computed in float32 (float64 for float64
    inputs), also under autocast. In eager mode the default window grid of
    each padded size is kept (per device and dtype) for later calls; while a
    tracer records, nothing is kept and map sizes may be symbolic, so the
    layer compiles (``torch.compile``) and exports (``torch.export``, ONNX)
    with dynamic height and width.

    The module holds the parameters and regresses the windows;
    :func:`~vsa_mm.models.layers.varied_window_attention.varied_window_attention`
    computes the attention with one of the backends of
    :mod:`vsa_mm.models.layers.backends`, which all compute the same
    function (``backend``): ``'reference'`` samples keys and values with
    ``F.grid_sample``; ``'gather'`` samples them together with an exact
    bilinear row gather and recomputes them in backward instead of storing
    them; ``'triton'`` fuses sampling, attention, window reverse and crop
    into one Triton kernel each way (CUDA, opt-in); ``'auto'`` picks
    ``'gather'`` on the CPU and ``'reference'`` on CUDA (the rule and its
    exceptions: :mod:`vsa_mm.models.layers.backends`).

    The parameters shared with window attention have the names and shapes of
    mmpretrain's ``WindowMSA`` (``qkv``, ``proj``,
    ``relative_position_bias_table``), so a ``WindowMSA`` state dict loads
    with only the regression heads missing. The derived
    ``relative_position_index`` is a non-persistent buffer; a checkpoint that
    carries one loads without it.

    Args:
        embed_dims (int): Input channels C.
        num_heads (int): Number of attention heads.
        window_size (int): Window side ws. Defaults to 7.
        qkv_bias (bool): Add a learnable bias to q, k, v. Defaults to True.
        qk_scale (float, optional): Attention scale; ``head_dims ** -0.5``
            when None (``head_dims = out_dims // num_heads``).
            Defaults to None.
        attn_drop (float): Dropout rate of the attention weights.
            Defaults to 0.
        proj_drop (float): Dropout rate of the output. Defaults to 0.
        out_dims (int, optional): Output channels (and width of q, k, v);
            ``embed_dims`` when None. Defaults to None.
        init_cfg (dict | list[dict], optional): Initialisation config.
            Defaults to None.
        scale_by_input_dims (bool): Make the default scale
            ``(embed_dims // num_heads) ** -0.5``, from the input width, as
            the official ViTAE-VSA reduction cells compute it (their input
            and output widths differ). Not with ``qk_scale``.
            Defaults to False.
        backend (str): ``'auto'``, ``'reference'``, ``'gather'`` or
            ``'triton'`` (above). Defaults to ``'auto'``.

    Examples:
        >>> import torch
        >>> from vsa_mm.models import VSAWindowAttention
        >>> attn = VSAWindowAttention(embed_dims=96, num_heads=3)
        >>> x = torch.rand(2, 13 * 17, 96)
        >>> attn(x, hw_shape=(13, 17)).shape
        torch.Size([2, 221, 96])
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 window_size: int = 7,
                 qkv_bias: bool = True,
                 qk_scale: Optional[float] = None,
                 attn_drop: float = 0.,
                 proj_drop: float = 0.,
                 out_dims: Optional[int] = None,
                 init_cfg: Union[dict, list, None] = None,
                 scale_by_input_dims: bool = False,
                 backend: str = 'auto') -> None:
        super().__init__(init_cfg=init_cfg)
        self.embed_dims = _check_positive_int('embed_dims', embed_dims)
        self.num_heads = _check_positive_int('num_heads', num_heads)
        self.window_size = _check_positive_int('window_size', window_size)
        self.out_dims = embed_dims if out_dims is None else \
            _check_positive_int('out_dims', out_dims)
        if self.out_dims % num_heads:
            name = 'embed_dims' if out_dims is None else 'out_dims'
            raise ValueError(f'{name} ({self.out_dims}) must be divisible by '
                             f'num_heads ({num_heads})')
        if qk_scale is not None and not qk_scale > 0:
            raise ValueError(f'qk_scale must be positive, got {qk_scale!r}')
        if not isinstance(scale_by_input_dims, bool):
            raise TypeError('scale_by_input_dims must be a bool, got '
                            f'{scale_by_input_dims!r}')
        if scale_by_input_dims and qk_scale is not None:
            raise ValueError('give qk_scale or scale_by_input_dims=True, not '
                             f'both (qk_scale={qk_scale!r})')
        self.head_dims = self.out_dims // num_heads
        if qk_scale is not None:
            self.scale = qk_scale
        elif scale_by_input_dims:
            self.scale = (embed_dims // num_heads)**-0.5
        else:
            self.scale = self.head_dims**-0.5
        self.backend = check_backend(backend)

        self.qkv = nn.Linear(embed_dims, 3 * self.out_dims, bias=qkv_bias)
        self.proj = nn.Linear(self.out_dims, self.out_dims)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj_drop = nn.Dropout(proj_drop)
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * window_size - 1)**2, num_heads))
        self.register_buffer(
            'relative_position_index',
            relative_position_index(window_size),
            persistent=False)
        self.sampling_offsets = WindowRegressionHead(embed_dims, num_heads)
        self.sampling_scales = WindowRegressionHead(embed_dims, num_heads)

    def init_weights(self) -> None:
        """Truncated-normal relative position bias, zero regression heads.

        Applied after ``init_cfg`` (unless it loads a pretrained checkpoint),
        so a generic ``init_cfg`` on Linear layers never leaves the windows
        moving at the start of training.
        """
        first_call = not self.is_init
        super().init_weights()  # on a second call, only mmengine's warning
        if first_call and pretrained_entry(self.init_cfg) is None:
            trunc_normal_(self.relative_position_bias_table, std=.02)
            self.sampling_offsets.reset_parameters()
            self.sampling_scales.reset_parameters()

    def _load_from_state_dict(self, state_dict: Dict[str, Tensor], prefix: str,
                              *args, **kwargs) -> None:
        # The index is derived from the window size; older checkpoints
        # (mmpretrain's WindowMSA, the official VSA code) store it.
        state_dict.pop(prefix + 'relative_position_index', None)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        return (f'embed_dims={self.embed_dims}, out_dims={self.out_dims}, '
                f'num_heads={self.num_heads}, '
                f'window_size={self.window_size}, scale={self.scale:.4g}, '
                f'backend={self.backend!r}')

    def forward(self, x: Tensor, hw_shape: Sequence[int]) -> Tensor:
        """Attend within varied-size windows.

        Args:
            x (Tensor): Tokens of shape (B, H * W, embed_dims), row-major.
            hw_shape (Sequence[int]): (H, W).

        Returns:
            Tensor: Tokens of shape (B, H * W, out_dims).
        """
        if compiling_unsupported():
            raise compile_unsupported('a VSA layer')
        height, width = self._check_input(x, hw_shape)
        x_map = x.reshape(x.shape[0], height, width, self.embed_dims)
        offsets, scales = self._regress_windows(x_map)
        out = varied_window_attention(
            x_map,
            offsets,
            scales,
            self.qkv.weight,
            self.qkv.bias,
            self.relative_position_bias_table,
            self.relative_position_index,
            self.scale,
            self.window_size,
            self.num_heads,
            attn_drop=self.attn_drop.p,
            training=self.training,
            backend=self.backend)
        return self.proj_drop(self.proj(out))

    def _check_input(self, x: Tensor,
                     hw_shape: Sequence[int]) -> Tuple[int, int]:
        if not isinstance(x, Tensor):
            raise TypeError(f'x must be a Tensor, got {type(x).__name__}')
        if not x.is_floating_point():
            raise TypeError(
                f'x must be a floating-point tensor, got {x.dtype}')
        if x.dim() != 3 or x.shape[-1] != self.embed_dims:
            raise ValueError(
                f'x must have shape (B, H*W, {self.embed_dims}), got '
                f'{tuple(x.shape)}')
        if (not isinstance(hw_shape, Sequence) or len(hw_shape) != 2
                or not all(_is_int(v) for v in hw_shape)):
            raise TypeError(
                f'hw_shape must be a pair of ints (H, W), got {hw_shape!r}')
        height, width = (_as_size(v) for v in hw_shape)
        if isinstance(height * width, Tensor):
            # Sizes recorded by torch.jit.trace: checking their values
            # would freeze them into the trace.
            return height, width
        if isinstance(height * width * x.shape[1], torch.SymInt):
            # Symbolic sizes: a guard, not a Python branch on them.
            torch._check(height * width == x.shape[1])
        elif height < 1 or width < 1 or height * width != x.shape[1]:
            raise ValueError(
                f'hw_shape {(height, width)} does not match x with '
                f'{x.shape[1]} tokens (H * W must equal L)')
        return height, width

    def sampling_grid(self, x: Tensor, hw_shape: Sequence[int]) -> Tensor:
        """Where every head of every window samples its keys and values.

        Args:
            x (Tensor): Tokens of shape (B, H * W, embed_dims).
            hw_shape (Sequence[int]): (H, W).

        Returns:
            Tensor: Positions of shape (B, nW, heads, ws * ws, 2), (x, y) in
            ``grid_sample``'s normalised coordinates (``align_corners=True``)
            over the map padded to (Hp, Wp); windows and tokens row-major.
            float32 (float64 for float64 inputs).
        """
        height, width = self._check_input(x, hw_shape)
        offsets, scales = self._regress_windows(
            x.reshape(x.shape[0], height, width, self.embed_dims))
        return sampling_grid(offsets, scales,
                             padded_hw(height, width, self.window_size),
                             self.window_size)

    def _regress_windows(self, x_map: Tensor) -> Tuple[Tensor, Tensor]:
        """Offsets and scales of shape (B, nW, heads, 2) for a (B, H, W, C)
        map, float32 (float64 for float64 inputs), also under autocast."""
        ws = self.window_size
        x_pad = pad_to_window_multiple(x_map, ws)
        windows_h = x_pad.shape[1] // ws
        windows_w = x_pad.shape[2] // ws
        pooled = x_pad.view(x_pad.shape[0], windows_h, ws, windows_w, ws,
                            self.embed_dims).mean(dim=(2, 4))
        dtype = torch.promote_types(pooled.dtype, torch.float32)
        return (self.sampling_offsets(pooled).to(dtype),
                self.sampling_scales(pooled).to(dtype))

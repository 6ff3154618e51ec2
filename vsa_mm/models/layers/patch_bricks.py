"""mmcv's patch embedding and merging bricks for sizes that may be symbolic."""
from typing import Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn.bricks.transformer import AdaptivePadding, PatchMerging
from torch import Tensor

from .window_geometry import is_tracing, size_max

Size = Union[int, torch.SymInt]


def cover_padding(size: Size,
                  extent: int,
                  stride: int,
                  before: int = 0) -> Size:
    """Padding after ``size`` for windows of ``extent`` at ``stride`` to
    cover it, ``before`` being padded already:
    ``max((ceil(size / stride) - 1) * stride + extent - size - before, 0)``.

    Written for symbolic sizes: ``ceil(size / stride) * stride - size`` pads
    to a stride multiple (so the padded size, ``size + pad``, simplifies to
    one ceiling division instead of repeating ``size``), and the rest is a
    constant, so the clamp at zero is needed (:func:`size_max`) only when
    that constant is negative.
    """
    excess = extent - stride - before
    pad = (size + stride - 1) // stride * stride - size + excess
    if excess >= 0:
        return pad
    return size_max(pad, 0)


class SymbolicAdaptivePadding(AdaptivePadding):
    """``AdaptivePadding`` that pads without branching on the input size.

    mmcv's version computes the padding with ``math.ceil`` and Python's
    ``max`` and skips padding when it is zero. With the symbolic sizes of
    ``torch.compile(dynamic=True)`` or ``torch.export`` those become guards
    that pin the input size to the example's (a multiple of the patch size).
    Here the padding is integer arithmetic with ``torch.sym_max``, and while
    a tracer records (:func:`~vsa_mm.models.layers.window_geometry.is_tracing`)
    the input is always padded, possibly by zero. Eager calls behave
    exactly as in mmcv. The arguments are ``AdaptivePadding``'s.
    """

    def get_pad_shape(self, input_shape: Tuple[Size,
                                               Size]) -> Tuple[Size, Size]:
        """Bottom+top and right+left padding of an (H, W) input."""
        return tuple(
            cover_padding(size, (kernel - 1) * dilation + 1, stride)
            for size, kernel, stride, dilation in zip(
                input_shape,
                self.kernel_size,
                self.stride,
                self.dilation,
                strict=True))

    def forward(self, x: Tensor) -> Tensor:
        """Pad a (B, C, H, W) map."""
        pad_h, pad_w = self.get_pad_shape(x.shape[-2:])
        if not is_tracing() and not (pad_h or pad_w):
            return x
        if self.padding == 'corner':
            return F.pad(x, [0, pad_w, 0, pad_h])
        return F.pad(
            x,
            [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])


class PatchSampler(nn.Module):
    """Non-overlapping ``k x k`` patches as channels, by reshaping.

    Equals ``nn.Unfold(kernel_size=k, stride=k)`` (output channel
    ``c * k * k + i * k + j`` holds pixel ``(i, j)`` of channel ``c``'s
    patch) on maps whose sides are multiples of ``k``, as mmcv's
    ``PatchMerging`` hands them over after its adaptive padding. Unfold
    gathers through index tensors, which inductor cannot lay out when the
    map's size is symbolic; a reshape has no index tensors.

    It keeps ``nn.Unfold``'s ``kernel_size``, ``stride``, ``dilation`` and
    ``padding`` attributes, which ``PatchMerging.forward`` reads.

    Args:
        kernel_size (int): Patch side k.
    """

    def __init__(self, kernel_size: int) -> None:
        super().__init__()
        self.kernel_size = self.stride = (kernel_size, kernel_size)
        self.dilation = (1, 1)
        self.padding = (0, 0)

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, C * k * k, H / k * W / k)."""
        batch, channels, height, width = x.shape
        k = self.kernel_size[0]
        x = x.view(batch, channels, height // k, k, width // k, k)
        return x.permute(0, 1, 3, 5, 2,
                         4).reshape(batch, channels * k * k,
                                    (height // k) * (width // k))


def _is_plain_patch_unfold(merging: PatchMerging) -> bool:
    sampler = merging.sampler
    kernel, stride = sampler.kernel_size, sampler.stride
    return (merging.adaptive_padding is not None and kernel == stride
            and kernel[0] == kernel[1] and sampler.dilation == (1, 1)
            and sampler.padding == (0, 0))


def make_patch_bricks_symbolic(module: nn.Module) -> nn.Module:
    """Prepare mmcv's patch bricks in ``module`` for symbolic sizes.

    Swaps every mmcv ``AdaptivePadding`` for :class:`SymbolicAdaptivePadding`
    with the same settings, and the ``nn.Unfold`` of every ``PatchMerging``
    whose patches do not overlap for the equal :class:`PatchSampler`.
    Neither has parameters or buffers, so state dicts are unchanged.

    Args:
        module (nn.Module): Typically a backbone built from mmcv's
            ``PatchEmbed`` and ``PatchMerging``.

    Returns:
        nn.Module: ``module``, changed in place.
    """
    for parent in module.modules():
        for name, child in list(parent.named_children()):
            if type(child) is AdaptivePadding:
                replacement = SymbolicAdaptivePadding(
                    kernel_size=child.kernel_size,
                    stride=child.stride,
                    dilation=child.dilation,
                    padding=child.padding)
                setattr(parent, name, replacement)
        if isinstance(parent, PatchMerging) and isinstance(
                parent.sampler, nn.Unfold) and _is_plain_patch_unfold(parent):
            parent.sampler = PatchSampler(parent.sampler.kernel_size[0])
    return module

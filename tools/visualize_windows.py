"""Draw the windows a VSA layer samples, on a real photograph.

The photo ships with scikit-image (``skimage.data``), so nothing is
downloaded. The image is cut into 4x4 patches (a stride-4 map, like a
backbone's first stage); a ``VSAWindowAttention`` layer sees the patches and
regresses, per window and head, where its keys and values come from. Each
window's sampled area is drawn as a rectangle, one colour per head, over the
default 7x7-patch windows (grey).

Without ``--checkpoint`` the layer's regression heads get seeded random
weights, which shows the mechanism (windows move and stretch with the image
content) but not learned behaviour. With ``--checkpoint`` (a state dict or an
MMEngine checkpoint) and ``--prefix`` naming one VSA layer, the learned
windows of that layer are drawn.

Example::

    .venv/bin/python tools/visualize_windows.py --out outputs/vsa_windows.png
"""
import argparse
import os
import os.path as osp
from typing import Optional

import matplotlib
import numpy as np
import torch
import torch.nn.functional as F
from mmengine.logging import MMLogger
from mmengine.runner import load_state_dict
from mmengine.runner.checkpoint import _load_checkpoint

from vsa_mm.models import VSAWindowAttention

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

PATCH = 4
PHOTOS = ('astronaut', 'coffee', 'chelsea', 'rocket')


def load_photo(name: str, size: int) -> np.ndarray:
    """An RGB photo from ``skimage.data``, resized to ``size x size``."""
    from skimage import data
    if name not in PHOTOS:
        raise ValueError(f'photo must be one of {PHOTOS}, got {name!r}')
    image = torch.from_numpy(getattr(data, name)()).permute(2, 0, 1).float()
    image = F.interpolate(
        image[None], size=(size, size), mode='bilinear', align_corners=False)
    return image[0].permute(1, 2, 0).clamp(0, 255).numpy() / 255.


def patch_tokens(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) image -> (1, H/4 * W/4, 48) normalised patch tokens."""
    pixels = torch.from_numpy(image).float()
    height, width = pixels.shape[:2]
    patches = pixels.view(height // PATCH, PATCH, width // PATCH, PATCH, 3)
    patches = patches.permute(0, 2, 1, 3, 4).reshape(1, -1, PATCH * PATCH * 3)
    return (patches - patches.mean()) / patches.std()


def build_layer(checkpoint: Optional[str], prefix: str,
                seed: int) -> VSAWindowAttention:
    layer = VSAWindowAttention(PATCH * PATCH * 3, num_heads=3, window_size=7)
    if checkpoint:
        state = _load_checkpoint(checkpoint, map_location='cpu')
        state = state.get('state_dict', state)
        state = {
            key[len(prefix):]: value
            for key, value in state.items() if key.startswith(prefix)
        }
        load_state_dict(layer, state, strict=True)
        return layer
    generator = torch.Generator().manual_seed(seed)
    heads_and_stds = ((layer.sampling_offsets, 0.6),
                      (layer.sampling_scales, 0.4))
    for head, std in heads_and_stds:
        weight = head.proj.weight
        with torch.no_grad():
            weight.copy_(
                torch.randn(weight.shape, generator=generator) * std /
                weight.shape[1]**0.5)
    return layer


def draw(image: np.ndarray, grid: torch.Tensor, window_size: int,
         out_file: str, title: str) -> None:
    """Draw default windows and each head's sampled window extents."""
    height, width = image.shape[:2]
    map_h, map_w = height // PATCH, width // PATCH
    # normalised (x, y) -> image pixels (centres of the stride-4 patches)
    pixels = (grid[0] + 1) / 2 * grid.new_tensor([map_w - 1, map_h - 1])
    pixels = (pixels + 0.5) * PATCH
    colours = ('tab:red', 'tab:cyan', 'tab:olive')
    num_heads = pixels.shape[1]
    fig, axes = plt.subplots(1, num_heads, figsize=(5 * num_heads, 5.4))
    for head, axis in enumerate(np.atleast_1d(axes)):
        axis.imshow(image, extent=(0, width, height, 0))
        step = window_size * PATCH
        for y in range(0, height, step):
            for x in range(0, width, step):
                axis.add_patch(
                    Rectangle((x, y), step, step, fill=False, ec='0.85',
                              lw=0.6, ls='--'))
        for window in pixels[:, head]:
            low, high = window.min(0).values, window.max(0).values
            size = (high - low).tolist()
            axis.add_patch(
                Rectangle(low.tolist(), *size, fill=False,
                          ec=colours[head % 3], lw=1.2))
            axis.plot(*window.mean(0).tolist(), '.', color=colours[head % 3])
        axis.set_xlim(-step, width + step)
        axis.set_ylim(height + step, -step)
        axis.set_title(f'head {head}')
        axis.axis('off')
    fig.suptitle(title)
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
    fig.savefig(out_file, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--photo', default='astronaut', choices=PHOTOS)
    parser.add_argument('--size', type=int, default=224)
    parser.add_argument('--checkpoint', help='learned layer weights')
    parser.add_argument(
        '--prefix', default='', help='state-dict prefix of the VSA layer')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', default='outputs/vsa_windows.png')
    args = parser.parse_args()
    if args.size % (PATCH * 7):
        parser.error(f'--size must be a multiple of {PATCH * 7}, '
                     f'got {args.size}')

    logger = MMLogger.get_instance('vsa_mm')
    image = load_photo(args.photo, args.size)
    tokens = patch_tokens(image)
    layer = build_layer(args.checkpoint, args.prefix, args.seed)
    side = args.size // PATCH
    with torch.no_grad():
        grid = layer.sampling_grid(tokens, (side, side))
    title = (f'VSA windows on skimage.data.{args.photo} '
             f'({"learned" if args.checkpoint else "random regression"}); '
             'grey: default 7x7-patch windows')
    draw(image, grid, layer.window_size, args.out, title)
    extent = (grid[..., 0].amax(-1) - grid[..., 0].amin(-1)) * (side - 1) / 2
    logger.info(f'wrote {args.out}: {grid.shape[1]} windows x '
                f'{grid.shape[2]} heads; sampled window width '
                f'{extent.min():.1f}-{extent.max():.1f} patches (default 6 '
                'between outer token centres)')


if __name__ == '__main__':
    main()

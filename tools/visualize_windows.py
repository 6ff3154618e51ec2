"""Draw the windows a VSA layer samples, on a real photograph.

The photo ships with scikit-image (``skimage.data``), so nothing is
downloaded. The image is cut into 4x4 patches (a stride-4 map, like a
backbone's first stage); a ``VSAWindowAttention`` layer sees the patches and
regresses, per window and head, where its keys and values come from. Each
window's sampled area is drawn as a rectangle, one colour per head, over the
default 7x7-patch windows (grey).

Without ``--config`` the layer's regression heads get seeded random
weights, which shows the mechanism (windows move and stretch with the image
content) but not learned behaviour.

With ``--config`` (any vsa_mm mmdet/mmseg/mmpretrain config) and
``--checkpoint`` (a checkpoint of that config's model, loaded with
``weights_only=True``), the trained model runs on ``--image`` through the
config's test pipeline, and the windows of the VSA layer ``--layer`` are
drawn on the image the model saw, as that layer sampled them.

Examples::

    .venv/bin/python tools/visualize_windows.py --out outputs/vsa_windows.png
    .venv/bin/python tools/visualize_windows.py --config CONFIG \
        --checkpoint CKPT --image IMAGE --layer backbone.stages.1.blocks.1.attn
"""
import argparse
import os
import os.path as osp
from typing import Sequence, Tuple

import matplotlib
import numpy as np
import torch
import torch.nn.functional as F
from mmengine.logging import MMLogger

from vsa_mm.checkpoint.safe_load import check_checkpoint_file
from vsa_mm.cli.tool import ToolArgumentParser, load_config, run_tool
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


def build_layer(seed: int) -> VSAWindowAttention:
    """A VSA layer whose regression heads have seeded random weights."""
    layer = VSAWindowAttention(PATCH * PATCH * 3, num_heads=3, window_size=7)
    generator = torch.Generator().manual_seed(seed)
    heads_and_stds = ((layer.sampling_offsets, 0.6), (layer.sampling_scales,
                                                      0.4))
    for head, std in heads_and_stds:
        weight = head.proj.weight
        with torch.no_grad():
            weight.copy_(
                torch.randn(weight.shape, generator=generator) * std /
                weight.shape[1]**0.5)
    return layer


def find_vsa_layer(model: torch.nn.Module,
                   layer_name: str) -> VSAWindowAttention:
    """The ``VSAWindowAttention`` layer ``layer_name`` of ``model``.

    Raises:
        ValueError: If there is no such submodule, or it is not a VSA layer;
            the message lists the model's VSA layers (close matches first).
    """
    import difflib
    layers = [
        name for name, module in model.named_modules()
        if isinstance(module, VSAWindowAttention)
    ]
    try:
        layer = model.get_submodule(layer_name)
    except AttributeError:
        layer = None
    if isinstance(layer, VSAWindowAttention):
        return layer
    close = difflib.get_close_matches(layer_name, layers, n=3, cutoff=0.5)
    shown = close or layers[:3]
    what = ('has no layer' if layer is None else
            f'has a {type(layer).__name__}, not a VSAWindowAttention, at')
    raise ValueError(f'--layer: the model {what} {layer_name!r}; its '
                     f'{len(layers)} VSA layers include {shown}')


def padded_map(hw_shape: Sequence[int], window_size: int) -> Tuple[int, int]:
    """The (Hp, Wp) map, padded to whole windows, that grids refer to."""
    return tuple(-(-int(side) // window_size) * window_size
                 for side in hw_shape)


def draw(image: np.ndarray, grid: torch.Tensor, window_size: int, stride: int,
         map_hw: Tuple[int, int], out_file: str, title: str) -> None:
    """Draw default windows and each head's sampled window extents.

    Args:
        image (np.ndarray): (H, W, 3) RGB in [0, 1].
        grid (torch.Tensor): (1, nW, heads, N, 2) sampling positions.
        window_size (int): Window side in tokens.
        stride (int): Image pixels per token of the layer's map.
        map_hw (tuple[int, int]): The padded map (Hp, Wp) of ``grid``.
        out_file (str): Output picture.
        title (str): Figure title.
    """
    height, width = image.shape[:2]
    map_h, map_w = map_hw
    # normalised (x, y) -> image pixels (centres of the layer's tokens)
    pixels = (grid[0] + 1) / 2 * grid.new_tensor([map_w - 1, map_h - 1])
    pixels = (pixels + 0.5) * stride
    colours = ('tab:red', 'tab:cyan', 'tab:olive', 'tab:orange')
    num_heads = pixels.shape[1]
    columns = min(num_heads, 4)
    rows = -(-num_heads // columns)
    aspect = height / width
    fig, axes = plt.subplots(
        rows,
        columns,
        figsize=(5 * columns, 5 * aspect * rows + 0.6),
        squeeze=False)
    for axis in axes.flat[num_heads:]:
        axis.axis('off')
    for head, axis in zip(range(num_heads), axes.flat):
        axis.imshow(image, extent=(0, width, height, 0))
        step = window_size * stride
        for y in range(0, height, step):
            for x in range(0, width, step):
                axis.add_patch(
                    Rectangle((x, y),
                              step,
                              step,
                              fill=False,
                              ec='0.85',
                              lw=0.6,
                              ls='--'))
        for window in pixels[:, head]:
            low, high = window.min(0).values, window.max(0).values
            size = (high - low).tolist()
            axis.add_patch(
                Rectangle(
                    low.tolist(),
                    *size,
                    fill=False,
                    ec=colours[head % len(colours)],
                    lw=1.2))
            axis.plot(
                *window.mean(0).tolist(),
                '.',
                color=colours[head % len(colours)])
        axis.set_xlim(-step, width + step)
        axis.set_ylim(height + step, -step)
        axis.set_title(f'head {head}')
        axis.axis('off')
    fig.suptitle(title)
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
    fig.savefig(out_file, dpi=110)
    plt.close(fig)


def model_windows(config: str, checkpoint: str, image_path: str,
                  layer_name: str):
    """Run a trained model on an image; the windows of one of its layers.

    Returns:
        tuple: (image (H, W, 3) in [0, 1] as the model saw it, sampling grid
        (1, nW, heads, N, 2), the layer, its stride, its padded map size).
    """
    from mmengine.dataset import Compose, pseudo_collate
    from mmengine.registry import MODELS, init_default_scope
    from mmengine.runner import load_checkpoint

    cfg = load_config(config)
    init_default_scope(cfg.get('default_scope', 'mmengine'))
    model = MODELS.build(cfg.model)
    layer = find_vsa_layer(model, layer_name)
    check_checkpoint_file(checkpoint)
    load_checkpoint(model, checkpoint, map_location='cpu')
    model.eval()
    pipeline = Compose([
        step for step in cfg.test_dataloader.dataset.pipeline
        if step['type'] != 'LoadAnnotations'
    ])
    batch = model.data_preprocessor(
        pseudo_collate([pipeline(dict(img_path=image_path, img_id=0))]), False)
    captured = []
    handle = layer.register_forward_pre_hook(
        lambda module, args: captured.append(args))
    with torch.no_grad():
        model.extract_feat(batch['inputs'])
    handle.remove()
    tokens, hw_shape = captured[0][:2]
    with torch.no_grad():
        grid = layer.sampling_grid(tokens[:1], hw_shape)
    preprocessor = model.data_preprocessor
    pixels = batch['inputs'][0] * preprocessor.std + preprocessor.mean
    image = (pixels / 255).clamp(0, 1).permute(1, 2, 0).numpy()
    stride = image.shape[1] // int(hw_shape[1])
    return image, grid, layer, stride, padded_map(hw_shape, layer.window_size)


def window_motion(grid: torch.Tensor, window_size: int,
                  map_hw: Tuple[int, int]) -> str:
    """How far the sampled windows are from the default ones, in tokens."""
    map_h, map_w = map_hw
    tokens = (grid[0] + 1) / 2 * grid.new_tensor([map_w - 1, map_h - 1])
    rows, cols = map_h // window_size, map_w // window_size
    offset = (window_size - 1) / 2
    default = torch.stack(
        torch.meshgrid(
            torch.arange(cols) * window_size + offset,
            torch.arange(rows) * window_size + offset,
            indexing='xy'), -1).reshape(-1, 1, 2).to(tokens)
    shift = (tokens.mean(2) - default).norm(dim=-1)
    width = tokens[..., 0].amax(-1) - tokens[..., 0].amin(-1)
    return (f'window centres moved {shift.mean():.2f} tokens on average '
            f'(at most {shift.max():.2f}); widths {width.min():.2f}-'
            f'{width.max():.2f} tokens (default {window_size - 1})')


def parse_args() -> argparse.Namespace:
    parser = ToolArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--photo', default='astronaut', choices=PHOTOS)
    parser.add_argument('--size', type=int, default=224)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', default='outputs/vsa_windows.png')
    parser.add_argument('--config', help='draw a trained model\'s windows')
    parser.add_argument(
        '--checkpoint', help='checkpoint of the --config model')
    parser.add_argument('--image', help='image for --config')
    parser.add_argument(
        '--layer',
        default='backbone.stages.1.blocks.1.attn',
        help='VSA layer of the --config model')
    args = parser.parse_args()
    if args.config and not (args.checkpoint and args.image):
        parser.error('--config needs --checkpoint and --image')
    if not args.config and (args.checkpoint or args.image):
        parser.error('--checkpoint and --image need --config (the model '
                     'they belong to)')
    if not args.config and args.size % (PATCH * 7):
        parser.error(f'--size must be a multiple of {PATCH * 7}, '
                     f'got {args.size}')
    return args


def draw_model_windows(args: argparse.Namespace) -> None:
    """Draw the windows of ``args.layer`` of the trained ``args.config``."""
    image, grid, layer, stride, map_hw = model_windows(args.config,
                                                       args.checkpoint,
                                                       args.image, args.layer)
    draw(
        image, grid, layer.window_size, stride, map_hw, args.out,
        f'learned VSA windows of {args.layer} on '
        f'{osp.basename(args.image)}; grey: default windows')
    MMLogger.get_instance('vsa_mm').info(
        f'wrote {args.out}: {grid.shape[1]} windows x {grid.shape[2]} heads '
        f'at stride {stride}; '
        f'{window_motion(grid, layer.window_size, map_hw)}')


def draw_random_windows(args: argparse.Namespace) -> None:
    """Draw a randomly regressing VSA layer's windows on a photo."""
    image = load_photo(args.photo, args.size)
    tokens = patch_tokens(image)
    layer = build_layer(args.seed)
    side = args.size // PATCH
    with torch.no_grad():
        grid = layer.sampling_grid(tokens, (side, side))
    title = (f'VSA windows on skimage.data.{args.photo} (random '
             'regression); grey: default 7x7-patch windows')
    draw(image, grid, layer.window_size, PATCH, (side, side), args.out, title)
    extent = (grid[..., 0].amax(-1) - grid[..., 0].amin(-1)) * (side - 1) / 2
    MMLogger.get_instance('vsa_mm').info(
        f'wrote {args.out}: {grid.shape[1]} windows x {grid.shape[2]} heads; '
        f'sampled window width {extent.min():.1f}-{extent.max():.1f} '
        'patches (default 6 between outer token centres)')


def main() -> None:
    args = parse_args()
    if args.config:
        run_tool(
            lambda: draw_model_windows(args),
            checkpoint=lambda: args.checkpoint)
    else:
        run_tool(lambda: draw_random_windows(args))


if __name__ == '__main__':
    main()

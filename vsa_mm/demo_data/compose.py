"""Composite scenes: object cut-outs pasted onto backgrounds, exact masks."""
from dataclasses import dataclass
from typing import List, Sequence, Tuple

import cv2
import numpy as np

from .photos import object_cutouts


@dataclass
class Instance:
    """One pasted object.

    Attributes:
        label (str): Its class name.
        mask (np.ndarray): (H, W) bool, the pixels of it that stay visible.
    """
    label: str
    mask: np.ndarray


def random_view(image: np.ndarray, size: Tuple[int, int],
                rng: np.random.Generator) -> np.ndarray:
    """A random crop of ``image`` with the aspect of ``size``, resized to it.

    Args:
        image (np.ndarray): (H, W, 3) uint8.
        size (tuple[int, int]): Output (height, width).
        rng (np.random.Generator): Source of randomness.

    Returns:
        np.ndarray: (height, width, 3) uint8.
    """
    height, width = size
    scale = rng.uniform(0.5, 1.0) * min(image.shape[0] / height,
                                        image.shape[1] / width)
    crop_h, crop_w = int(height * scale), int(width * scale)
    top = rng.integers(0, image.shape[0] - crop_h + 1)
    left = rng.integers(0, image.shape[1] - crop_w + 1)
    crop = image[top:top + crop_h, left:left + crop_w]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return cv2.resize(
        np.ascontiguousarray(crop), (width, height),
        interpolation=cv2.INTER_AREA)


def paste_objects(
    canvas: np.ndarray,
    labels: Sequence[str],
    rng: np.random.Generator,
    scale_range: Tuple[float, float] = (0.25, 0.6)
) -> List[Instance]:
    """Paste one random cut-out of each label onto ``canvas`` (in place).

    Later objects occlude earlier ones and the masks of the earlier ones
    lose the covered pixels, so every returned mask is exactly the visible
    part of its object. Objects hidden completely are not returned.

    Args:
        canvas (np.ndarray): (H, W, 3) uint8 background, modified in place.
        labels (Sequence[str]): Class names of the objects to paste.
        rng (np.random.Generator): Source of randomness.
        scale_range (tuple[float, float]): Range of the objects' longer side
            as a fraction of the canvas' shorter side.

    Returns:
        list[Instance]: The visible objects, back to front.
    """
    height, width = canvas.shape[:2]
    pasted: List[Instance] = []
    for label in labels:
        cutouts = object_cutouts(label)
        image, mask = cutouts[rng.integers(len(cutouts))]
        side = rng.uniform(*scale_range) * min(height, width)
        factor = side / max(image.shape[:2])
        obj_w = max(4, min(width, int(round(image.shape[1] * factor))))
        obj_h = max(4, min(height, int(round(image.shape[0] * factor))))
        image = cv2.resize(image, (obj_w, obj_h), interpolation=cv2.INTER_AREA)
        mask = cv2.resize(
            mask.astype(np.uint8), (obj_w, obj_h),
            interpolation=cv2.INTER_NEAREST).astype(bool)
        if rng.random() < 0.5:
            image, mask = image[:, ::-1], mask[:, ::-1]
        top = rng.integers(0, height - obj_h + 1)
        left = rng.integers(0, width - obj_w + 1)
        full = np.zeros((height, width), bool)
        full[top:top + obj_h, left:left + obj_w] = mask
        canvas[top:top + obj_h, left:left + obj_w][mask] = image[mask]
        for earlier in pasted:
            earlier.mask &= ~full
        pasted.append(Instance(label, full))
    return [instance for instance in pasted if instance.mask.any()]

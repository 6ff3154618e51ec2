"""Real photographs that ship inside scikit-image and scikit-learn.

Objects are cut out of photographs with silhouettes that are known exactly
(an ellipse drawn around the subject, the horse silhouette that scikit-image
ships, coins separated by thresholding), so every pasted pixel has a true
label. Backgrounds are other photographs and photographed textures.
"""
from functools import lru_cache
from typing import Callable, Dict, List, Tuple

import numpy as np

#: (RGB image (H, W, 3) uint8, silhouette (H, W) bool).
Cutout = Tuple[np.ndarray, np.ndarray]


def _ellipse_mask(shape: Tuple[int, int], center: Tuple[float, float],
                  radii: Tuple[float, float]) -> np.ndarray:
    """Boolean (H, W) mask of an axis-aligned ellipse; center/radii in x, y."""
    ys, xs = np.mgrid[:shape[0], :shape[1]]
    return (((xs - center[0]) / radii[0])**2 +
            ((ys - center[1]) / radii[1])**2) <= 1.0


def _crop_to_mask(image: np.ndarray, mask: np.ndarray) -> Cutout:
    rows, cols = np.nonzero(mask)
    top, bottom = rows.min(), rows.max() + 1
    left, right = cols.min(), cols.max() + 1
    return image[top:bottom, left:right], mask[top:bottom, left:right]


def _gray_to_rgb(gray: np.ndarray, tint: Tuple[float, float,
                                               float]) -> np.ndarray:
    rgb = gray[..., None].astype(np.float32) * np.asarray(tint, np.float32)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def _cat() -> List[Cutout]:
    from skimage import data
    image = data.chelsea()
    mask = _ellipse_mask(image.shape[:2], (215, 155), (190, 145))
    return [_crop_to_mask(image, mask)]


def _coffee() -> List[Cutout]:
    from skimage import data
    image = data.coffee()
    mask = _ellipse_mask(image.shape[:2], (278, 222), (202, 165))
    return [_crop_to_mask(image, mask)]


def _coins() -> List[Cutout]:
    from skimage import data, filters, measure, morphology
    gray = data.coins()
    smooth = filters.gaussian(gray, sigma=2, preserve_range=True)
    fg = morphology.remove_small_holes(
        smooth > filters.threshold_otsu(smooth), max_size=400)
    image = _gray_to_rgb(gray, (1.15, 0.95, 0.7))
    cutouts = []
    for region in measure.regionprops(measure.label(fg)):
        if 1500 <= region.area <= 6000:
            top, left, bottom, right = region.bbox
            cutouts.append((image[top:bottom,
                                  left:right], region.image.copy()))
    return cutouts


def _horse() -> List[Cutout]:
    from skimage import data
    silhouette = ~data.horse()
    texture = data.grass()[:silhouette.shape[0], :silhouette.shape[1]]
    image = _gray_to_rgb(texture, (0.75, 0.5, 0.3))
    return [_crop_to_mask(image, silhouette)]


#: Object classes of the demo sets, each with the photographs it is cut from.
OBJECT_SOURCES: Dict[str, Callable[[], List[Cutout]]] = {
    'cat': _cat,
    'coffee': _coffee,
    'coin': _coins,
    'horse': _horse,
}


@lru_cache(maxsize=None)
def object_cutouts(name: str) -> Tuple[Cutout, ...]:
    """All cut-outs of one object class (cached).

    Args:
        name (str): A key of :data:`OBJECT_SOURCES`.

    Returns:
        tuple[Cutout]: ``(image (h, w, 3) uint8, mask (h, w) bool)`` pairs.
    """
    if name not in OBJECT_SOURCES:
        raise ValueError(f'unknown demo object {name!r}; expected one of '
                         f'{sorted(OBJECT_SOURCES)}')
    return tuple(OBJECT_SOURCES[name]())


@lru_cache(maxsize=None)
def photo(name: str) -> np.ndarray:
    """A colour background photograph or texture as (H, W, 3) uint8.

    Args:
        name (str): ``'china'`` or ``'flower'`` (scikit-learn), ``'rocket'``,
            ``'astronaut'`` (scikit-image), or the scikit-image textures
            ``'brick'``, ``'gravel'``, ``'grass'``.
    """
    from skimage import data
    if name in ('china', 'flower'):
        from sklearn.datasets import load_sample_image
        return load_sample_image(f'{name}.jpg')
    textures = {
        'brick': (1.0, 0.8, 0.7),
        'gravel': (0.85, 0.85, 0.85),
        'grass': (0.6, 1.0, 0.5)
    }
    if name in textures:
        return _gray_to_rgb(getattr(data, name)(), textures[name])
    if name in ('rocket', 'astronaut'):
        return getattr(data, name)()
    raise ValueError(f'unknown demo photograph {name!r}')

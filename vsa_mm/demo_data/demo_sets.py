"""Small COCO, Cityscapes and ImageNet-style sets built from real photos.

Every set is a pure function of its arguments (seeded), written into a
temporary directory and renamed into place when complete, so an interrupted
run never leaves a half-written set that looks finished. A set that already
exists with the same arguments is reused.
"""
import json
import os
import os.path as osp
import shutil
import tempfile
from typing import Callable, Dict, List, Tuple

import cv2
import numpy as np

from .compose import paste_objects, random_view
from .photos import OBJECT_SOURCES, photo

#: Class names of the COCO-format and ImageNet-style demo sets.
DEMO_CLASSES: Tuple[str, ...] = tuple(OBJECT_SOURCES)
COCO_BACKGROUNDS = ('china', 'flower', 'rocket', 'astronaut')
#: Cityscapes classes that the demo objects and backgrounds are stored as.
#: Only the ids follow Cityscapes; the pictures are what they are.
CITYSCAPES_OBJECTS = {
    'cat': 'person',
    'coffee': 'car',
    'coin': 'traffic sign',
    'horse': 'rider'
}
CITYSCAPES_UPPER = {
    'flower': 'vegetation',
    'china': 'building',
    'brick': 'wall'
}
CITYSCAPES_LOWER = {'gravel': 'road', 'grass': 'terrain'}
_MANIFEST = 'demo_manifest.json'


def _write_image(path: str, image: np.ndarray) -> None:
    """Write an (H, W, 3) RGB or (H, W) single-channel image."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    if image.ndim == 3:
        image = image[..., ::-1]
    if not cv2.imwrite(path, np.ascontiguousarray(image)):
        raise OSError(f'could not write {path}')


def _prepare_root(root: str) -> str:
    """Check that a set may be written at ``root``; its parent directory.

    Raises:
        TypeError: If ``root`` is not a non-empty str or path.
        ValueError: If ``root`` exists and is not a demo set (it is never
            replaced then), or its parent cannot be created or written.
    """
    if isinstance(root, os.PathLike):
        root = os.fspath(root)
    if not isinstance(root, str) or not root:
        raise TypeError(f'root must be a non-empty path, got {root!r}')
    if osp.exists(root) and not (osp.isfile(osp.join(root, _MANIFEST)) or
                                 (osp.isdir(root) and not os.listdir(root))):
        raise ValueError(f'root {root!r} exists and is not a demo set; '
                         'refusing to replace it')
    parent = osp.dirname(osp.abspath(root))
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as error:
        raise ValueError(f'cannot create the directory {parent!r} for the '
                         f'demo set {root!r}: {error.strerror}') from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f'cannot write the demo set {root!r}: directory '
                         f'{parent!r} is not writable')
    return parent


def _build_once(root: str, params: dict,
                build: Callable[[str, np.random.Generator], None]) -> str:
    """Run ``build(tmp_dir, rng)`` unless ``root`` holds the same set.

    The set is built in a temporary directory beside ``root`` and renamed
    into place; a previous demo set at ``root`` is replaced only once the
    new one is complete. Anything at ``root`` that is not a demo set is
    left alone (an error is raised).
    """
    manifest = osp.join(root, _MANIFEST)
    if osp.isfile(manifest):
        with open(manifest, encoding='utf-8') as f:
            if json.load(f) == params:
                return root
    parent = _prepare_root(root)
    try:
        tmp = tempfile.mkdtemp(prefix='.partial-', dir=parent)
    except OSError as error:
        raise ValueError(f'cannot write the demo set {root!r} in '
                         f'{parent!r}: {error.strerror}') from None
    old = None
    try:
        build(tmp, np.random.default_rng(params['seed']))
        with open(osp.join(tmp, _MANIFEST), 'w', encoding='utf-8') as f:
            json.dump(params, f)
        if osp.exists(root):
            old = tempfile.mkdtemp(prefix='.replaced-', dir=parent)
            os.replace(root, old)
        os.replace(tmp, root)
    finally:
        for leftover in (tmp, old):
            if leftover and osp.exists(leftover):
                shutil.rmtree(leftover)
    return root


def _random_labels(rng: np.random.Generator, max_objects: int) -> List[str]:
    """1 to ``max_objects`` class names drawn from :data:`DEMO_CLASSES`."""
    labels = rng.choice(DEMO_CLASSES, size=rng.integers(1, max_objects + 1))
    return [str(label) for label in labels]


def _check_counts(**counts: int) -> None:
    for name, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, int) or \
                value < 1:
            raise ValueError(f'{name} must be a positive int, got {value!r}')


def _check_size(size: Tuple[int, int], minimum: int = 16) -> None:
    """``size`` must be (height, width) ints of at least ``minimum``."""
    if not (isinstance(size, (tuple, list)) and len(size) == 2 and all(
            isinstance(side, int) and not isinstance(side, bool)
            and side >= minimum for side in size)):
        raise ValueError(f'size must be (height, width) ints of at least '
                         f'{minimum}, got {size!r}')


def _check_seed(seed: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f'seed must be a non-negative int, got {seed!r}')


def _scene_set_params(kind: str, num_train: int, num_val: int,
                      size: Tuple[int,
                                  int], max_objects: int, seed: int) -> dict:
    """The checked arguments of a set of scenes, which identify it."""
    _check_counts(
        num_train=num_train, num_val=num_val, max_objects=max_objects)
    _check_size(size)
    _check_seed(seed)
    return dict(
        kind=kind,
        num_train=num_train,
        num_val=num_val,
        size=list(size),
        max_objects=max_objects,
        seed=seed)


def make_coco_instance_set(root: str,
                           num_train: int = 24,
                           num_val: int = 8,
                           size: Tuple[int, int] = (240, 320),
                           max_objects: int = 4,
                           seed: int = 0) -> str:
    """A COCO-format instance segmentation set with exact RLE masks.

    Layout: ``{train,val}2017/*.jpg`` and
    ``annotations/instances_{train,val}2017.json`` with the classes
    :data:`DEMO_CLASSES` (ids 1..4).

    Args:
        root (str): Output directory.
        num_train (int): Training images.
        num_val (int): Validation images.
        size (tuple[int, int]): Image (height, width).
        max_objects (int): Most objects pasted per image.
        seed (int): Random seed; the set is a function of all arguments.

    Returns:
        str: ``root``.
    """
    from pycocotools import mask as mask_utils
    params = _scene_set_params('coco', num_train, num_val, size, max_objects,
                               seed)

    def build(out: str, rng: np.random.Generator) -> None:
        categories = [
            dict(id=i + 1, name=name, supercategory='demo')
            for i, name in enumerate(DEMO_CLASSES)
        ]
        ann_id = 1
        for split, count in (('train', num_train), ('val', num_val)):
            images, annotations = [], []
            for index in range(count):
                name = str(rng.choice(COCO_BACKGROUNDS))
                canvas = random_view(photo(name), size, rng)
                instances = paste_objects(canvas,
                                          _random_labels(rng, max_objects),
                                          rng)
                file_name = f'{split}_{index:06d}.jpg'
                _write_image(osp.join(out, f'{split}2017', file_name), canvas)
                image_id = index + 1
                images.append(
                    dict(
                        id=image_id,
                        file_name=file_name,
                        height=size[0],
                        width=size[1]))
                for instance in instances:
                    rle = mask_utils.encode(
                        np.asfortranarray(instance.mask.astype(np.uint8)))
                    x, y, w, h = mask_utils.toBbox(rle).tolist()
                    rle['counts'] = rle['counts'].decode('ascii')
                    annotations.append(
                        dict(
                            id=ann_id,
                            image_id=image_id,
                            category_id=DEMO_CLASSES.index(instance.label) + 1,
                            segmentation=rle,
                            area=float(mask_utils.area(rle)),
                            bbox=[x, y, w, h],
                            iscrowd=0))
                    ann_id += 1
            os.makedirs(osp.join(out, 'annotations'), exist_ok=True)
            with open(
                    osp.join(out, 'annotations',
                             f'instances_{split}2017.json'), 'w') as f:
                json.dump(
                    dict(
                        images=images,
                        annotations=annotations,
                        categories=categories), f)

    return _build_once(root, params, build)


def make_cityscapes_set(root: str,
                        num_train: int = 12,
                        num_val: int = 4,
                        size: Tuple[int, int] = (256, 512),
                        max_objects: int = 4,
                        seed: int = 0) -> str:
    """A Cityscapes-format semantic segmentation set.

    Layout as the official release: ``leftImg8bit/{train,val}/<city>/
    <city>_000000_<frame>_leftImg8bit.png`` and, beside it in ``gtFine/``,
    ``*_gtFine_labelIds.png``, ``*_gtFine_labelTrainIds.png`` and
    ``*_gtFine_instanceIds.png`` with the ids of ``cityscapesscripts``. An
    upper and a lower photographed surface (:data:`CITYSCAPES_UPPER`,
    :data:`CITYSCAPES_LOWER`) meet at a random horizon, and the objects are
    stored as :data:`CITYSCAPES_OBJECTS`.

    Args and returns: as for :func:`make_coco_instance_set`.
    """
    from cityscapesscripts.helpers.labels import name2label
    params = _scene_set_params('cityscapes', num_train, num_val, size,
                               max_objects, seed)
    train_ids = np.full(256, 255, np.uint8)
    for label in name2label.values():
        if 0 <= label.id < 256 and 0 <= label.trainId < 255:
            train_ids[label.id] = label.trainId

    def build(out: str, rng: np.random.Generator) -> None:
        height = size[0]
        for split, count in (('train', num_train), ('val', num_val)):
            city = f'demo{split}'
            for index in range(count):
                upper = str(rng.choice(list(CITYSCAPES_UPPER)))
                lower = str(rng.choice(list(CITYSCAPES_LOWER)))
                horizon = int(rng.uniform(0.35, 0.65) * height)
                canvas = random_view(photo(upper), size, rng)
                canvas[horizon:] = random_view(photo(lower), size,
                                               rng)[horizon:]
                label_ids = np.full(size,
                                    name2label[CITYSCAPES_UPPER[upper]].id,
                                    np.uint8)
                label_ids[horizon:] = name2label[CITYSCAPES_LOWER[lower]].id
                instance_ids = label_ids.astype(np.int32)
                instances = paste_objects(
                    canvas,
                    _random_labels(rng, max_objects),
                    rng,
                    scale_range=(0.2, 0.5))
                for number, instance in enumerate(instances):
                    label = name2label[CITYSCAPES_OBJECTS[instance.label]]
                    label_ids[instance.mask] = label.id
                    instance_ids[instance.mask] = label.id * 1000 + number
                stem = osp.join(city, f'{city}_000000_{index:06d}')
                _write_image(
                    osp.join(out, 'leftImg8bit', split,
                             f'{stem}_leftImg8bit.png'), canvas)
                gt = osp.join(out, 'gtFine', split, f'{stem}_gtFine_')
                _write_image(gt + 'labelIds.png', label_ids)
                _write_image(gt + 'labelTrainIds.png', train_ids[label_ids])
                _write_image(gt + 'instanceIds.png',
                             instance_ids.astype(np.uint16))

    return _build_once(root, params, build)


def make_imagenet_set(root: str,
                      per_class_train: int = 8,
                      per_class_val: int = 4,
                      size: int = 96,
                      seed: int = 0) -> str:
    """An ImageNet-style folder set: ``{train,val}/<class>/*.JPEG``.

    Each image shows one object of :data:`DEMO_CLASSES` on a background.

    Args:
        root (str): Output directory.
        per_class_train (int): Training images per class.
        per_class_val (int): Validation images per class.
        size (int): Image side.
        seed (int): Random seed; the set is a function of all arguments.

    Returns:
        str: ``root``.
    """
    _check_counts(
        per_class_train=per_class_train,
        per_class_val=per_class_val,
        size=size)
    _check_size((size, size))
    _check_seed(seed)
    params = dict(
        kind='imagenet',
        per_class_train=per_class_train,
        per_class_val=per_class_val,
        size=size,
        seed=seed)

    def build(out: str, rng: np.random.Generator) -> None:
        for split, count in (('train', per_class_train), ('val',
                                                          per_class_val)):
            for label in DEMO_CLASSES:
                for index in range(count):
                    name = str(rng.choice(COCO_BACKGROUNDS))
                    canvas = random_view(photo(name), (size, size), rng)
                    paste_objects(canvas, [label], rng, scale_range=(0.6, 0.9))
                    _write_image(
                        osp.join(out, split, label,
                                 f'{label}_{index:04d}.JPEG'), canvas)

    return _build_once(root, params, build)


def make_demo_data(root: str = 'data/demo') -> Dict[str, str]:
    """All three demo sets with their default sizes, under ``root``.

    Returns:
        dict[str, str]: ``{'coco': ..., 'cityscapes': ..., 'imagenet': ...}``
        directories.
    """
    return dict(
        coco=make_coco_instance_set(osp.join(root, 'coco')),
        cityscapes=make_cityscapes_set(osp.join(root, 'cityscapes')),
        imagenet=make_imagenet_set(osp.join(root, 'imagenet')))

"""The embedded demo sets: formats, exact masks, label ids, determinism."""
import json
import os
import os.path as osp
from glob import glob

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils

from vsa_mm.demo_data import (DEMO_CLASSES, make_cityscapes_set,
                              make_coco_instance_set, make_imagenet_set)
from vsa_mm.demo_data.compose import paste_objects


def test_pasted_masks_are_exactly_the_changed_pixels():
    rng = np.random.default_rng(3)
    sentinel = np.array([1, 2, 3], np.uint8)
    canvas = np.tile(sentinel, (120, 160, 1))
    instances = paste_objects(canvas, list(DEMO_CLASSES) * 2, rng)
    union = np.zeros(canvas.shape[:2], bool)
    for instance in instances:
        assert instance.mask.any()
        assert not (union & instance.mask).any(), 'masks overlap'
        union |= instance.mask
    assert (canvas[~union] == sentinel).all()
    changed = (canvas != sentinel).any(-1)
    assert changed[union].mean() > 0.99


def test_coco_set_has_exact_masks_and_boxes(tmp_path):
    root = make_coco_instance_set(
        str(tmp_path / 'coco'), num_train=3, num_val=2, size=(120, 160))
    for split, count in (('train', 3), ('val', 2)):
        with open(
                osp.join(root, 'annotations',
                         f'instances_{split}2017.json')) as f:
            data = json.load(f)
        assert [c['name'] for c in data['categories']] == list(DEMO_CLASSES)
        assert len(data['images']) == count
        for image in data['images']:
            pixels = cv2.imread(
                osp.join(root, f'{split}2017', image['file_name']))
            assert pixels.shape == (120, 160, 3)
            anns = [
                a for a in data['annotations'] if a['image_id'] == image['id']
            ]
            assert anns
            union = np.zeros((120, 160), bool)
            for ann in anns:
                mask = mask_utils.decode(ann['segmentation']).astype(bool)
                assert not (union & mask).any()
                union |= mask
                rows, cols = np.nonzero(mask)
                assert ann['area'] == mask.sum()
                assert ann['bbox'] == [
                    cols.min(),
                    rows.min(),
                    cols.max() - cols.min() + 1,
                    rows.max() - rows.min() + 1
                ]
                assert ann['iscrowd'] == 0


def test_cityscapes_set_follows_the_official_layout_and_ids(tmp_path):
    from cityscapesscripts.helpers.labels import labels
    root = make_cityscapes_set(
        str(tmp_path / 'cs'), num_train=2, num_val=1, size=(64, 128))
    images = sorted(
        glob(osp.join(root, 'leftImg8bit', '*', '*', '*_leftImg8bit.png')))
    assert len(images) == 3
    to_train_id = {label.id: label.trainId for label in labels}
    for image in images:
        stem = image.replace('leftImg8bit', 'gtFine',
                             1)[:-len('leftImg8bit.png')] + 'gtFine_'
        label_ids = cv2.imread(stem + 'labelIds.png', cv2.IMREAD_UNCHANGED)
        train_ids = cv2.imread(stem + 'labelTrainIds.png',
                               cv2.IMREAD_UNCHANGED)
        instances = cv2.imread(stem + 'instanceIds.png', cv2.IMREAD_UNCHANGED)
        assert label_ids.shape == train_ids.shape == (64, 128)
        expected = np.vectorize(lambda i: to_train_id[i] % 256)(label_ids)
        np.testing.assert_array_equal(train_ids, expected)
        things = instances >= 1000
        np.testing.assert_array_equal(instances[things] // 1000,
                                      label_ids[things])
        assert len(np.unique(train_ids)) >= 2


def test_cityscapes_set_loads_with_mmseg(tmp_path):
    from mmseg.datasets import CityscapesDataset
    root = make_cityscapes_set(
        str(tmp_path / 'cs'), num_train=2, num_val=1, size=(64, 128))
    dataset = CityscapesDataset(
        data_root=root,
        data_prefix=dict(
            img_path='leftImg8bit/train', seg_map_path='gtFine/train'),
        pipeline=[])
    assert len(dataset) == 2
    assert osp.isfile(dataset[0]['seg_map_path'])


def test_imagenet_set_is_a_class_per_folder(tmp_path):
    from mmpretrain.datasets import CustomDataset
    root = make_imagenet_set(
        str(tmp_path / 'in'), per_class_train=2, per_class_val=1, size=32)
    dataset = CustomDataset(data_root=root, data_prefix='train', pipeline=[])
    assert dataset.CLASSES == DEMO_CLASSES
    assert len(dataset) == 2 * len(DEMO_CLASSES)


def test_sets_are_reproducible_and_reused(tmp_path):
    first = make_coco_instance_set(str(tmp_path / 'a'), 2, 1, (64, 64))
    second = make_coco_instance_set(str(tmp_path / 'b'), 2, 1, (64, 64))
    name = 'annotations/instances_train2017.json'
    with open(osp.join(first, name)) as f, open(osp.join(second, name)) as g:
        assert f.read() == g.read()
    stamp = os.stat(osp.join(first, name)).st_mtime_ns
    make_coco_instance_set(first, 2, 1, (64, 64))
    assert os.stat(osp.join(first, name)).st_mtime_ns == stamp
    make_coco_instance_set(first, 2, 1, (64, 64), seed=1)
    assert os.stat(osp.join(first, name)).st_mtime_ns != stamp
    assert not [n for n in os.listdir(tmp_path) if n.startswith('.partial')]


@pytest.mark.parametrize(
    'kwargs', [dict(num_train=0),
               dict(num_val=-1),
               dict(max_objects=1.5)])
def test_bad_counts_are_rejected(tmp_path, kwargs):
    with pytest.raises(ValueError, match=repr(next(iter(kwargs.values())))):
        make_coco_instance_set(str(tmp_path / 'x'), **kwargs)


def test_unknown_photo_or_object_is_rejected():
    from vsa_mm.demo_data.photos import object_cutouts, photo
    with pytest.raises(ValueError, match="'dog'"):
        object_cutouts('dog')
    with pytest.raises(ValueError, match="'moon'"):
        photo('moon')

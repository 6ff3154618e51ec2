"""Demo data: bad arguments and unusable output directories fail clearly,
and nothing that is not a demo set is replaced."""
import json

import pytest

from vsa_mm.demo_data import (make_cityscapes_set, make_coco_instance_set,
                              make_imagenet_set)


@pytest.mark.parametrize('kwargs,bad', [
    (dict(num_train=0), 'num_train'),
    (dict(num_val=-2), 'num_val'),
    (dict(num_train=2.5), 'num_train'),
    (dict(num_train=True), 'num_train'),
    (dict(max_objects=0), 'max_objects'),
    (dict(size=(8, 320)), 'size'),
    (dict(size=(240, )), 'size'),
    (dict(seed=-1), 'seed'),
])
@pytest.mark.parametrize('make', [make_coco_instance_set, make_cityscapes_set])
def test_bad_counts_and_sizes(tmp_path, make, kwargs, bad):
    root = tmp_path / 'set'
    with pytest.raises(ValueError, match=bad) as info:
        make(str(root), **kwargs)
    assert repr(list(kwargs.values())[0]) in str(info.value)
    assert not root.exists()


@pytest.mark.parametrize('kwargs,bad', [
    (dict(per_class_train=0), 'per_class_train'),
    (dict(per_class_val='4'), 'per_class_val'),
    (dict(size=8), 'size'),
])
def test_bad_imagenet_arguments(tmp_path, kwargs, bad):
    with pytest.raises(ValueError, match=bad):
        make_imagenet_set(str(tmp_path / 'set'), **kwargs)
    assert not (tmp_path / 'set').exists()


def test_root_under_a_file(tmp_path):
    blocker = tmp_path / 'a_file'
    blocker.write_text('keep me')
    root = blocker / 'imagenet'
    with pytest.raises(ValueError, match='a_file') as info:
        make_imagenet_set(str(root), per_class_train=1, per_class_val=1)
    assert 'cannot create' in str(info.value)
    assert blocker.read_text() == 'keep me'


def test_root_that_is_not_a_demo_set_is_never_replaced(tmp_path):
    root = tmp_path / 'my_photos'
    root.mkdir()
    (root / 'holiday.jpg').write_bytes(b'precious')
    with pytest.raises(ValueError, match='not a demo set'):
        make_imagenet_set(str(root), per_class_train=1, per_class_val=1)
    assert (root / 'holiday.jpg').read_bytes() == b'precious'
    plain_file = tmp_path / 'notes.txt'
    plain_file.write_text('notes')
    with pytest.raises(ValueError, match='notes.txt'):
        make_imagenet_set(str(plain_file), per_class_train=1, per_class_val=1)
    assert plain_file.read_text() == 'notes'


def test_root_must_be_a_path(tmp_path):
    with pytest.raises(TypeError, match='None'):
        make_imagenet_set(None)


def test_a_demo_set_with_other_arguments_is_replaced(tmp_path):
    root = tmp_path / 'imagenet'
    make_imagenet_set(str(root), per_class_train=1, per_class_val=1)
    make_imagenet_set(str(root), per_class_train=2, per_class_val=1)
    manifest = json.loads((root / 'demo_manifest.json').read_text())
    assert manifest['per_class_train'] == 2
    assert len(list((root / 'train').glob('*/*.JPEG'))) == 2 * 4
    assert not [p for p in tmp_path.iterdir() if p.name.startswith('.')]

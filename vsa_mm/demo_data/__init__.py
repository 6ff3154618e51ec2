"""Embedded demo data generated from photographs in installed packages."""
from .demo_sets import (DEMO_CLASSES, make_cityscapes_set,
                        make_coco_instance_set, make_demo_data,
                        make_imagenet_set)

__all__ = [
    'DEMO_CLASSES', 'make_coco_instance_set', 'make_cityscapes_set',
    'make_imagenet_set', 'make_demo_data'
]

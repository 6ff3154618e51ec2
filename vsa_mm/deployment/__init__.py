"""Deployment: ONNX export of models with VSA layers."""
from .onnx import (DYNAMIC_IMAGE_DIMS, MIN_IMAGE_SIZE, export_onnx,
                   image_dynamic_shapes, onnx_translation_table)

__all__ = [
    'DYNAMIC_IMAGE_DIMS', 'MIN_IMAGE_SIZE', 'export_onnx',
    'image_dynamic_shapes', 'onnx_translation_table'
]

"""Checkpoint conversion utilities."""
from .ckpt_convert import (as_classifier_state_dict, convert_swin,
                           convert_vitaev2_vsa, infer_swin_arch,
                           read_vitaev2_arch, swin_merge_to_unfold,
                           unwrap_state_dict)

__all__ = [
    'as_classifier_state_dict', 'convert_swin', 'convert_vitaev2_vsa',
    'infer_swin_arch', 'read_vitaev2_arch', 'swin_merge_to_unfold',
    'unwrap_state_dict'
]

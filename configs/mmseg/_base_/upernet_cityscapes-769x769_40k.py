# UperNet on Cityscapes with 769x769 crops, sliding-window testing with
# corner-aligned resizing, as mmseg's 769x769 Cityscapes configs.
_base_ = [
    './upernet_adamw-6e-5_40k.py',
    'mmseg::_base_/datasets/cityscapes_769x769.py',
]
model = dict(
    data_preprocessor=dict(size={{_base_.crop_size}}),
    decode_head=dict(align_corners=True),
    auxiliary_head=dict(align_corners=True),
    test_cfg=dict(mode='slide', crop_size=(769, 769), stride=(513, 513)))

# UperNet on Cityscapes with 512x1024 crops, whole-image testing.
_base_ = [
    './upernet_adamw-6e-5_40k.py',
    'mmseg::_base_/datasets/cityscapes.py',
]
model = dict(data_preprocessor=dict(size={{_base_.crop_size}}))

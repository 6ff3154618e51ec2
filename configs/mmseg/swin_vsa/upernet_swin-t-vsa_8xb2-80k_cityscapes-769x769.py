# UperNet on Cityscapes, 16 images per batch (8 GPUs x 2). No official Swin +
# VSA segmentation config was released; the backbone uses the drop path of the
# Swin-T row (0.3, mmseg's Swin-T UperNet value), so that the pair differs only
# in the attention.
_base_ = [
    '../_base_/upernet_cityscapes-769x769_80k.py',
    '../../_base_/backbones/swin-t-vsa.py',
]
model = dict(
    backbone=dict(_base_.backbone, _delete_=True, drop_path_rate=0.3),
    decode_head=dict(in_channels=_base_.backbone_channels),
    auxiliary_head=dict(in_channels=_base_.backbone_channels[2]))

# Mask R-CNN 1x with Swin-T + VSA. No official Swin + VSA detection config was
# released; the backbone uses Swin-T's detection drop path (0.2, as mmdet's
# Swin-T configs), rising linearly over the blocks as in Swin's own code.
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    '../_base_/coco-instance_ms-crop_adamw-1e-4_1x.py',
    '../../_base_/backbones/swin-t-vsa.py',
]
model = dict(
    backbone=dict(_base_.backbone, _delete_=True, drop_path_rate=0.2),
    neck=dict(in_channels=_base_.backbone_channels))

_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    '../_base_/coco-instance_ms-crop_adamw-1e-4_3x.py',
    '../../_base_/backbones/vitaev2-48m-vsa.py',
]
model = dict(
    backbone=dict(_base_.backbone, _delete_=True),
    neck=dict(in_channels=_base_.backbone_channels))

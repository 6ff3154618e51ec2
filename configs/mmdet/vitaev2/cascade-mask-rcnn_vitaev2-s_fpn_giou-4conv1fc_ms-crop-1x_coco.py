_base_ = [
    '../_base_/models/cascade-mask-rcnn_fpn_giou-4conv1fc.py',
    '../_base_/coco-instance_ms-crop_adamw-1e-4_1x.py',
    '../../_base_/backbones/vitaev2-s.py',
]
model = dict(
    backbone=dict(_base_.backbone, _delete_=True),
    neck=dict(in_channels=_base_.backbone_channels))

# Mask R-CNN 1x with ViTAEv2-S, as the official config (ViTAE-VSA,
# Object-Detection/configs/vitaev2/
# mask_rcnn_vitaev2_s_mstrain_480-800_adamw_1x_coco.py): drop path 0.1 laid out
# per stage as the official backbone does, weight decay 0.045.
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    '../_base_/coco-instance_ms-crop_adamw-1e-4_1x.py',
    '../../_base_/backbones/vitaev2-s.py',
]
model = dict(
    backbone=dict(
        _base_.backbone,
        _delete_=True,
        drop_path_rate=0.1,
        drop_path_schedule='official'),
    neck=dict(in_channels=_base_.backbone_channels))
optim_wrapper = dict(optimizer=dict(weight_decay=0.045))

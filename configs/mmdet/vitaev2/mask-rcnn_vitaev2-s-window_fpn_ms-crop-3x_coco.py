# Mask R-CNN 3x with ViTAEv2*-S (window attention in all stages). No official
# config exists for this backbone; it is trained exactly as the official
# ViTAEv2-S row beside it (drop path 0.1 laid out per stage as the official
# backbone does), so that the two baselines differ only in their attention.
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    '../_base_/coco-instance_ms-crop_adamw-1e-4_3x.py',
    '../../_base_/backbones/vitaev2-s-window.py',
]
model = dict(
    backbone=dict(
        _base_.backbone,
        _delete_=True,
        drop_path_rate=0.1,
        drop_path_schedule='official'),
    neck=dict(in_channels=_base_.backbone_channels))

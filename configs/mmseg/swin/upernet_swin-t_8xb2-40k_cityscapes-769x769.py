# UperNet on Cityscapes, 16 images per batch (8 GPUs x 2). Swin-T's drop path
# in mmseg's Swin UperNet configs (0.3), the same for Swin-T + VSA so that the
# pair differs only in the attention.
_base_ = [
    '../_base_/upernet_cityscapes-769x769_40k.py',
    '../../_base_/backbones/swin-t.py',
]
model = dict(
    backbone=dict(_base_.backbone, _delete_=True, drop_path_rate=0.3),
    decode_head=dict(in_channels=_base_.backbone_channels),
    auxiliary_head=dict(in_channels=_base_.backbone_channels[2]))

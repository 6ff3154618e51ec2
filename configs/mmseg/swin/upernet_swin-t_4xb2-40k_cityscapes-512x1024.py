_base_ = [
    '../_base_/upernet_cityscapes-512x1024_40k.py',
    '../../_base_/backbones/swin-t.py',
]
model = dict(
    backbone=dict(_base_.backbone, _delete_=True),
    decode_head=dict(in_channels=_base_.backbone_channels),
    auxiliary_head=dict(in_channels=_base_.backbone_channels[2]))

# UperNet on Cityscapes, 16 images per batch (8 GPUs x 2). No official VSA
# segmentation code was released; the backbone uses the drop path of the
# authors' ViTAEv2-S UperNet (ViTAE-Transformer,
# Semantic-Segmentation/configs/vitaev2/upernet_vitaev2_s_512x512_160k_ade20k.py:
# 0.2), laid out per stage as their backbone does, the same as the ViTAEv2*-S
# row.
_base_ = [
    '../_base_/upernet_cityscapes-769x769_40k.py',
    '../../_base_/backbones/vitaev2-s-vsa.py',
]
model = dict(
    backbone=dict(
        _base_.backbone,
        _delete_=True,
        drop_path_rate=0.2,
        drop_path_schedule='official'),
    decode_head=dict(in_channels=_base_.backbone_channels),
    auxiliary_head=dict(in_channels=_base_.backbone_channels[2]))

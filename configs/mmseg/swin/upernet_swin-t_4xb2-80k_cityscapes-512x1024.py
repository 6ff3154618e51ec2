# mmseg's Swin-T UperNet (ImageNet-1K weights from OpenMMLab) on the VSA
# Cityscapes recipe: the baseline rows of the seed table.
_base_ = ['../_base_/upernet_cityscapes-512x1024_80k.py']
model = dict(
    backbone=dict(
        drop_path_rate=0.3,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmsegmentation/v0.5/'
            'pretrain/swin/swin_tiny_patch4_window7_224_20220317-1cdeb081.pth'
        )))

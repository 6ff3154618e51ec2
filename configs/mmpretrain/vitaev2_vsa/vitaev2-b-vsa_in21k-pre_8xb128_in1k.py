# ViTAEv2*-B + VSA pre-trained on ImageNet-22K, fine-tuned on ImageNet-1K:
# the fine-tuning recipe of the 48M config it inherits (Swin's 22K -> 1K
# recipe at batch 1024, drop path 0.2 laid out per stage as the official
# code; it refuses to start without the 22K weights).
_base_ = ['./vitaev2-48m-vsa_in21k-pre_8xb128_in1k.py']

pretrained = 'checkpoints/vitaev2-b-vsa_in21k.pth'
model = dict(
    backbone=dict(arch='b-vsa', init_cfg=dict(checkpoint=pretrained)),
    head=dict(in_channels=1024))

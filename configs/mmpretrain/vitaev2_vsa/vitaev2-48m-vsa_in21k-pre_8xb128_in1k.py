# ViTAEv2*-48M + VSA pre-trained on ImageNet-22K, fine-tuned on ImageNet-1K
# at 224x224, 1024 images per iteration (8 GPUs x 128).
#
# The official code has no fine-tuning recipe; this is Swin's published
# ImageNet-22K -> 1K one, with its lrs scaled to batch 1024 as Swin scales
# them (per 512 images: lr 2e-5, min lr 2e-7, warm-up lr 2e-8): lr 4e-5,
# 5 warm-up epochs from 4e-8, cosine down to 4e-7, 30 epochs, weight decay
# 1e-8, on the augmentations and EMA of the ViTAEv2 recipe.
#
# The run refuses to start without the ImageNet-22K weights (it never
# fine-tunes random weights): convert the authors' 22K checkpoint with
# tools/model_converters/vitaev2_vsa_to_vsa_mm.py to the path below, or
# point `model.backbone.init_cfg.checkpoint` elsewhere. Only the backbone
# is loaded; the 1K head starts new. Drop path 0.2 (Swin's 22K -> 1K
# fine-tunes), laid out per stage as the official code did when it
# pre-trained the weights.
_base_ = ['./vitaev2-48m-vsa_8xb128_in1k.py']

pretrained = 'checkpoints/vitaev2-48m-vsa_in21k.pth'
model = dict(
    backbone=dict(
        drop_path_rate=0.2,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')))

optim_wrapper = dict(optimizer=dict(lr=4e-5, weight_decay=1e-8))
warmup_epochs = 5
max_epochs = 30
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=4e-8 / 4e-5,
        by_epoch=True,
        begin=0,
        end=warmup_epochs,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        eta_min=4e-7,
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs,
        convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
custom_hooks = [
    dict(
        type='vsa_mm.RequirePretrainedHook',
        hint='Convert the ImageNet-22K checkpoint with '
        'tools/model_converters/vitaev2_vsa_to_vsa_mm.py.'),
    dict(
        type='EMAHook',
        momentum=8e-5,
        update_buffers=True,
        priority='ABOVE_NORMAL'),
    dict(type='vsa_mm.ExactResumeHook'),
]

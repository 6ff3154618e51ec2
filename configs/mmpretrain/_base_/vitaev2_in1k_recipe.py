# ImageNet-1K recipe of the official ViTAEv2 / ViTAE-VSA trainer
# (github.com/ViTAE-Transformer/ViTAE-VSA, Image-Classification/main.py and
# training_scripts/*.sh), for 8 GPUs x 128 images (1024 per iteration):
# - AdamW, betas (0.9, 0.999), eps 1e-8, peak lr 1e-3 at batch 1024: the
#   scripts pass --lr 5e-4 and main.py scales it by batch / 512 (the logs
#   peak at 9.97e-4). Weight decay 0.05 on every parameter with more than
#   one dimension, none on biases and norms (timm's create_optimizer);
# - 10 warm-up epochs linear from 1e-6, cosine down to 1e-5, then 10
#   cool-down epochs at 1e-5 (310 epochs in all), stepped once per epoch as
#   timm's scheduler is. One difference remains: timm evaluates the cosine
#   at epoch t of a 300-epoch cycle (its warm-up overlaps the cycle), while
#   mmengine's cosine starts at the peak after the warm-up and spans epochs
#   10-300; the two schedules differ by at most 3.1% of the peak lr
#   (epoch 110), 1.7% on average;
# - EMA of the weights and BatchNorm buffers (timm's ModelEma), decay
#   0.99996 per 512 images: momentum 8e-5 per iteration at batch 1024.
#   Validation runs on the EMA weights, the checkpoint with the best EMA
#   top-1 is kept (the paper's ImageNet numbers are the best epoch of the
#   EMA model), and every checkpoint's `state_dict` holds the EMA weights
#   (the raw ones are under `ema_state_dict`), which is what detection and
#   segmentation load;
# - RandAugment (m9, std 0.5), Mixup 0.8 / CutMix 1.0, label smoothing 0.1,
#   random erasing 0.25 (mmpretrain's Swin pipeline, the same timm
#   augmentations); no gradient clipping; fp32;
# - evaluation as timm's at crop ratio 0.9: short side 248, centre 224,
#   bicubic.
# Change the batch and the lr and EMA momentum must change with it:
# `--auto-scale-lr` scales the lr from 1024; scale the momentum by hand.
_base_ = [
    'mmpretrain::_base_/models/swin_transformer/tiny_224.py',
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/default_runtime.py'
]
# vsa_mm registers its models; vsa_mm.runtime.enable opts in to atomic
# checkpoint writes, weights-only downloads and the eager optimizer step
# under compile (help(vsa_mm.runtime)).
custom_imports = dict(
    imports=['vsa_mm', 'vsa_mm.runtime.enable'], allow_failed_imports=False)

test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='ResizeEdge',
        scale=248,
        edge='short',
        backend='pillow',
        interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=128)
val_dataloader = dict(batch_size=128, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(
    optimizer=dict(
        type='AdamW', lr=1e-3, weight_decay=0.05, eps=1e-8,
        betas=(0.9, 0.999)),
    paramwise_cfg=dict(
        norm_decay_mult=0.0, bias_decay_mult=0.0, flat_decay_mult=0.0))

warmup_epochs = 10
cosine_epochs = 300
cooldown_epochs = 10
# mmengine's LinearLR reaches its end factor at step `end - 1`: ending at
# epoch 11 gives timm's warm-up values at epochs 0-9 exactly, and the peak
# at epoch 10, where the cosine takes over; the cosine reaches 1e-5 at
# epoch 300, which the cool-down keeps.
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-6 / 1e-3,
        by_epoch=True,
        begin=0,
        end=warmup_epochs + 1),
    dict(
        type='CosineAnnealingLR',
        eta_min=1e-5,
        by_epoch=True,
        T_max=cosine_epochs - warmup_epochs,
        begin=warmup_epochs,
        end=cosine_epochs + 1),
]
train_cfg = dict(
    by_epoch=True, max_epochs=cosine_epochs + cooldown_epochs, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=1024)

default_hooks = dict(
    checkpoint=dict(
        type='CheckpointHook',
        interval=1,
        max_keep_ckpts=3,
        save_best='accuracy/top1',
        rule='greater'))
custom_hooks = [
    dict(
        type='EMAHook',
        momentum=8e-5,
        update_buffers=True,
        priority='ABOVE_NORMAL'),
    dict(type='vsa_mm.ExactResumeHook'),
]

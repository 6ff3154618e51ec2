# Tiny variant of swin-tiny-vsa_8xb128_in1k.py for CPU runs on the embedded
# ImageNet-style demo set (python tools/make_demo_data.py). The data (folder
# layout, 4 classes, top-1 only), the image scale (96 instead of 224), the
# schedule (24 epochs, lr 2e-4 for a batch of 8 instead of 1e-3 for 1024),
# the EMA momentum (0.05 instead of 8e-5, so that the average follows a
# 96-iteration run) and the loader (no worker processes) differ, and
# Mixup/CutMix are off: their soft targets keep the loss of a 32-image run
# near its chance value, which would hide whether the model learns.
_base_ = ['../mmpretrain/swin_vsa/swin-tiny-vsa_8xb128_in1k.py']

data_root = 'data/demo/imagenet/'
num_classes = 4
image_size = 96
model = dict(head=dict(num_classes=num_classes), train_cfg=None)
data_preprocessor = dict(num_classes=num_classes)
bgr_mean = [103.53, 116.28, 123.675]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=image_size,
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='RandAugment',
        policies='timm_increasing',
        num_policies=2,
        total_level=10,
        magnitude_level=9,
        magnitude_std=0.5,
        hparams=dict(
            pad_val=[round(x) for x in bgr_mean], interpolation='bicubic')),
    dict(
        type='RandomErasing',
        erase_prob=0.25,
        mode='rand',
        min_area_ratio=0.02,
        max_area_ratio=1 / 3,
        fill_color=bgr_mean,
        fill_std=[57.375, 57.12, 58.395]),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='ResizeEdge',
        scale=int(image_size * 256 / 224),
        edge='short',
        backend='pillow',
        interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=image_size),
    dict(type='PackInputs'),
]
loader = dict(batch_size=8, num_workers=0, persistent_workers=False)
train_dataloader = dict(
    **loader,
    dataset=dict(
        _delete_=True,
        type='CustomDataset',
        data_root=data_root,
        data_prefix='train',
        pipeline=train_pipeline))
val_dataloader = dict(
    **loader,
    dataset=dict(
        _delete_=True,
        type='CustomDataset',
        data_root=data_root,
        data_prefix='val',
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(topk=(1, ))
test_evaluator = val_evaluator

max_epochs = 24
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=0.01,
        by_epoch=True,
        end=1,
        convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=1),
]
optim_wrapper = dict(optimizer=dict(lr=2e-4))
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
default_hooks = dict(
    logger=dict(interval=1), checkpoint=dict(interval=max_epochs))
custom_hooks = [
    dict(
        type='EMAHook',
        momentum=0.05,
        update_buffers=True,
        priority='ABOVE_NORMAL'),
    dict(type='vsa_mm.ExactResumeHook'),
]
randomness = dict(seed=0)

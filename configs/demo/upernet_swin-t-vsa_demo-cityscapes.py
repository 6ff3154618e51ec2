# Tiny variant of upernet_swin-t-vsa_8xb2-40k_cityscapes-512x1024.py for CPU
# runs on the embedded Cityscapes-format demo set
# (python tools/make_demo_data.py). Only the data path, the image scale
# (x0.25), the schedule length and the loader (no worker processes, batch 2)
# differ; the backbone starts from random weights because nothing may be
# downloaded.
_base_ = [
    '../mmseg/swin_vsa/upernet_swin-t-vsa_8xb2-40k_cityscapes-512x1024.py'
]

data_root = 'data/demo/cityscapes/'
scale = 0.25  # of the real recipe's image sizes
crop_size = (int(512 * scale), int(1024 * scale))
image_scale = (int(2048 * scale), int(1024 * scale))
model = dict(
    data_preprocessor=dict(size=crop_size), backbone=dict(init_cfg=None))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(
        type='RandomResize',
        scale=image_scale,
        ratio_range=(0.5, 2.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
loader = dict(num_workers=0, persistent_workers=False)
train_dataloader = dict(
    **loader, dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    **loader, dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader

max_iters = 30
warmup_iters = 5
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-6,
        by_epoch=False,
        begin=0,
        end=warmup_iters),
    dict(
        type='PolyLR',
        eta_min=0.0,
        power=1.0,
        begin=warmup_iters,
        end=max_iters,
        by_epoch=False),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    logger=dict(interval=1), checkpoint=dict(interval=max_iters))
randomness = dict(seed=0)

# COCO instance segmentation recipe of the official VSA detection configs
# (github.com/ViTAE-Transformer/ViTAE-VSA, Object-Detection/configs/): AdamW
# lr 1e-4, weight decay 0.05 except on norms and relative position bias
# tables, linear warm-up over 500 iterations from 0.001 of the lr,
# multi-scale training with short sides 480-800 and the DETR-style crop, 36
# epochs with steps at 27 and 33, 16 images per batch (8 GPUs x 2). The
# published numbers are those of the last epoch.
_base_ = [
    'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
]
# vsa_mm registers its models; vsa_mm.runtime.enable opts in to atomic
# checkpoint writes, weights-only downloads and the eager optimizer step
# under compile (help(vsa_mm.runtime)).
custom_imports = dict(
    imports=['vsa_mm', 'vsa_mm.runtime.enable'], allow_failed_imports=False)
custom_hooks = [dict(type='vsa_mm.ExactResumeHook')]

multi_scale = [(short, 1333) for short in range(480, 801, 32)]
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='RandomChoice',
        transforms=[
            [
                dict(
                    type='RandomChoiceResize',
                    scales=multi_scale,
                    keep_ratio=True)
            ],
            [
                dict(
                    type='RandomChoiceResize',
                    scales=[(400, 1333), (500, 1333), (600, 1333)],
                    keep_ratio=True),
                dict(
                    type='RandomCrop',
                    crop_type='absolute_range',
                    crop_size=(384, 600),
                    allow_negative_crop=True),
                dict(
                    type='RandomChoiceResize',
                    scales=multi_scale,
                    keep_ratio=True),
            ],
        ]),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(batch_size=2, dataset=dict(pipeline=train_pipeline))

max_epochs = 36
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_epochs,
        by_epoch=True,
        milestones=[27, 33],
        gamma=0.1),
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        _delete_=True,
        type='AdamW',
        lr=1e-4,
        betas=(0.9, 0.999),
        weight_decay=0.05),
    paramwise_cfg=dict(
        custom_keys={
            'relative_position_bias_table': dict(decay_mult=0.),
            'norm': dict(decay_mult=0.),
        }))
auto_scale_lr = dict(enable=False, base_batch_size=16)

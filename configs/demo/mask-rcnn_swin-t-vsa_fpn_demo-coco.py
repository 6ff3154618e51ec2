# Tiny variant of mask-rcnn_swin-t-vsa_fpn_ms-crop-1x_coco.py for CPU runs
# on the embedded COCO-format demo set (python tools/make_demo_data.py).
# Only the data (paths, 4 classes), the image scale (x0.3), the schedule
# length, the loader (no worker processes) and the test score threshold
# differ; the backbone starts from random weights because nothing may be
# downloaded.
_base_ = ['../mmdet/swin_vsa/mask-rcnn_swin-t-vsa_fpn_ms-crop-1x_coco.py']

data_root = 'data/demo/coco/'
metainfo = dict(classes=('cat', 'coffee', 'coin', 'horse'))
num_classes = len(metainfo['classes'])
# Every detection is kept (score_thr 0) so that COCO evaluation has results
# to score even after a few dozen iterations from random weights.
model = dict(
    backbone=dict(init_cfg=None),
    roi_head=dict(
        bbox_head=dict(num_classes=num_classes),
        mask_head=dict(num_classes=num_classes)),
    test_cfg=dict(rcnn=dict(score_thr=0.0)))

scale = 0.3  # of the real recipe's image sizes
long_side = int(1333 * scale)
multi_scale = [(int(short * scale), long_side)
               for short in range(480, 801, 32)]
train_pipeline = [
    dict(type='LoadImageFromFile'),
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
                    scales=[(int(short * scale), long_side)
                            for short in (400, 500, 600)],
                    keep_ratio=True),
                dict(
                    type='RandomCrop',
                    crop_type='absolute_range',
                    crop_size=(int(384 * scale), int(600 * scale)),
                    allow_negative_crop=True),
                dict(
                    type='RandomChoiceResize',
                    scales=multi_scale,
                    keep_ratio=True),
            ],
        ]),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(long_side, int(800 * scale)), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor')),
]
loader = dict(num_workers=0, persistent_workers=False)
train_dataloader = dict(
    **loader,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_train2017.json',
        data_prefix=dict(img='train2017/'),
        pipeline=train_pipeline))
val_dataloader = dict(
    **loader,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_val2017.json',
        data_prefix=dict(img='val2017/'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator

max_epochs = 8
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=10),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_epochs,
        by_epoch=True,
        milestones=[6],
        gamma=0.1),
]
default_hooks = dict(
    logger=dict(interval=1), checkpoint=dict(interval=max_epochs))
randomness = dict(seed=0)

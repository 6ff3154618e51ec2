# The 3x recipe shortened to 12 epochs with steps at 8 and 11.
_base_ = ['./coco-instance_ms-crop_adamw-1e-4_3x.py']

max_epochs = 12
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_epochs,
        by_epoch=True,
        milestones=[8, 11],
        gamma=0.1),
]

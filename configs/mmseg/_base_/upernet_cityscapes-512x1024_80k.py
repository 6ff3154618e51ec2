# The 512x1024 recipe trained for 80k iterations.
_base_ = ['./upernet_cityscapes-512x1024_40k.py']

max_iters = 80000
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-6,
        by_epoch=False,
        begin=0,
        end={{_base_.warmup_iters}}),
    dict(
        type='PolyLR',
        eta_min=0.0,
        power=1.0,
        begin={{_base_.warmup_iters}},
        end=max_iters,
        by_epoch=False),
]
train_cfg = dict(max_iters=max_iters, val_interval=8000)
default_hooks = dict(checkpoint=dict(interval=8000))

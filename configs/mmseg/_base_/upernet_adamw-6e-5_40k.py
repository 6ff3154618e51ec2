# UperNet recipe of the VSA Cityscapes tables (spec, section 3; the seed
# gives no optimiser, so this is mmseg's Swin UperNet one): AdamW lr 6e-5,
# weight decay 0.01 except on norms and relative position bias tables, 1500
# linear warm-up iterations then poly decay, 40k iterations. The dataset
# bases add Cityscapes with mmseg's batch of 8 images (4 GPUs x 2).
_base_ = [
    'mmseg::_base_/models/upernet_swin.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_40k.py',
]
custom_imports = dict(imports=['vsa_mm'], allow_failed_imports=False)
custom_hooks = [dict(type='vsa_mm.ExactResumeHook')]

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(
        custom_keys={
            'absolute_pos_embed': dict(decay_mult=0.),
            'relative_position_bias_table': dict(decay_mult=0.),
            'norm': dict(decay_mult=0.),
        }))
max_iters = 40000
warmup_iters = 1500
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0,
         end=warmup_iters),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=warmup_iters,
         end=max_iters, by_epoch=False),
]

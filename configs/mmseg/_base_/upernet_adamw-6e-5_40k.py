# UperNet recipe of the VSA Cityscapes tables. No official VSA segmentation
# code was released; the authors' ViTAEv2 UperNet and mmseg's Swin UperNet
# agree on this one: AdamW lr 6e-5, weight decay 0.01 except on norms and
# relative position bias tables, 1500 linear warm-up iterations then poly
# decay, 40k iterations, UPerHead (512 channels) with an FCN auxiliary head
# (weight 0.4) on stage 3. The batch is the authors' 16 images: 8 GPUs x 2
# (mmseg's own Cityscapes configs use 4 x 2).
_base_ = [
    'mmseg::_base_/models/upernet_swin.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_40k.py',
]
# vsa_mm registers its models; vsa_mm.runtime.enable opts in to atomic
# checkpoint writes, weights-only downloads and the eager optimizer step
# under compile (help(vsa_mm.runtime)).
custom_imports = dict(
    imports=['vsa_mm', 'vsa_mm.runtime.enable'], allow_failed_imports=False)
custom_hooks = [dict(type='vsa_mm.ExactResumeHook')]

auto_scale_lr = dict(enable=False, base_batch_size=16)

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

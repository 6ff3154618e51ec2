# Swin-Small + VSA on ImageNet-1K (recipe: ../_base_/), with Swin's
# gradient clipping.
_base_ = ['../_base_/in1k_8xb128_adamw-5e-4.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='vsa_mm.SwinTransformerVSA',
        arch='small',
        drop_path_rate=0.3,
        out_indices=(3, )))
optim_wrapper = dict(clip_grad=dict(max_norm=5.0))

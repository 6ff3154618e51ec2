# ViTAEv2*-S + VSA (VSA in every cell) on ImageNet-1K
# (recipe: ../_base_/, evaluated at the official crop 0.9).
# The seed does not state the stochastic depth rate; 0.1 is used.
_base_ = ['../_base_/in1k_8xb128_adamw-5e-4_crop0.9.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='vsa_mm.ViTAEv2',
        arch='s-vsa',
        drop_path_rate=0.1,
        out_indices=(3, )),
    head=dict(in_channels=512))

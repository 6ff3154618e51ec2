# Swin-Tiny + VSA on ImageNet-1K, 8 GPUs x 128 images: the authors' Swin
# recipe (../_base_/swin_vsa_in1k_recipe.py), drop path 0.2 as Swin-T.
_base_ = ['../_base_/swin_vsa_in1k_recipe.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='vsa_mm.SwinTransformerVSA',
        arch='tiny',
        drop_path_rate=0.2,
        out_indices=(3, )))

# ViTAEv2*-S (window attention in all stages) on ImageNet-1K, 8 GPUs x 128
# images, with the recipe of ViTAEv2-S (../_base_/vitaev2_in1k_recipe.py).
# No official training code exists for this model; it is trained exactly as
# ViTAEv2-S (drop path 0.1, official per-stage layout), so that the two
# baselines differ only in their attention.
_base_ = ['../_base_/vitaev2_in1k_recipe.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='vsa_mm.ViTAEv2',
        arch='s-window',
        drop_path_rate=0.1,
        drop_path_schedule='official',
        out_indices=(3, )),
    head=dict(in_channels=512))

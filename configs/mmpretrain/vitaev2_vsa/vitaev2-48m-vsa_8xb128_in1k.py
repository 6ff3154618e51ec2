# ViTAEv2*-48M + VSA (VSA in every cell, wide PCM) on ImageNet-1K, 1024
# images per iteration (the official run: 16 GPUs x 64): the official
# ViTAE-VSA recipe (../_base_/vitaev2_in1k_recipe.py) with the values of
# its script ViTAEv2_VSA_widePCM_48M.sh: weight decay 0.055, drop path 0.25
# laid out per stage as the official code does.
_base_ = ['../_base_/vitaev2_in1k_recipe.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='vsa_mm.ViTAEv2',
        arch='48m-vsa',
        drop_path_rate=0.25,
        drop_path_schedule='official',
        out_indices=(3, )),
    head=dict(in_channels=768))
optim_wrapper = dict(optimizer=dict(weight_decay=0.055))

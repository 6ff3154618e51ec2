# ViTAEv2*-S + VSA (VSA in every cell) on ImageNet-1K, 8 GPUs x 128 images:
# the official ViTAE-VSA recipe (../_base_/vitaev2_in1k_recipe.py, script
# ViTAEv2_VSA_S.sh): weight decay 0.05, drop path 0.1 laid out per stage as
# the official code does (drop_path_schedule='official').
_base_ = ['../_base_/vitaev2_in1k_recipe.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='vsa_mm.ViTAEv2',
        arch='s-vsa',
        drop_path_rate=0.1,
        drop_path_schedule='official',
        out_indices=(3, )),
    head=dict(in_channels=512))

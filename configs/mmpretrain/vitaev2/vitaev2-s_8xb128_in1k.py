# ViTAEv2-S (window attention in stages 1-2, full attention in 3-4) on
# ImageNet-1K, 8 GPUs x 128 images: the official ViTAEv2 recipe
# (../_base_/vitaev2_in1k_recipe.py, script ViTAEv2_S.sh): weight decay
# 0.05, drop path 0.1 (main.py's default) laid out per stage as the
# official code does.
_base_ = ['../_base_/vitaev2_in1k_recipe.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='vsa_mm.ViTAEv2',
        arch='s',
        drop_path_rate=0.1,
        drop_path_schedule='official',
        out_indices=(3, )),
    head=dict(in_channels=512))

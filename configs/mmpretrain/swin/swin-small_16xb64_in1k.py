# Swin-S, the ImageNet-1K baseline of Swin-S + VSA: mmpretrain's own config
# (Swin's recipe, 16 GPUs x 64 images), unchanged.
_base_ = ['mmpretrain::swin_transformer/swin-small_16xb64_in1k.py']

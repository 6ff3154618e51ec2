# Swin-T, the ImageNet-1K baseline of Swin-T + VSA: mmpretrain's own config
# (Swin's recipe, 16 GPUs x 64 images), unchanged.
_base_ = ['mmpretrain::swin_transformer/swin-tiny_16xb64_in1k.py']

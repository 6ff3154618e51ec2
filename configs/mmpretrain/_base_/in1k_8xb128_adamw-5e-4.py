# The VSA authors' ImageNet-1K optimiser (AdamW, lr 5e-4 at batch 1024 = 8
# GPUs x 128, weight decay 0.05) on mmpretrain's Swin recipe: 300 epochs,
# cosine with 20 warm-up epochs, RandAugment, Mixup/CutMix, label smoothing,
# random erasing, 224x224. The classifier skeleton (global average pooling,
# linear head) is mmpretrain's Swin-T one; configs replace its backbone.
_base_ = [
    'mmpretrain::_base_/models/swin_transformer/tiny_224.py',
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py'
]
custom_imports = dict(imports=['vsa_mm'], allow_failed_imports=False)

train_dataloader = dict(batch_size=128)
val_dataloader = dict(batch_size=128)
test_dataloader = dict(batch_size=128)

optim_wrapper = dict(optimizer=dict(lr=5e-4))
custom_hooks = [dict(type='vsa_mm.ExactResumeHook')]

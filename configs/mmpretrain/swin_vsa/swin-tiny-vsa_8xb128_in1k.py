# Swin-Tiny + VSA on ImageNet-1K at 224x224, 8 GPUs x 128 images.
# mmpretrain's Swin recipe (300 epochs, AdamW, cosine with 20 warm-up
# epochs, RandAugment, Mixup/CutMix, label smoothing, random erasing) with
# the VSA authors' learning rate: 5e-4 at batch 1024.
_base_ = [
    'mmpretrain::_base_/models/swin_transformer/tiny_224.py',
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py'
]
custom_imports = dict(imports=['vsa_mm'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='vsa_mm.SwinTransformerVSA',
        arch='tiny',
        drop_path_rate=0.2,
        out_indices=(3, )))

train_dataloader = dict(batch_size=128)
val_dataloader = dict(batch_size=128)
test_dataloader = dict(batch_size=128)

optim_wrapper = dict(optimizer=dict(lr=5e-4), clip_grad=dict(max_norm=5.0))

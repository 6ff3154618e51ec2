# ViTAEv2*-S (window attention in all stages), the
# baseline of the VSA paper, on ImageNet-1K at 224x224, 8 GPUs x 128 images.
# The official ViTAEv2 script's optimiser (AdamW, lr 5e-4 at batch 1024,
# weight decay 0.05) on mmpretrain's Swin recipe: 300 epochs, cosine with 20
# warm-up epochs, RandAugment, Mixup/CutMix, label smoothing, random erasing.
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
        type='vsa_mm.ViTAEv2',
        arch='s-window',
        drop_path_rate=0.1,
        out_indices=(3, )),
    head=dict(in_channels=512))

# The official ViTAE evaluation (timm, crop_pct 0.9): short edge to 248.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='ResizeEdge',
        scale=248,
        edge='short',
        backend='pillow',
        interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=128)
val_dataloader = dict(batch_size=128, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(lr=5e-4))

# ViTAEv2*-48M + VSA pre-trained on ImageNet-22K, fine-tuned on ImageNet-1K
# at 224x224, 8 GPUs x 128 images. Set `load_from` to an ImageNet-22K
# checkpoint converted with tools/model_converters/vitaev2_vsa_to_vsa_mm.py
# (its 22K head does not load into the 1K head and stays new). The seed gives
# no fine-tuning recipe; this uses Swin's published ImageNet-22K -> 1K one:
# 30 epochs, AdamW lr 2e-5 at batch 1024, weight decay 1e-8, 5 warm-up
# epochs, on the same augmentations.
_base_ = ['./vitaev2-48m-vsa_8xb128_in1k.py']

load_from = None

optim_wrapper = dict(optimizer=dict(lr=2e-5, weight_decay=1e-8))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-3,
        by_epoch=True,
        end=5,
        convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-7, by_epoch=True, begin=5)
]
train_cfg = dict(by_epoch=True, max_epochs=30, val_interval=1)

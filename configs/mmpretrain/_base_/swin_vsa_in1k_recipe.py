# ImageNet-1K recipe of the authors' Swin + VSA runs: Swin's trainer as the
# authors' QFormer repository ships it (github.com/ViTAE-Transformer/QFormer,
# main.py, config.py, lr_scheduler.py, optimizer.py), for 8 GPUs x 128
# images (1024 per iteration):
# - AdamW, betas (0.9, 0.999), eps 1e-8, peak lr 1e-3 at batch 1024 (base
#   lr 5e-4 scaled by batch / 512), weight decay 0.05, none on biases,
#   norms and relative position bias tables; gradient clipping at 5.0;
# - 20 warm-up epochs from 1e-6, cosine down to 1e-5 over 300 epochs,
#   updated every iteration (mmpretrain's Swin schedule). As for ViTAEv2,
#   the official cosine runs over all 300 epochs with the warm-up
#   overlapping it, while mmengine's starts at the peak after the warm-up;
# - EMA of the weights, decay 0.99996 per 512 images: QFormer's main.py
#   raises EMA_DECAY to the power batch * world / 512 (line 416) and writes
#   it back into the config (line 421) before ModelEma is built from it
#   (line 106), so at 1024 images per iteration the decay is 0.99996 ** 2
#   = 0.99992: momentum 8e-5. Validation runs on the EMA weights, the best
#   EMA top-1 checkpoint is kept, and the checkpoints' `state_dict` holds
#   the EMA weights;
# - RandAugment, Mixup 0.8 / CutMix 1.0, label smoothing 0.1, random
#   erasing 0.25; evaluation at crop ratio 0.875 (short side 256), bicubic.
_base_ = [
    'mmpretrain::_base_/models/swin_transformer/tiny_224.py',
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py'
]
# vsa_mm registers its models; vsa_mm.runtime.enable opts in to atomic
# checkpoint writes, weights-only downloads and the eager optimizer step
# under compile (help(vsa_mm.runtime)).
custom_imports = dict(
    imports=['vsa_mm', 'vsa_mm.runtime.enable'], allow_failed_imports=False)

train_dataloader = dict(batch_size=128)
val_dataloader = dict(batch_size=128)
test_dataloader = dict(batch_size=128)

optim_wrapper = dict(
    optimizer=dict(lr=1e-3, weight_decay=0.05), clip_grad=dict(max_norm=5.0))

default_hooks = dict(
    checkpoint=dict(
        type='CheckpointHook',
        interval=1,
        max_keep_ckpts=3,
        save_best='accuracy/top1',
        rule='greater'))
custom_hooks = [
    dict(
        type='EMAHook',
        momentum=8e-5,
        update_buffers=True,
        priority='ABOVE_NORMAL'),
    dict(type='vsa_mm.ExactResumeHook'),
]

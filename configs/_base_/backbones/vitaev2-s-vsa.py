# ViTAEv2*-S + VSA, four feature maps for dense prediction. Each row config
# sets its drop path. The pretrained weights are the EMA weights of our
# ImageNet-1K classifier (configs/mmpretrain/vitaev2_vsa/: the `state_dict`
# of its checkpoints holds the EMA weights), as the official detection
# configs load them (`load_ema=True`), or the authors' weights converted by
# tools/model_converters/vitaev2_vsa_to_vsa_mm.py (which takes the EMA state
# when the file has one).
backbone = dict(
    type='vsa_mm.ViTAEv2',
    arch='s-vsa',
    out_indices=(0, 1, 2, 3),
    init_cfg=dict(
        type='Pretrained',
        checkpoint='checkpoints/vitaev2-s-vsa_8xb128_in1k.pth',
        prefix='backbone.'))
backbone_channels = [64, 128, 256, 512]

# Swin-Tiny + VSA, four feature maps for dense prediction. Each row config
# sets its drop path. The pretrained weights are the EMA weights of our
# ImageNet-1K classifier (configs/mmpretrain/swin_vsa/: the `state_dict` of
# its checkpoints holds the EMA weights), or the authors' weights converted
# by tools/model_converters/swin_to_vsa_mm.py --vsa (which takes the EMA state
# when the file has one).
backbone = dict(
    type='vsa_mm.SwinTransformerVSA',
    arch='tiny',
    out_indices=(0, 1, 2, 3),
    init_cfg=dict(
        type='Pretrained',
        checkpoint='checkpoints/swin-tiny-vsa_8xb128_in1k.pth',
        prefix='backbone.'))
backbone_channels = [96, 192, 384, 768]

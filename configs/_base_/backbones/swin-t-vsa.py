# Swin-Tiny + VSA, four feature maps for dense prediction. The pretrained
# weights are our ImageNet-1K classifier (configs/mmpretrain/swin_vsa/) or
# the authors' weights converted by
# tools/model_converters/swin_vsa_to_vsa_mm.py.
backbone = dict(
    type='vsa_mm.SwinTransformerVSA',
    arch='tiny',
    drop_path_rate=0.2,
    out_indices=(0, 1, 2, 3),
    init_cfg=dict(
        type='Pretrained',
        checkpoint='checkpoints/swin-tiny-vsa_8xb128_in1k.pth',
        prefix='backbone.'))
backbone_channels = [96, 192, 384, 768]

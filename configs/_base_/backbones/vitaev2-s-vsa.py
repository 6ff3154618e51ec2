# ViTAEv2*-S + VSA, four feature maps for dense prediction. The pretrained
# weights are our ImageNet-1K classifier (configs/mmpretrain/vitaev2_vsa/) or
# the authors' weights converted by
# tools/model_converters/vitaev2_vsa_to_vsa_mm.py.
backbone = dict(
    type='vsa_mm.ViTAEv2',
    arch='s-vsa',
    drop_path_rate=0.2,
    out_indices=(0, 1, 2, 3),
    init_cfg=dict(
        type='Pretrained',
        checkpoint='checkpoints/vitaev2-s-vsa_8xb128_in1k.pth',
        prefix='backbone.'))
backbone_channels = [64, 128, 256, 512]

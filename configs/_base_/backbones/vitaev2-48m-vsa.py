# ViTAEv2*-48M + VSA, four feature maps for dense prediction. Each row config
# sets its drop path. Pretrained weights: the EMA weights of our ImageNet-1K
# classifier or the authors' converted ones, as in vitaev2-s-vsa.py.
backbone = dict(
    type='vsa_mm.ViTAEv2',
    arch='48m-vsa',
    out_indices=(0, 1, 2, 3),
    init_cfg=dict(
        type='Pretrained',
        checkpoint='checkpoints/vitaev2-48m-vsa_8xb128_in1k.pth',
        prefix='backbone.'))
backbone_channels = [96, 192, 384, 768]

# ViTAEv2*-S (window attention in all stages), four feature maps for dense
# prediction. Each row config sets its drop path. Pretrained weights: the EMA
# weights of our ImageNet-1K classifier (configs/mmpretrain/vitaev2/).
backbone = dict(
    type='vsa_mm.ViTAEv2',
    arch='s-window',
    out_indices=(0, 1, 2, 3),
    init_cfg=dict(
        type='Pretrained',
        checkpoint='checkpoints/vitaev2-s-window_8xb128_in1k.pth',
        prefix='backbone.'))
backbone_channels = [64, 128, 256, 512]

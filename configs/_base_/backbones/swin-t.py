# mmseg's Swin-T (shifted windows) with OpenMMLab's ImageNet-1K weights, as
# mmseg's Swin UperNet configs use it: the baseline of the Cityscapes table.
backbone = dict(
    type='mmseg.SwinTransformer',
    pretrain_img_size=224,
    embed_dims=96,
    patch_size=4,
    window_size=7,
    mlp_ratio=4,
    depths=[2, 2, 6, 2],
    num_heads=[3, 6, 12, 24],
    strides=(4, 2, 2, 2),
    out_indices=(0, 1, 2, 3),
    qkv_bias=True,
    qk_scale=None,
    patch_norm=True,
    drop_rate=0.,
    attn_drop_rate=0.,
    drop_path_rate=0.3,
    use_abs_pos_embed=False,
    act_cfg=dict(type='GELU'),
    norm_cfg=dict(type='LN', requires_grad=True),
    init_cfg=dict(
        type='Pretrained',
        checkpoint='https://download.openmmlab.com/mmsegmentation/v0.5/'
        'pretrain/swin/swin_tiny_patch4_window7_224_20220317-1cdeb081.pth'))
backbone_channels = [96, 192, 384, 768]

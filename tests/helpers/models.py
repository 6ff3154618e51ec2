"""Small models and states shared by tests."""
#: A Swin + VSA arch small enough for a CPU.
SWIN_SMALL = dict(embed_dims=32, depths=[1, 1, 1, 1], num_heads=[1, 2, 4, 8])


def mmpretrain_classifier(backbone: dict, num_classes: int, in_channels: int):
    """mmpretrain's ``ImageClassifier`` around a vsa_mm backbone config:
    global average pooling and a linear head with cross-entropy."""
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(
            dict(
                type='ImageClassifier',
                backbone=backbone,
                neck=dict(type='GlobalAveragePooling'),
                head=dict(
                    type='LinearClsHead',
                    num_classes=num_classes,
                    in_channels=in_channels,
                    loss=dict(type='CrossEntropyLoss'))))

# The same recipe, evaluated as the official ViTAE code does (timm,
# crop_pct 0.9): short edge to 248, centre crop 224.
_base_ = ['./in1k_8xb128_adamw-5e-4.py']

test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='ResizeEdge',
        scale=248,
        edge='short',
        backend='pillow',
        interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

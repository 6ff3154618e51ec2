# ViTAEv2*-B + VSA pre-trained on ImageNet-22K, fine-tuned on ImageNet-1K
# (the same fine-tuning recipe as the 48M config it inherits).
_base_ = ['./vitaev2-48m-vsa_in21k-pre_8xb128_in1k.py']

model = dict(
    backbone=dict(arch='b-vsa', drop_path_rate=0.3),
    head=dict(in_channels=1024))

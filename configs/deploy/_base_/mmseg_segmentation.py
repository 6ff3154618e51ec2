# mmdeploy's mmseg codebase settings: the exported graph ends in the argmax,
# so it outputs the (N, 1, H, W) class map.
_base_ = ['./onnxruntime.py']
codebase_config = dict(type='mmseg', task='Segmentation', with_argmax=True)

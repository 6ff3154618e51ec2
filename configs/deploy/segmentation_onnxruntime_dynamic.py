# Semantic segmentation (UperNet) at any batch size and image size.
_base_ = ['./_base_/mmseg_segmentation.py']
onnx_config = dict(
    dynamic_axes=dict(
        input={
            0: 'batch',
            2: 'height',
            3: 'width'
        },
        output={
            0: 'batch',
            2: 'height',
            3: 'width'
        }))

# Instance segmentation (Mask R-CNN) at any batch size and image size: the
# dynamic detection export plus the masks (as in
# instance-seg_onnxruntime_static.py).
_base_ = ['./detection_onnxruntime_dynamic.py']
onnx_config = dict(
    output_names=['dets', 'labels', 'masks'],
    dynamic_axes=dict(masks={
        0: 'batch',
        1: 'num_dets'
    }))
codebase_config = dict(post_processing=dict(export_postprocess_mask=False))

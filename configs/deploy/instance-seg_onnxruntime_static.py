# Instance segmentation (Mask R-CNN): boxes, labels and per-box masks at the
# size of the image given at export time. The masks are the mask head's
# 28 x 28 outputs; they are pasted into the image when the outputs are read.
_base_ = ['./_base_/mmdet_detection.py']
onnx_config = dict(output_names=['dets', 'labels', 'masks'])
codebase_config = dict(post_processing=dict(export_postprocess_mask=False))

# Semantic segmentation (UperNet) at the size of the image given at export
# time.
_base_ = ['./_base_/mmseg_segmentation.py']

# Object detection (boxes and labels) at the size of the image given at
# export time.
_base_ = ['./_base_/mmdet_detection.py']

# mmdeploy's mmdet codebase settings. mmdeploy rewrites the heads'
# post-processing (RPN proposals, NMS); where the model's test_cfg lacks a
# value it takes it from post_processing. score_threshold is 0 because the
# only head that falls back to it is Mask R-CNN's RPN, which mmdet does not
# threshold at all (the R-CNN head uses test_cfg.rcnn.score_thr).
# docs/deployment.md says how the outputs differ from mmdet's.
_base_ = ['./onnxruntime.py']
onnx_config = dict(output_names=['dets', 'labels'])
codebase_config = dict(
    type='mmdet',
    task='ObjectDetection',
    model_type='end2end',
    post_processing=dict(
        score_threshold=0.0,
        confidence_threshold=0.005,
        iou_threshold=0.5,
        max_output_boxes_per_class=200,
        pre_top_k=5000,
        keep_top_k=100,
        background_label_id=-1))

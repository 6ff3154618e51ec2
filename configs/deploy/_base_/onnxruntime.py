# ONNX through PyTorch's TorchScript exporter (the one mmdeploy 1.3.1 drives),
# run by ONNX Runtime. Opset 11 is mmdeploy's default; vsa_mm's operator
# exports at opset 11 and later.
onnx_config = dict(
    type='onnx',
    export_params=True,
    keep_initializers_as_inputs=False,
    opset_version=11,
    save_file='end2end.onnx',
    input_names=['input'],
    output_names=['output'],
    input_shape=None,
    optimize=True)
backend_config = dict(type='onnxruntime')

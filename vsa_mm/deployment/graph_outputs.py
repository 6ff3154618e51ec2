"""Reading a module's outputs out of an exported end-to-end ONNX graph.

PyTorch's TorchScript exporter names every node after the module that made
it (``/neck/fpn_convs.0/conv/Conv``). The values a module scope hands to the
rest of the graph (an FPN's maps, which the heads read) can therefore be
found by name and added to the graph's outputs, so that ONNX Runtime
returns them beside the detections: what the backbone and neck computed can
be compared with PyTorch directly, before any post-processing.
"""
from typing import List

import onnx


def scope_outputs(model: onnx.ModelProto, scope: str) -> List[str]:
    """Values made inside ``scope`` and read outside it, in graph order.

    Args:
        model (onnx.ModelProto): An exported model.
        scope (str): A module's name, e.g. ``'neck'`` or ``'backbone'``.

    Returns:
        list[str]: The value names (empty when no node is in the scope).
    """
    prefix = f'/{scope}/'
    graph_outputs = {value.name for value in model.graph.output}
    read_outside = set(graph_outputs)
    for node in model.graph.node:
        if not node.name.startswith(prefix):
            read_outside.update(node.input)
    return [
        value for node in model.graph.node if node.name.startswith(prefix)
        for value in node.output if value in read_outside
    ]


def with_outputs(model: onnx.ModelProto, names: List[str]) -> bytes:
    """A copy of ``model`` that also outputs ``names``, serialised.

    Args:
        model (onnx.ModelProto): An exported model (left unchanged).
        names (list[str]): Values to output (float32, any shape).

    Returns:
        bytes: The model, for ``onnxruntime.InferenceSession``.
    """
    extended = onnx.ModelProto()
    extended.CopyFrom(model)
    present = {value.name for value in extended.graph.output}
    extended.graph.output.extend(
        onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None)
        for name in names if name not in present)
    return extended.SerializeToString()

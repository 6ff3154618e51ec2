"""FLOP counting that sees vsa_mm's operators.

``mmengine.analysis`` traces the model with ``torch.jit`` and counts the
operators it knows; every OpenMMLab ``get_flops`` tool (mmpretrain, mmdet,
mmseg) goes through its ``get_model_complexity_info``. vsa_mm's operators
are taught to it here, by name: the bilinear gather
(``vsa_mm::bilinear_gather``) and the fused attention
(``vsa_mm::fused_varied_window_attention``). Like mmengine (and fvcore), one
multiply-add counts as one FLOP; element-wise operations, normalisation and
softmax are not counted.

:func:`register_flop_handles`, called when :mod:`vsa_mm` is imported, adds
their handles to MMEngine's default table (a registration: handles MMEngine
has are kept), so the standard tools count them without any change
(``VSA_MM_FLOP_HANDLES=0`` leaves them out). :func:`count_flops_and_params`
also counts PyTorch's ``scaled_dot_product_attention`` (the full attention
of the ViTAEv2 baselines), which MMEngine does not know.
"""
from typing import Any, List, Tuple

import torch.nn as nn
from mmengine.analysis import (FlopAnalyzer, complexity_analysis,
                               parameter_count)
from mmengine.analysis.jit_handles import generic_activation_jit, get_shape

from vsa_mm.compat import FunctionOperator
from vsa_mm.env_switches import switch
from vsa_mm.models.layers.backends.gather import (BILINEAR_GATHER_OP,
                                                  bilinear_gather)
from vsa_mm.models.layers.backends.triton_fused import (
    FUSED_OP, fused_attention_macs, fused_varied_window_attention)


def _traced_name(name: str, op: object) -> str:
    """How ``torch.jit.trace`` records the operator ``op`` named ``name``:
    by that name, or as the ``prim::PythonOp`` of its
    ``torch.autograd.Function`` on a torch without custom operators."""
    return op.traced_name if isinstance(op, FunctionOperator) else name


GATHER_OP = _traced_name(BILINEAR_GATHER_OP, bilinear_gather)
SDPA_OP = 'aten::scaled_dot_product_attention'


def bilinear_gather_flops(inputs: List[Any], outputs: List[Any]) -> int:
    """Multiply-adds of the weighted K-neighbour gather.

    The traced inputs are ``(rows (R, C), index (S, K), weights (S, K))``
    and the output is ``(S, C)``: ``S * K * C``.
    """
    samples, neighbours = get_shape(inputs[1])
    channels = get_shape(outputs[0])[-1]
    return samples * neighbours * channels


def scaled_dot_product_attention_flops(inputs: List[Any],
                                       outputs: List[Any]) -> int:
    """Multiply-adds of ``q @ k^T`` and ``attn @ v``.

    The traced inputs start with ``q (..., L, E)``, ``k (..., S, E)`` and
    ``v (..., S, Ev)``.
    """
    q_shape, _, v_shape = (get_shape(v) for v in inputs[:3])
    batch = 1
    for size in q_shape[:-2]:
        batch *= size
    queries, dims = q_shape[-2:]
    keys, value_dims = v_shape[-2:]
    return batch * queries * keys * (dims + value_dims)


def fused_attention_flops(inputs: List[Any], outputs: List[Any]) -> int:
    """Multiply-adds of the fused attention (``backend='triton'``).

    The traced outputs are ``(out (B, H, W, D), lse (B, nW, h, N))``; see
    :func:`~vsa_mm.models.layers.backends.triton_fused.fused_attention_macs`.
    """
    return fused_attention_macs(get_shape(outputs[0]), get_shape(outputs[1]))


#: FLOP handles of vsa_mm's operators, by traced name.
OPERATOR_FLOP_HANDLES = {
    GATHER_OP: bilinear_gather_flops,
    _traced_name(FUSED_OP, fused_varied_window_attention):
    fused_attention_flops,
}
#: The handles :func:`count_flops_and_params` adds to MMEngine's.
FLOP_HANDLES = {
    **OPERATOR_FLOP_HANDLES,
    SDPA_OP: scaled_dot_product_attention_flops,
}


def register_flop_handles() -> bool:
    """Teach MMEngine's FLOP and activation counters vsa_mm's operators.

    Adds :data:`OPERATOR_FLOP_HANDLES` to the handles every ``FlopAnalyzer``
    (and so ``mmengine.analysis.get_model_complexity_info``) starts with,
    and counts the gather's output in ``ActivationAnalyzer``. Handles
    MMEngine already has are kept. Called by ``import vsa_mm``; silent.

    Returns:
        bool: Whether the handles are registered (False when
        ``VSA_MM_FLOP_HANDLES=0``).
    """
    if not switch('VSA_MM_FLOP_HANDLES', default=True):
        return False
    for name, handle in OPERATOR_FLOP_HANDLES.items():
        complexity_analysis._DEFAULT_SUPPORTED_FLOP_OPS.setdefault(
            name, handle)
    complexity_analysis._DEFAULT_SUPPORTED_ACT_OPS.setdefault(
        GATHER_OP, generic_activation_jit())
    return True


def count_flops_and_params(model: nn.Module,
                           inputs: Tuple[Any, ...]) -> Tuple[int, int]:
    """FLOPs (multiply-adds) of one forward pass, and parameters.

    Args:
        model (nn.Module): The model, in the mode to analyse.
        inputs (tuple): Positional inputs of ``model.forward``.

    Returns:
        tuple[int, int]: FLOPs and the number of parameters.
    """
    analyzer = FlopAnalyzer(model, inputs)
    analyzer.set_op_handle(**FLOP_HANDLES)
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    return analyzer.total(), parameter_count(model)['']

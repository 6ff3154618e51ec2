"""vsa_mm: Varied-Size Window Attention for the OpenMMLab 2.x stack.

Importing the package (for example through a config's
``custom_imports = dict(imports=['vsa_mm'], allow_failed_imports=False)``)
registers, and changes nothing of MMEngine's or torch's but one loader
(last item):

- its models, metrics and hooks in the ``vsa_mm`` registry scope;
- its ``torch.library`` operators (``vsa_mm::bilinear_gather``,
  ``vsa_mm::fused_varied_window_attention`` and their backward operators),
  with FLOP formulas for ``torch.utils.flop_counter``;
- a symbolic function for ``vsa_mm::bilinear_gather`` in PyTorch's
  TorchScript ONNX exporter, the one mmdeploy drives
  (:mod:`vsa_mm.deployment.torchscript_symbolic`);
- handles for those operators in MMEngine's FLOP counter
  (:mod:`vsa_mm.analysis`; ``VSA_MM_FLOP_HANDLES=0`` leaves them out);
- the types of MMEngine checkpoints on torch's ``weights_only`` allowlist
  (:mod:`vsa_mm.checkpoint.safe_load`; ``VSA_MM_SAFE_GLOBALS=0`` leaves them
  out), so that any MMEngine run's checkpoint loads on torch >= 2.6;
  where MMEngine's loader of local checkpoints would unpickle code (torch
  < 2.6, or the onedl-mmengine fork), that loader becomes a weights-only
  one.

It logs nothing. Three changes to how MMEngine itself runs (atomic
checkpoint writes, weights-only downloads, the eager optimizer step under
``compile``) are a separate, explicit opt-in: :mod:`vsa_mm.runtime`.
"""
from . import engine  # noqa: F401  registers the hooks
from . import evaluation  # noqa: F401  registers the metrics
from . import models  # noqa: F401  registers the models and operators
from .analysis import register_flop_handles
from .checkpoint.safe_load import register_mmengine_safe_globals
from .deployment.torchscript_symbolic import \
    register as register_onnx_symbolics
from .engine import ExactResumeHook, RequirePretrainedHook
from .version import __version__

register_mmengine_safe_globals()
register_flop_handles()
register_onnx_symbolics()

__all__ = ['__version__', 'ExactResumeHook', 'RequirePretrainedHook']

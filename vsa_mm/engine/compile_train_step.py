"""MMEngine's ``compile=True`` with the optimizer step left eager.

With ``compile`` in a config, MMEngine's Runner wraps the model's whole
``train_step`` in ``torch.compile``: the forward pass, the loss, backward
and the optimizer step. Two things then go wrong in the optimizer step:

- dynamo cannot iterate the parameter groups of an optimizer that MMEngine
  built from a config with ``paramwise_cfg``: they are ``ConfigDict``
  objects, and tracing ``AdamW.step`` stops with
  ``InternalTorchDynamoError: 'UserDefinedDictVariable' object has no
  attribute 'items'`` (torch 2.14, MMEngine 0.10.7);
- the learning rate is a Python float that the schedulers change, so a
  traced step would be recompiled at every change.

:func:`register_eager_optimizer_step` (applied when :mod:`vsa_mm` is
imported, unless ``VSA_MM_EAGER_OPTIMIZER_STEP=0``) makes the Runner, when
it compiles ``train_step``, run every optimizer wrapper's ``step`` outside
the compiler (``torch.compiler.disable``). The model and its loss are still
compiled; only the parameter update runs eagerly.
"""
import functools
from typing import Iterator, Union

import torch
from mmengine.optim import OptimWrapper, OptimWrapperDict
from mmengine.runner import Runner

from .side_effects import announce, enabled

EAGER_OPTIMIZER_STEP_SWITCH = 'VSA_MM_EAGER_OPTIMIZER_STEP'
_MARK = '_vsa_mm_eager_optimizer_step'


def _wrappers(
    optim_wrapper: Union[OptimWrapper, OptimWrapperDict]
) -> Iterator[OptimWrapper]:
    if isinstance(optim_wrapper, OptimWrapperDict):
        yield from optim_wrapper.values()
    else:
        yield optim_wrapper


def keep_optimizer_step_eager(
        optim_wrapper: Union[OptimWrapper, OptimWrapperDict]) -> None:
    """Make each wrapper's ``step`` run outside ``torch.compile``.

    Idempotent. ``update_params`` calls ``self.step``, so a compiled
    ``train_step`` breaks its graph there and updates the parameters
    eagerly.

    Args:
        optim_wrapper (OptimWrapper | OptimWrapperDict): The Runner's
            built optimizer wrapper(s).
    """
    for wrapper in _wrappers(optim_wrapper):
        if not getattr(wrapper.step, _MARK, False):
            eager_step = torch.compiler.disable(wrapper.step)
            setattr(eager_step, _MARK, True)
            wrapper.step = eager_step


def register_eager_optimizer_step() -> bool:
    """Patch ``Runner._maybe_compile`` to keep optimizer steps eager when it
    compiles ``train_step``.

    Idempotent; logged once. Does nothing when the environment variable
    ``VSA_MM_EAGER_OPTIMIZER_STEP`` is ``0``.

    Returns:
        bool: Whether the patch is in place.
    """
    if not enabled(EAGER_OPTIMIZER_STEP_SWITCH):
        return False
    original = Runner._maybe_compile
    if not getattr(original, _MARK, False):

        @functools.wraps(original)
        def _maybe_compile(self: Runner, target: str) -> None:
            if target == 'train_step' and self.cfg.get('compile'):
                keep_optimizer_step_eager(self.optim_wrapper)
            original(self, target)

        setattr(_maybe_compile, _MARK, True)
        Runner._maybe_compile = _maybe_compile
    announce(
        'eager_optimizer_step',
        'MMEngine\'s compile=True compiles train_step with the optimizer '
        'step left eager (vsa_mm.engine.keep_optimizer_step_eager); '
        f'{EAGER_OPTIMIZER_STEP_SWITCH}=0 turns this off')
    return True

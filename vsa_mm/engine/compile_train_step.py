"""MMEngine's ``compile=True`` with the optimizer step left eager.

With ``compile`` in a config, MMEngine's Runner wraps the model's whole
``train_step`` in ``torch.compile``: the forward pass, the loss, backward
and the optimizer step. Two things then go wrong in the optimizer step:

- dynamo cannot iterate the parameter groups of an optimizer that MMEngine
  built from a config with ``paramwise_cfg``: they are ``ConfigDict``
  objects, and tracing ``AdamW.step`` stops with
  ``InternalTorchDynamoError: 'UserDefinedDictVariable' object has no
  attribute 'items'``;
- the learning rate is a Python float that the schedulers change, so a
  traced step would be recompiled at every change.

:func:`keep_optimizer_step_eager` makes every optimizer wrapper's ``step``
run outside the compiler (``torch.compiler.disable``); the runtime opt-in
(:func:`vsa_mm.runtime.install`) has the Runner call it when it compiles
``train_step``. The model and its loss are still compiled; only the
parameter update runs eagerly.
"""
from typing import Iterator, Union

import torch
from mmengine.optim import OptimWrapper, OptimWrapperDict

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

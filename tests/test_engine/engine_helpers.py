"""Helpers of the engine tests: a toy model and its Runner."""
import uuid
from pathlib import Path
from typing import Any, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.runner import Runner

REPO = Path(__file__).resolve().parents[2]


def unique_name(name: str) -> str:
    """``name`` plus a random suffix, for a Runner's ``experiment_name``.

    MMEngine names a Runner's visualizer (a process-wide instance) after
    the experiment, by default the start time to the second: two Runners
    built in the same second in one process then share one, and the second
    writes into the first one's work dir.
    """
    return f'{name}_{uuid.uuid4().hex[:8]}'


class ToyRegressor(BaseModel):
    """A linear regressor, the smallest model an MMEngine Runner trains."""

    def __init__(self, init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.linear = nn.Linear(4, 1)

    def forward(self, inputs, targets, mode='tensor'):
        out = self.linear(inputs)
        if mode == 'loss':
            return {'loss': F.mse_loss(out, targets)}
        return out


def toy_dataset() -> list:
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(16, 4, generator=generator)
    targets = inputs @ torch.tensor([[1.], [-2.], [.5], [3.]]) + 0.3
    return [
        dict(inputs=i, targets=t)
        for i, t in zip(inputs, targets, strict=True)
    ]


def toy_runner(work_dir: str,
               name: str,
               max_epochs: int = 1,
               model: Optional[nn.Module] = None,
               exact_resume: bool = True,
               optim_wrapper: Optional[dict] = None,
               **kwargs: Any) -> Runner:
    """A Runner of :class:`ToyRegressor` saving a checkpoint every epoch.

    With ``exact_resume`` (the default, as in vsa_mm's configs) it has
    :class:`vsa_mm.ExactResumeHook`; without, it is a stock MMEngine run.
    ``optim_wrapper`` defaults to SGD with momentum. The experiment name is
    ``name`` made unique (:func:`unique_name`).
    """
    torch.manual_seed(0)
    hooks = [dict(type='vsa_mm.ExactResumeHook')] if exact_resume else []
    return Runner(
        model=model if model is not None else ToyRegressor(),
        work_dir=work_dir,
        experiment_name=unique_name(name),
        train_dataloader=dict(
            dataset=toy_dataset(),
            sampler=dict(type='DefaultSampler', shuffle=True),
            batch_size=4,
            collate_fn=dict(type='default_collate')),
        optim_wrapper=optim_wrapper
        or dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9)),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=1),
            logger=dict(type='LoggerHook', interval=1)),
        randomness=dict(seed=0),
        default_scope='mmengine',
        custom_hooks=hooks,
        **kwargs)

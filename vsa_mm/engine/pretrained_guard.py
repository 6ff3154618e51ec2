"""A hook that refuses to fine-tune without the weights a config needs."""
import os.path as osp

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.optim import BaseOptimWrapper

from vsa_mm.registry import HOOKS
from ..models.utils.init_cfg import pretrained_entry


@HOOKS.register_module()
class RequirePretrainedHook(Hook):
    """Stop a fine-tuning run before it starts when its weights are missing.

    A fine-tune that silently starts from random weights wastes its whole
    run. Before the model is initialised for training, this hook checks that
    ``model.<module>`` has a ``Pretrained`` init_cfg (or that the run loads
    or resumes a checkpoint), and that a local pretrained file exists. It
    does nothing when testing.

    Args:
        module (str): Attribute of the model whose init_cfg must load
            weights. Defaults to ``'backbone'``.
        hint (str): How to obtain the weights; appended to the error.
            Defaults to ``''``.

    Raises:
        FileNotFoundError: If the pretrained file does not exist.
        ValueError: If nothing would load pretrained weights.
    """

    priority = 'VERY_HIGH'

    def __init__(self, module: str = 'backbone', hint: str = '') -> None:
        if not isinstance(module, str) or not module:
            raise TypeError(f'module must be a non-empty str, got {module!r}')
        self.module = module
        self.hint = hint

    def before_run(self, runner) -> None:
        """Check the pretrained weights when the runner is about to train."""
        if not isinstance(runner.optim_wrapper, BaseOptimWrapper):
            return  # validation or testing: nothing is initialised
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        target = getattr(model, self.module, None)
        if target is None:
            raise ValueError(f'the model has no {self.module!r} whose '
                             'pretrained weights could be checked')
        entry = pretrained_entry(getattr(target, 'init_cfg', None))
        checkpoint = None if entry is None else entry.get('checkpoint')
        hint = f' {self.hint}' if self.hint else ''
        if checkpoint is None:
            if runner.cfg.get('load_from') or runner.cfg.get('resume'):
                return
            raise ValueError(
                f'refusing to fine-tune random weights: model.{self.module} '
                "has no init_cfg=dict(type='Pretrained', checkpoint=...) and "
                f'nothing is loaded or resumed.{hint}')
        is_url = '://' in checkpoint
        if not is_url and not osp.isfile(osp.expanduser(checkpoint)):
            raise FileNotFoundError(
                f'pretrained weights {checkpoint!r} not found: this config '
                f'fine-tunes them and will not start without them.{hint}')

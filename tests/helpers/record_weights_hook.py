"""A test-only hook that records what each process of a run did."""
import json
import os.path as osp

import torch
from mmengine.dist import get_dist_info
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS


def weights_checksum(state_dict: dict) -> float:
    """Sum of absolute values of a state dict's floating-point tensors."""
    return sum(value.detach().double().abs().sum().item()
               for value in state_dict.values() if value.is_floating_point())


@HOOKS.register_module()
class RecordWeightsHook(Hook):
    """Write ``rank{r}.pth`` (final weights) and ``rank{r}.json`` (counts).

    Args:
        out_dir (str): Where to write.
    """

    def __init__(self, out_dir: str) -> None:
        self.out_dir = out_dir
        self.iters = 0
        self.initial_checksum = None

    @staticmethod
    def _model(runner):
        return runner.model.module if is_model_wrapper(
            runner.model) else runner.model

    def before_train(self, runner) -> None:
        self.initial_checksum = weights_checksum(
            self._model(runner).state_dict())

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None) -> None:
        self.iters += 1

    def after_run(self, runner) -> None:
        rank, world_size = get_dist_info()
        model = self._model(runner)
        torch.save({
            k: v.detach().cpu()
            for k, v in model.state_dict().items()
        }, osp.join(self.out_dir, f'rank{rank}.pth'))
        with open(osp.join(self.out_dir, f'rank{rank}.json'), 'w') as f:
            json.dump(
                dict(
                    rank=rank,
                    world_size=world_size,
                    iters=self.iters,
                    initial_checksum=self.initial_checksum), f)

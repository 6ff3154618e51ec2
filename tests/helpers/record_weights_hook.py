"""A test-only hook that records what each process of a run did."""
import json
import os.path as osp

import torch
from mmengine.dist import get_dist_info
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS


@HOOKS.register_module()
class RecordWeightsHook(Hook):
    """Write ``rank{r}.pth`` (final weights) and ``rank{r}.json`` (counts).

    Args:
        out_dir (str): Where to write.
    """

    def __init__(self, out_dir: str) -> None:
        self.out_dir = out_dir
        self.iters = 0

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        self.iters += 1

    def after_run(self, runner) -> None:
        rank, world_size = get_dist_info()
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        torch.save({k: v.detach().cpu()
                    for k, v in model.state_dict().items()},
                   osp.join(self.out_dir, f'rank{rank}.pth'))
        with open(osp.join(self.out_dir, f'rank{rank}.json'), 'w') as f:
            json.dump(dict(rank=rank, world_size=world_size,
                           iters=self.iters, samples=self.iters * runner.
                           train_dataloader.batch_size), f)

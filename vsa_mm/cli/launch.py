"""Build runners, also for distributed runs on machines without GPUs."""
import os

import torch
import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.registry import RUNNERS
from mmengine.runner import Runner


def prepare_cpu_distributed(cfg: Config) -> None:
    """Set up a ``torchrun``-launched process for CPU-only DDP (gloo).

    MMEngine's launcher calls ``torch.cuda.set_device`` and its default DDP
    wrapper passes ``device_ids=[LOCAL_RANK]``; both fail without a GPU. This
    starts the gloo process group itself (the runner reuses an existing
    group) and asks for a DDP wrapper without device ids.

    Args:
        cfg (Config): The run's config; ``env_cfg.dist_cfg`` and
            ``model_wrapper_cfg`` are updated in place.

    Raises:
        ValueError: If the ``torchrun`` environment variables are missing.
    """
    missing = [
        name for name in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')
        if name not in os.environ
    ]
    if missing:
        raise ValueError(
            f'--launcher pytorch needs the variables that torchrun sets; '
            f'missing: {missing}')
    if not torch_dist.is_initialized():
        torch_dist.init_process_group(backend='gloo')
    dist_cfg = cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})
    dist_cfg['backend'] = 'gloo'
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel', broadcast_buffers=False)
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper


def build_runner(cfg: Config) -> Runner:
    """The runner of ``cfg``, as the libraries' train/test scripts build it.

    A config with ``runner_type`` is built from the ``RUNNERS`` registry,
    any other with :meth:`Runner.from_cfg`. When ``cfg.launcher`` asks for
    a distributed run and there is no CUDA, :func:`prepare_cpu_distributed`
    is applied first.

    Args:
        cfg (Config): A complete config (``launcher`` set).

    Returns:
        Runner: The runner, ready for ``train()`` or ``test()``.
    """
    if cfg.get('launcher', 'none') != 'none' and \
            not torch.cuda.is_available():
        prepare_cpu_distributed(cfg)
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)

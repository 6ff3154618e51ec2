"""The options of ``tools/train.py`` and ``tools/test.py`` applied to a run.

The libraries' own ``tools/train.py`` and ``tools/test.py`` each handle
their task; these functions apply the same flags to a config of any of the
three, picking the task from the config's ``default_scope``. Paths given on
the command line (``--out``, ``--show-dir``) that are relative are taken
relative to the run's work dir, so that a run writes nothing into the
current directory.
"""
import os.path as osp
from typing import Optional

from mmengine.config import Config, ConfigDict
from mmengine.device import (is_cuda_available, is_mlu_available,
                             is_musa_available, is_npu_available)
from mmengine.evaluator import BaseMetric

#: The tasks, by the ``default_scope`` of their configs.
TASKS = ('mmdet', 'mmseg', 'mmpretrain')

#: The documentation of mixed precision on machines without an accelerator.
AMP_DOCS = 'docs/visualization.md#mixed-precision'


def task_of(cfg: Config) -> str:
    """The library that runs ``cfg``.

    Args:
        cfg (Config): A complete config.

    Returns:
        str: ``'mmdet'``, ``'mmseg'`` or ``'mmpretrain'``.

    Raises:
        ValueError: If its ``default_scope`` is none of them.

    Examples:
        >>> task_of(Config(dict(default_scope='mmseg')))
        'mmseg'
    """
    scope = cfg.get('default_scope')
    if scope not in TASKS:
        raise ValueError(f'default_scope must be one of {TASKS} to tell the '
                         f'task, got {scope!r}')
    return scope


def work_dir_of(config: str, cfg: Config, given: Optional[str] = None) -> str:
    """The work dir of a run, chosen as the libraries' tools choose it.

    Args:
        config (str): The config file's path.
        cfg (Config): The config loaded from it.
        given (str, optional): ``--work-dir`` of the command line.

    Returns:
        str: ``given``, else the config's ``work_dir``, else
        ``work_dirs/<config file name without .py>``.

    Examples:
        >>> work_dir_of('configs/demo/a_b.py', Config())
        'work_dirs/a_b'
        >>> work_dir_of('a_b.py', Config(dict(work_dir='/runs/x')))
        '/runs/x'
        >>> work_dir_of('a_b.py', Config(dict(work_dir='/runs/x')), 'mine')
        'mine'
    """
    return given or cfg.get('work_dir') or osp.join(
        'work_dirs',
        osp.splitext(osp.basename(config))[0])


def in_work_dir(path: str, work_dir: str) -> str:
    """``path`` as an absolute path, a relative one taken in ``work_dir``.

    Args:
        path (str): A path given on the command line.
        work_dir (str): The run's work dir.

    Returns:
        str: The absolute path.

    Examples:
        >>> in_work_dir('preds.pkl', '/runs/a')
        '/runs/a/preds.pkl'
        >>> in_work_dir('/tmp/preds.pkl', '/runs/a')
        '/tmp/preds.pkl'
    """
    return osp.abspath(osp.join(work_dir, path))


def check_amp_device() -> None:
    """Check that mixed-precision training can run here.

    MMEngine's ``AmpOptimWrapper`` trains on CUDA, NPU, MLU and MUSA devices
    only; on a machine without one it stops with an ``AssertionError``
    (``AmpOptimizerWrapper is only available training on gpu, npu, mlu or
    musa``) once the model and the data are built.

    Raises:
        ValueError: If there is no such device.
    """
    if not (is_cuda_available() or is_npu_available() or is_mlu_available()
            or is_musa_available()):
        raise ValueError(
            '--amp needs a CUDA, NPU, MLU or MUSA device: MMEngine\'s '
            'AmpOptimWrapper does not train on the CPU (see '
            f'{AMP_DOCS})')


def enable_visualization(cfg: Config,
                         show: bool = False,
                         wait_time: float = 2.,
                         show_dir: Optional[str] = None) -> None:
    """Turn on the task's visualization hook for testing.

    Every test image is drawn with its predictions: ``DetVisualizationHook``
    (``draw``, ``test_out_dir``), ``SegVisualizationHook`` (``draw``; the
    images are written by the visualizer's ``LocalVisBackend``) or
    mmpretrain's ``VisualizationHook`` (``enable``, ``out_dir``).

    Args:
        cfg (Config): A complete config with ``cfg.work_dir`` set; its
            ``default_hooks.visualization`` (and, for mmseg, its
            ``visualizer``) are updated in place.
        show (bool): Show each image in a window.
        wait_time (float): Seconds each shown image stays.
        show_dir (str, optional): Write the drawn images into this
            directory; a relative one is taken in ``cfg.work_dir``.

    Raises:
        ValueError: If the config has no ``default_hooks.visualization`` or
            ``wait_time`` is negative.
    """
    if wait_time < 0:
        raise ValueError(f'wait_time must be >= 0, got {wait_time}')
    task = task_of(cfg)
    hook = cfg.get('default_hooks', {}).get('visualization')
    if hook is None:
        raise ValueError(
            'showing or saving predictions needs default_hooks.visualization '
            'in the config (mmdet: DetVisualizationHook, mmseg: '
            'SegVisualizationHook, mmpretrain: VisualizationHook)')
    out_dir = in_work_dir(show_dir, cfg.work_dir) if show_dir else None
    hook.update(show=show, wait_time=wait_time)
    if task == 'mmpretrain':
        hook.update(enable=True, interval=1, out_dir=out_dir)
        return
    hook.draw = True
    if task == 'mmdet':
        # The hook joins work_dir/timestamp with it: absolute stays as is.
        hook.test_out_dir = out_dir
        return
    hook.interval = 1
    if out_dir is not None:
        backends = cfg.visualizer.setdefault('vis_backends', [])
        local = [b for b in backends if b.get('type') == 'LocalVisBackend']
        if not local:
            local = [ConfigDict(type='LocalVisBackend')]
            backends.append(local[0])
        for backend in local:
            backend.img_save_dir = out_dir  # joined with save_dir: absolute


def enable_tta(cfg: Config) -> None:
    """Test with the config's test-time augmentation.

    The model is wrapped in ``cfg.tta_model`` and the test set's pipeline
    replaced by ``cfg.tta_pipeline``.

    Args:
        cfg (Config): A complete config, updated in place.

    Raises:
        ValueError: If ``tta_model`` or ``tta_pipeline`` is missing.
    """
    missing = [key for key in ('tta_model', 'tta_pipeline') if key not in cfg]
    if missing:
        raise ValueError(f'--tta needs tta_model and tta_pipeline in the '
                         f'config; missing: {missing}')
    cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
    cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)


def dump_results_metric(task: str, out_file: str) -> BaseMetric:
    """The metric that dumps a task's test predictions to a pickle file.

    Args:
        task (str): ``'mmdet'`` (``DumpDetResults``: boxes, and masks as
            RLE), ``'mmseg'`` or ``'mmpretrain'`` (MMEngine's
            ``DumpResults``: the predicted data samples as dicts).
        out_file (str): The ``.pkl`` or ``.pickle`` file.

    Returns:
        BaseMetric: The metric, to add to the test evaluator.

    Raises:
        ValueError: If ``out_file`` is not a pickle file name or ``task`` is
            not a task.
    """
    if not out_file.endswith(('.pkl', '.pickle')):
        raise ValueError(f'the predictions are dumped to a .pkl or .pickle '
                         f'file, got {out_file!r}')
    if task not in TASKS:
        raise ValueError(f'task must be one of {TASKS}, got {task!r}')
    if task == 'mmdet':
        from mmdet.evaluation import DumpDetResults
        return DumpDetResults(out_file_path=out_file)
    from mmengine.evaluator import DumpResults
    return DumpResults(out_file_path=out_file)

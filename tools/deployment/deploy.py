"""Deploy a vsa_mm detector or segmenter through mmdeploy to ONNX Runtime.

mmdeploy's ``tools/deploy.py`` for models with VSA backbones, with
mmdeploy 1.3.1 on current PyTorch: it writes ``<work-dir>/end2end.onnx``
with mmdeploy's ``torch2onnx`` (mmdeploy's rewrites of the heads, PyTorch's
TorchScript exporter), then runs the file in ONNX Runtime on IMAGE and on
every ``--test-img`` and compares the predictions with mmdet's
``inference_detector`` / mmseg's ``inference_model`` in PyTorch:

- detection and instance segmentation: the top ``--top-k`` PyTorch
  detections must each have an ONNX Runtime detection of the same class with
  box IoU >= 0.99 and a score within 1e-3 (masks: their IoU is reported);
- semantic segmentation: the class maps must agree on every pixel
  (``--min-pixel-agreement``).

The tool exits with status 1 when they do not. mmdeploy 1.3.1 predates
PyTorch 2.9; two compatibility shims are applied while the tool runs, and
only then, and each is named in the log:

- ``torch.onnx.export`` defaults to ``dynamo=False`` (mmdeploy passes the
  TorchScript exporter's arguments; PyTorch >= 2.9 defaults to the dynamo
  exporter);
- ``torch.onnx.symbolic_opset9._cast_Long``, which mmdeploy's RoIAlign
  symbolic imports, is provided when PyTorch no longer has it.

Examples:
    python tools/deployment/deploy.py \
configs/deploy/instance-seg_onnxruntime_dynamic.py \
configs/demo/mask-rcnn_swin-t-vsa_fpn_demo-coco.py \
outputs/demo/mask-rcnn_swin-t-vsa/epoch_8.pth \
data/demo/coco/val2017/000000000000.jpg --work-dir work_dirs/deploy \
--device cpu
"""
import argparse
import contextlib
import inspect
import os
import os.path as osp
from typing import Callable, Iterator, List, Tuple

import torch
from mmengine.config import Config, DictAction
from mmengine.logging import MMLogger

from vsa_mm.checkpoint.safe_load import check_checkpoint_file
from vsa_mm.cli.run_options import task_of
from vsa_mm.cli.tool import ToolArgumentParser, load_config, run_tool
from vsa_mm.deployment.adaptive_pool import adaptive_avg_pool2d_by_slices
from vsa_mm.deployment.graph_outputs import scope_outputs, with_outputs
from vsa_mm.deployment.parity import compare_detections, segmentation_agreement

#: The mmdeploy release the tool is written for.
MMDEPLOY_VERSION = '1.3.1'
#: ONNX's TensorProto.DataType of int64.
ONNX_INT64 = 7
#: Largest difference of the file's backbone/neck features from PyTorch's,
#: relative to their largest magnitude (at least 1).
FEATURE_TOLERANCE = 1e-4


def parse_args() -> argparse.Namespace:
    parser = ToolArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('deploy_cfg', help='mmdeploy deploy config')
    parser.add_argument('model_cfg', help='model config')
    parser.add_argument('checkpoint', help='model checkpoint')
    parser.add_argument('img', help='image used to export and to check')
    parser.add_argument(
        '--test-img',
        nargs='+',
        default=[],
        help='further images to check the export on (a dynamic deploy '
        'config runs them at their own sizes)')
    parser.add_argument(
        '--work-dir',
        help='where end2end.onnx is written (default: work_dirs/<model '
        'config name>/<deploy config name>)')
    parser.add_argument(
        '--device',
        default='cpu',
        help='device of the export and of PyTorch (default: cpu)')
    parser.add_argument(
        '--top-k',
        type=int,
        default=10,
        help='detections compared with PyTorch (default: 10)')
    parser.add_argument(
        '--min-pixel-agreement',
        type=float,
        default=1.0,
        help='segmentation: fraction of pixels that must agree with '
        'PyTorch (default: 1.0)')
    parser.add_argument(
        '--no-verify',
        action='store_true',
        help='export only, without the comparison with PyTorch')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override model config entries, e.g. '
        'model.test_cfg.rcnn.score_thr=0')
    parser.add_argument(
        '--log-level',
        default='INFO',
        choices=['DEBUG', 'INFO', 'WARNING', 'ERROR'],
        help='log level (default: INFO)')
    return parser.parse_args()


def _import_mmdeploy():
    try:
        import mmdeploy
    except ImportError:
        raise ImportError(
            f'this tool needs mmdeploy {MMDEPLOY_VERSION}: pip install '
            f'"vsa_mm[deploy]" && pip install --no-deps '
            f'mmdeploy=={MMDEPLOY_VERSION}') from None
    return mmdeploy


def _cast_long(g, input, non_blocking):
    """``Cast`` to int64, as PyTorch's removed ``_cast_Long`` symbolic."""
    return g.op('Cast', input, to_i=ONNX_INT64)


def _register_exact_adaptive_pool() -> None:
    """Export ``adaptive_avg_pool2d`` for ONNX Runtime with
    :func:`adaptive_avg_pool2d_by_slices` instead of mmdeploy's fixed-kernel
    ``avg_pool2d``, which pools wrongly at sizes other than the example's
    (UperNet's pyramid pooling). mmdeploy prefers a backend's own rewriter
    to its default one; registering twice replaces the first."""
    from mmdeploy.core import FUNCTION_REWRITER

    @FUNCTION_REWRITER.register_rewriter(
        func_name='torch.nn.functional.adaptive_avg_pool2d',
        backend='onnxruntime')
    def adaptive_avg_pool2d__onnxruntime(input, output_size):
        return adaptive_avg_pool2d_by_slices(input, output_size)


def _torchscript_export(export: Callable) -> Callable:

    def export_with_torchscript(*args, dynamo: bool = False, **kwargs):
        return export(*args, dynamo=dynamo, **kwargs)

    return export_with_torchscript


@contextlib.contextmanager
def mmdeploy_compat(logger: MMLogger) -> Iterator[List[str]]:
    """Make mmdeploy 1.3.1 run on this PyTorch.

    The changes to ``torch.onnx`` last for the ``with`` block only; the
    exact adaptive pooling stays registered in mmdeploy's rewriter registry
    for the rest of this (the tool's) process.

    Yields:
        list[str]: What was changed.
    """
    import torch.onnx.symbolic_opset9 as opset9
    original_export = torch.onnx.export
    applied = []
    dynamo = inspect.signature(original_export).parameters.get('dynamo')
    if dynamo is not None and dynamo.default is True:
        torch.onnx.export = _torchscript_export(original_export)
        applied.append('torch.onnx.export defaults to dynamo=False')
    _register_exact_adaptive_pool()
    applied.append('adaptive_avg_pool2d exported exactly at every size')
    added_cast = not hasattr(opset9, '_cast_Long')
    if added_cast:
        opset9._cast_Long = _cast_long
        applied.append('torch.onnx.symbolic_opset9._cast_Long provided')
    logger.info('mmdeploy compatibility shims for this run: ' +
                '; '.join(applied))
    try:
        yield applied
    finally:
        torch.onnx.export = original_export
        if added_cast:
            del opset9._cast_Long


def _check_args(args: argparse.Namespace) -> None:
    for name in ('deploy_cfg', 'model_cfg', 'img'):
        path = getattr(args, name)
        if not osp.isfile(path):
            raise ValueError(f'{name} {path!r} is not a file')
    for path in args.test_img:
        if not osp.isfile(path):
            raise ValueError(f'--test-img {path!r} is not a file')
    if args.top_k < 1:
        raise ValueError(f'--top-k must be >= 1, got {args.top_k}')
    if not 0 <= args.min_pixel_agreement <= 1:
        raise ValueError('--min-pixel-agreement must be in [0, 1], got '
                         f'{args.min_pixel_agreement}')
    check_checkpoint_file(args.checkpoint)


def _load_configs(args: argparse.Namespace) -> tuple:
    deploy_cfg = load_config(args.deploy_cfg)
    model_cfg = load_config(args.model_cfg)
    if args.cfg_options:
        model_cfg.merge_from_dict(args.cfg_options)
    if 'onnx_config' not in deploy_cfg or 'codebase_config' not in deploy_cfg:
        raise ValueError(f'{args.deploy_cfg!r} is not an mmdeploy deploy '
                         'config (it needs onnx_config and codebase_config)')
    backend = deploy_cfg.get('backend_config', {}).get('type')
    if backend != 'onnxruntime':
        raise ValueError(f'{args.deploy_cfg!r} deploys to {backend!r}; this '
                         'tool checks ONNX Runtime deployments only')
    task = task_of(model_cfg)
    codebase = deploy_cfg.codebase_config.get('type')
    if codebase != task:
        raise ValueError(f'{args.deploy_cfg!r} is a {codebase} deploy config '
                         f'but {args.model_cfg!r} is a {task} model')
    dynamic = 'dynamic_axes' in deploy_cfg.onnx_config
    if args.test_img and not dynamic:
        raise ValueError(
            f'--test-img needs a dynamic deploy config: {args.deploy_cfg!r} '
            'exports the size of IMAGE only')
    return deploy_cfg, model_cfg


def _pytorch_predictions(model_cfg: Config, checkpoint: str, device: str,
                         images: List[str]) -> list:
    """mmdet's ``inference_detector`` / mmseg's ``inference_model``."""
    if task_of(model_cfg) == 'mmdet':
        from mmdet.apis import inference_detector, init_detector
        model = init_detector(model_cfg, checkpoint, device=device)
        return [inference_detector(model, image) for image in images]
    from mmseg.apis import inference_model, init_model
    model = init_model(model_cfg, checkpoint, device=device)
    return [inference_model(model, image) for image in images]


def _instances(sample) -> dict:
    fields = sample.pred_instances
    keys = ['bboxes', 'scores', 'labels']
    if 'masks' in fields:
        keys.append('masks')
    return {key: torch.as_tensor(fields[key]).cpu() for key in keys}


class DeployedModel:
    """The exported file in ONNX Runtime (mmdeploy's backend model), and
    the file's backbone/neck features beside PyTorch's.

    Args:
        model_cfg (Config): Model config.
        deploy_cfg (Config): Deploy config.
        checkpoint (str): Model checkpoint.
        onnx_file (str): The exported file.
    """

    def __init__(self, model_cfg: Config, deploy_cfg: Config, checkpoint: str,
                 onnx_file: str) -> None:
        from mmdeploy.apis.utils import build_task_processor
        from mmdeploy.utils import get_input_shape
        self.input_shape = get_input_shape(deploy_cfg)
        self.task = build_task_processor(model_cfg, deploy_cfg, 'cpu')
        self.backend_model = self.task.build_backend_model([onnx_file])
        self.torch_model = self.task.build_pytorch_model(checkpoint)
        self.input_name = deploy_cfg.onnx_config.input_names[0]
        self.features, self.session = self._feature_session(onnx_file)

    def _feature_session(self, onnx_file: str) -> tuple:
        """An ONNX Runtime session of the file that outputs the neck's maps
        (the backbone's without a neck)."""
        import onnx
        import onnxruntime
        from mmdeploy.backend.onnxruntime.init_plugins import get_ops_path
        model = onnx.load(onnx_file)
        scope = 'neck' if getattr(self.torch_model, 'with_neck',
                                  False) else 'backbone'
        names = scope_outputs(model, scope)
        if not names:
            raise ValueError(f'no /{scope}/ nodes in {onnx_file!r}')
        options = onnxruntime.SessionOptions()
        if osp.isfile(get_ops_path()):
            options.register_custom_ops_library(get_ops_path())
        session = onnxruntime.InferenceSession(
            with_outputs(model, names),
            options,
            providers=['CPUExecutionProvider'])
        return names, session

    def predict(self, image: str):
        """ONNX Runtime's prediction for ``image``, as a data sample."""
        data, _ = self.task.create_input(image, self.input_shape)
        with torch.no_grad():
            return self.backend_model.test_step(data)[0]

    def feature_difference(self, image: str) -> Tuple[str, float]:
        """How far the file's features for ``image`` are from PyTorch's
        ``extract_feat``.

        Returns:
            tuple[str, float]: The input size ``HxW`` and the largest
            absolute difference, relative to the largest feature magnitude
            (at least 1).
        """
        _, inputs = self.task.create_input(
            image,
            self.input_shape,
            data_preprocessor=self.torch_model.data_preprocessor)
        with torch.no_grad():
            expected = self.torch_model.extract_feat(inputs)
        got = self.session.run(self.features,
                               {self.input_name: inputs.numpy()})
        worst = 0.0
        for ref in expected:
            same_shape = [out for out in got if out.shape == ref.shape]
            if not same_shape:
                raise ValueError(f'the file has no feature map of shape '
                                 f'{tuple(ref.shape)} for {image} (it has '
                                 f'{[out.shape for out in got]})')
            scale = max(1.0, ref.abs().max().item())
            worst = max(
                worst,
                min((torch.from_numpy(out) - ref).abs().max().item()
                    for out in same_shape) / scale)
        return 'x'.join(str(s) for s in inputs.shape[2:]), worst


def _check_predictions(image: str, size: str, reference, candidate,
                       args: argparse.Namespace, logger: MMLogger) -> bool:
    if 'pred_instances' in reference:
        parity = compare_detections(
            _instances(reference), _instances(candidate), args.top_k)
        masks = ('' if parity.worst_mask_iou is None else
                 f', worst mask IoU {parity.worst_mask_iou:.4f}')
        logger.info(
            f'{image} ({size}): {parity.matched}/{parity.top_k} top '
            f'detections of mmdet match (worst box IoU '
            f'{parity.worst_box_iou:.4f}, worst score difference '
            f'{parity.worst_score_diff:.1e}{masks}); {parity.matched_all}/'
            f'{parity.total} of all')
        return parity.ok
    agreement = segmentation_agreement(reference.pred_sem_seg.data.cpu(),
                                       candidate.pred_sem_seg.data.cpu())
    logger.info(f'{image} ({size}): {agreement:.6f} of the pixels have '
                'mmseg\'s class')
    return agreement >= args.min_pixel_agreement


def verify(args: argparse.Namespace, model_cfg: Config, deploy_cfg: Config,
           onnx_file: str, logger: MMLogger) -> bool:
    """Compare ONNX Runtime with PyTorch on every image; log the figures.

    Two comparisons per image: the features the file computes (the neck's
    maps, or the backbone's) against PyTorch's ``extract_feat``, within
    :data:`FEATURE_TOLERANCE`; and the deployed predictions against
    mmdet's / mmseg's own.

    Returns:
        bool: Whether every image met the tolerances.
    """
    images = [args.img, *args.test_img]
    expected = _pytorch_predictions(model_cfg, args.checkpoint, args.device,
                                    images)
    deployed = DeployedModel(model_cfg, deploy_cfg, args.checkpoint, onnx_file)
    ok = True
    for image, reference in zip(images, expected):
        size, worst = deployed.feature_difference(image)
        logger.info(f'{image} (input {size}): features of the file vs '
                    f'PyTorch: largest difference {worst:.1e} (relative to '
                    'the largest magnitude)')
        ok &= worst <= FEATURE_TOLERANCE
        ok &= _check_predictions(image, f'input {size}', reference,
                                 deployed.predict(image), args, logger)
    return ok


def main() -> None:
    args = parse_args()
    _check_args(args)
    logger = MMLogger.get_instance('vsa_mm')
    logger.setLevel(args.log_level)
    mmdeploy = _import_mmdeploy()
    deploy_cfg, model_cfg = _load_configs(args)
    work_dir = args.work_dir or osp.join(
        'work_dirs',
        osp.splitext(osp.basename(args.model_cfg))[0],
        osp.splitext(osp.basename(args.deploy_cfg))[0])
    os.makedirs(work_dir, exist_ok=True)
    save_file = deploy_cfg.onnx_config.get('save_file', 'end2end.onnx')

    from mmdeploy.apis import torch2onnx
    logger.info(f'exporting {args.model_cfg} with {args.deploy_cfg} '
                f'(mmdeploy {mmdeploy.__version__})')
    with mmdeploy_compat(logger):
        torch2onnx(args.img, work_dir, save_file, deploy_cfg, model_cfg,
                   args.checkpoint, args.device)
    onnx_file = osp.join(work_dir, save_file)
    logger.info(f'wrote {onnx_file}')
    if args.no_verify:
        return
    if not verify(args, model_cfg, deploy_cfg, onnx_file, logger):
        raise ValueError(
            'ONNX Runtime differs from PyTorch beyond the tolerances (see '
            'the lines above)')
    logger.info('ONNX Runtime matches PyTorch on every image')


if __name__ == '__main__':
    run_tool(main, checkpoint=lambda: parse_args().checkpoint)

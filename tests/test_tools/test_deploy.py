"""tools/deployment/deploy.py: the demo Mask R-CNN and the demo UperNet
through mmdeploy 1.3.1 to ONNX Runtime, checked against mmdet and mmseg in
PyTorch at the export size and at a size the export never saw.

The checkpoints are the configs' initial weights with moving VSA windows
(seeded), so the tests need no training. The Mask R-CNN runs with
``pad_size_divisor=1``: mmdeploy's graph clips boxes to the padded input,
mmdet to the image (docs/deployment.md), and without padding the two agree.
"""
import os.path as osp
import re

import pytest
import torch
from helpers.tools import DEMO_CONFIGS, REPO, assert_one_line_error, run_tool
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope
from PIL import Image

from vsa_mm.models.layers import move_windows

TOOL = 'deployment/deploy.py'
DEPLOY = REPO / 'configs' / 'deploy'
#: The demo detector at score threshold 0, unpadded (see the docstring).
DET_OPTIONS = ('--cfg-options', 'model.data_preprocessor.pad_size_divisor=1',
               'model.test_cfg.rcnn.score_thr=0')


def _checkpoint(config: str, path: str) -> str:
    cfg = Config.fromfile(config)
    init_default_scope(cfg.default_scope)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    move_windows(model)
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    return path


def _cropped(image: str, path: str, fraction: float) -> str:
    """The left ``fraction`` of ``image``: another aspect ratio, so the test
    pipeline resizes it to another input size."""
    with Image.open(image) as im:
        im.crop((0, 0, int(im.width * fraction), im.height)).save(path)
    return path


@pytest.fixture(scope='module')
def deploy_inputs(demo_workspace, tmp_path_factory):
    """Checkpoints and two images of each task."""
    root = tmp_path_factory.mktemp('deploy')
    coco = osp.join(demo_workspace, 'data/demo/coco/val2017/val_000000.jpg')
    city = osp.join(
        demo_workspace, 'data/demo/cityscapes/leftImg8bit/val/demoval/'
        'demoval_000000_000000_leftImg8bit.png')
    return {
        'mmdet':
        (_checkpoint(str(DEMO_CONFIGS['mmdet']), str(root / 'det.pth')), coco,
         _cropped(coco, str(root / 'tall.jpg'), 0.54)),
        'mmseg':
        (_checkpoint(str(DEMO_CONFIGS['mmseg']), str(root / 'seg.pth')), city,
         _cropped(city, str(root / 'narrow.png'), 0.6)),
    }


def _input_sizes(output: str) -> list:
    return re.findall(r'\(input (\d+x\d+)\): features', output)


def _feature_differences(output: str) -> list:
    return [
        float(x) for x in re.findall(
            r'features of the file vs PyTorch: largest difference (\S+) ',
            output)
    ]


def test_mask_rcnn_deploys_dynamic_and_matches_mmdet(deploy_inputs, tmp_path):
    checkpoint, image, other = deploy_inputs['mmdet']
    work_dir = tmp_path / 'det'
    result = run_tool(TOOL,
                      str(DEPLOY / 'instance-seg_onnxruntime_dynamic.py'),
                      str(DEMO_CONFIGS['mmdet']),
                      checkpoint, image, '--test-img', other, '--work-dir',
                      str(work_dir), '--device', 'cpu', *DET_OPTIONS)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert osp.getsize(work_dir / 'end2end.onnx') > 1e6
    assert 'mmdeploy compatibility shims for this run' in output
    sizes = _input_sizes(output)
    assert len(sizes) == 2 and sizes[0] != sizes[1], sizes
    assert all(d <= 1e-4 for d in _feature_differences(output))
    matches = re.findall(r'(\d+)/(\d+) top detections of mmdet match', output)
    assert matches == [('10', '10')] * 2, output[-3000:]
    mask_ious = re.findall(r'worst mask IoU (\S+)\)', output)
    assert len(mask_ious) == 2 and all(float(m) >= 0.99 for m in mask_ious)


def test_upernet_deploys_dynamic_and_matches_mmseg(deploy_inputs, tmp_path):
    """The untrained decode head's class scores are nearly equal, so float
    rounding may flip a pixel (1 in 131072 was seen): 99.99% must agree."""
    checkpoint, image, other = deploy_inputs['mmseg']
    result = run_tool(TOOL,
                      str(DEPLOY / 'segmentation_onnxruntime_dynamic.py'),
                      str(DEMO_CONFIGS['mmseg']),
                      checkpoint, image, '--test-img', other, '--work-dir',
                      str(tmp_path), '--min-pixel-agreement', '0.9999')
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    sizes = _input_sizes(output)
    assert len(sizes) == 2 and sizes[0] != sizes[1], sizes
    assert all(d <= 1e-4 for d in _feature_differences(output))
    agreement = re.findall(r'(\S+) of the pixels have mmseg\'s class', output)
    assert len(agreement) == 2 and all(float(a) >= 0.9999
                                       for a in agreement), output[-3000:]


def test_bad_arguments_are_one_line_errors(deploy_inputs, tmp_path):
    checkpoint, image, other = deploy_inputs['mmseg']
    det_config = str(DEMO_CONFIGS['mmdet'])
    seg_dynamic = str(DEPLOY / 'segmentation_onnxruntime_dynamic.py')
    cases = [
        ((seg_dynamic, det_config, checkpoint, 'missing.png'),
         ("img 'missing.png' is not a file", )),
        ((seg_dynamic, det_config, checkpoint, image),
         ('is a mmseg deploy config', 'is a mmdet model')),
        ((det_config, det_config, checkpoint, image),
         ('is not an mmdeploy deploy config', )),
        ((str(DEPLOY / 'segmentation_onnxruntime_static.py'),
          str(DEMO_CONFIGS['mmseg']), checkpoint, image, '--test-img', other),
         ('--test-img needs a dynamic deploy config', )),
        ((seg_dynamic, str(DEMO_CONFIGS['mmseg']), checkpoint, image,
          '--top-k', '0'), ('--top-k must be >= 1, got 0', )),
    ]
    for args, fragments in cases:
        result = run_tool(TOOL, *args, '--work-dir', str(tmp_path))
        assert_one_line_error(result, *fragments)
    assert not (tmp_path / 'end2end.onnx').exists()


def test_static_deploy_configs_have_no_dynamic_axes():
    for task in ('detection', 'instance-seg', 'segmentation'):
        static = Config.fromfile(str(DEPLOY / f'{task}_onnxruntime_static.py'))
        dynamic = Config.fromfile(
            str(DEPLOY / f'{task}_onnxruntime_dynamic.py'))
        assert 'dynamic_axes' not in static.onnx_config
        assert dynamic.onnx_config.dynamic_axes['input'] == {
            0: 'batch',
            2: 'height',
            3: 'width'
        }
        assert static.backend_config.type == 'onnxruntime'
        assert set(dynamic.onnx_config.output_names) == set(
            dynamic.onnx_config.dynamic_axes) - {'input'}

"""Every detection/segmentation config builds; rows, metafiles and params."""
import importlib.util
import os.path as osp
from glob import glob

import pytest
import yaml
from helpers import paths
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope

REPO = str(paths.REPO)
TASK_CONFIGS = sorted(
    path for task in ('mmdet', 'mmseg')
    for path in glob(osp.join(REPO, 'configs', task, '*', '*.py'))
    if '_base_' not in path) + sorted(
        glob(osp.join(REPO, 'configs', 'demo', '*.py')))

# One config per row of the paper's detection and segmentation tables (and
# of the Swin-VSA-T rows of the official detection README).
DET_BACKBONES = ('vitaev2/{}_vitaev2-s-window', 'vitaev2/{}_vitaev2-s',
                 'vitaev2_vsa/{}_vitaev2-s-vsa', 'swin_vsa/{}_swin-t-vsa')
PAPER_ROWS = [
    f'mmdet/{backbone.format(det)}_fpn_{head}ms-crop-{sched}_coco.py'
    for backbone in DET_BACKBONES + ('vitaev2_vsa/{}_vitaev2-48m-vsa', )
    for det, head in (('mask-rcnn', ''),
                      ('cascade-mask-rcnn', 'giou-4conv1fc_'))
    for sched in ('1x', '3x') if '48m' not in backbone or sched == '3x'
] + [
    f'mmseg/{folder}/upernet_{model}_8xb2-{iters}_cityscapes-{crop}{test}.py'
    for folder, model in (('swin', 'swin-t'), ('swin_vsa', 'swin-t-vsa'),
                          ('vitaev2', 'vitaev2-s-window'),
                          ('vitaev2_vsa', 'vitaev2-s-vsa'))
    for iters in ('40k', '80k') for crop in ('512x1024', '769x769')
    for test in ('', '_ms-flip-test')
]

# The paper lists the same architecture with two counts (ViTAEv2*-S Mask
# R-CNN: 37M at 1x, 39M at 3x; ViTAEv2-S differs from ViTAEv2*-S only in
# which tokens attend to which, not in parameters). These rows are held to
# the paper's other value for the architecture.
PAPER_INCONSISTENT = {
    'mask-rcnn_vitaev2-s-window_fpn_ms-crop-1x_coco': 39,
    'mask-rcnn_vitaev2-s_fpn_ms-crop-1x_coco': 39,
    'mask-rcnn_vitaev2-s_fpn_ms-crop-3x_coco': 39,
    'mask-rcnn_vitaev2-s-vsa_fpn_ms-crop-1x_coco': 39,
}


def _param_table():
    spec = importlib.util.spec_from_file_location(
        'param_table',
        osp.join(REPO, 'tools', 'analysis_tools', 'param_table.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_paper_row_has_a_config():
    missing = [
        row for row in PAPER_ROWS
        if not osp.isfile(osp.join(REPO, 'configs', row))
    ]
    assert not missing


@pytest.mark.parametrize(
    'path', TASK_CONFIGS, ids=lambda p: osp.relpath(p, REPO))
def test_config_builds_its_model(path):
    cfg = Config.fromfile(path)
    assert cfg.custom_imports == dict(
        imports=['vsa_mm', 'vsa_mm.runtime.enable'],
        allow_failed_imports=False)
    assert dict(type='vsa_mm.ExactResumeHook') in cfg.custom_hooks
    init_default_scope(cfg.default_scope)
    model = MODELS.build(cfg.model)
    assert sum(p.numel() for p in model.parameters()) > 1e6


def test_metafiles_list_exactly_the_task_configs():
    with open(osp.join(REPO, 'model-index.yml')) as f:
        metafiles = yaml.safe_load(f)['Import']
    listed = set()
    for metafile in metafiles:
        assert osp.isfile(osp.join(REPO, metafile)), metafile
        with open(osp.join(REPO, metafile)) as f:
            for model in yaml.safe_load(f)['Models']:
                assert model['Name'] == osp.splitext(
                    osp.basename(model['Config']))[0]
                listed.add(osp.join(REPO, model['Config']))
    shipped = {p for p in TASK_CONFIGS if '/configs/demo/' not in p}
    assert shipped <= listed
    assert all(osp.isfile(p) for p in listed)


def test_parameter_counts_match_the_paper():
    table = _param_table()
    rows = [row for row in table.iter_models() if row.paper_params]
    assert len(rows) == 14  # the #params cells of the two COCO tables
    counts = {row.name: table.count_params(row.config) for row in rows}
    for row in rows:
        paper = PAPER_INCONSISTENT.get(row.name, row.paper_params)
        assert abs(counts[row.name] / paper - 1) <= 0.05, (row, counts)
    # Window or full attention does not change the parameters.
    assert counts['mask-rcnn_vitaev2-s_fpn_ms-crop-3x_coco'] == pytest.approx(
        counts['mask-rcnn_vitaev2-s-window_fpn_ms-crop-3x_coco'], rel=1e-3)

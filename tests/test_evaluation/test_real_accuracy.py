"""ImageNet-ReaL accuracy: hand-computed cases, timm's reference, order
independence, errors, two-process gathering and config builds."""
import json
import os.path as osp
import subprocess
import sys
from glob import glob

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.evaluator import Evaluator
from mmengine.registry import DefaultScope
from real_helpers import (HAND_CASE, HAND_EXPECTED, REPO, hand_samples,
                          ranking_scores, run_rank, write_json)

from vsa_mm.demo_data import make_imagenet_set
from vsa_mm.evaluation import ReaLAccuracy, check_topk, load_real_labels

TWIN_CONFIGS = [
    'vitaev2/vitaev2-s-window_8xb128_in1k_real-test.py',
    'vitaev2/vitaev2-s_8xb128_in1k_real-test.py',
    'vitaev2_vsa/vitaev2-s-vsa_8xb128_in1k_real-test.py',
    'vitaev2_vsa/vitaev2-b-vsa_in21k-pre_8xb128_in1k_real-test.py',
]


@pytest.fixture(scope='module')
def demo_val(tmp_path_factory):
    """Image paths of a 4-class demo set, 3 val images per class, in the
    order mmpretrain's ``CustomDataset`` loads them."""
    from mmpretrain.datasets import CustomDataset
    root = make_imagenet_set(
        str(tmp_path_factory.mktemp('demo') / 'imagenet'),
        per_class_train=1,
        per_class_val=3,
        size=32)
    dataset = CustomDataset(data_root=root, data_prefix='val', pipeline=[])
    paths = [dataset.get_data_info(i)['img_path'] for i in range(len(dataset))]
    assert sorted(osp.basename(p) for p in paths) == list(HAND_CASE)
    assert list(HAND_CASE) == sorted(HAND_CASE)
    return paths


@pytest.fixture
def hand_json(tmp_path):
    """real.json of :data:`HAND_CASE` (entries in sorted file-name order)."""
    return write_json(
        str(tmp_path / 'real.json'),
        [labels for _, labels in HAND_CASE.values()])


def _evaluate(metric, samples, size, batch=4):
    for start in range(0, len(samples), batch):
        metric.process(None, samples[start:start + batch])
    return metric.evaluate(size)


def test_hand_computed_case(demo_val, hand_json):
    metric = ReaLAccuracy(hand_json, topk=(1, 2))
    assert _evaluate(metric, hand_samples(demo_val), 12) == HAND_EXPECTED
    # top-5 of a 4-class model counts every class: all 10 are right.
    metric = ReaLAccuracy(hand_json)
    result = _evaluate(metric, hand_samples(demo_val), 12)
    assert result == {
        'real/top1': 40.0,
        'real/top5': 100.0,
        'real/num_images': 10
    }
    # results are cleared: a second round gives the same numbers
    assert _evaluate(metric, hand_samples(demo_val), 12) == result


def test_mmpretrain_data_samples_next_to_accuracy(demo_val, hand_json):
    from mmpretrain.datasets import CustomDataset
    from mmpretrain.structures import DataSample
    dataset = CustomDataset(
        data_root=osp.dirname(osp.dirname(osp.dirname(demo_val[0]))),
        data_prefix='val',
        pipeline=[])
    samples = []
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        ranking = HAND_CASE[osp.basename(info['img_path'])][0]
        sample = DataSample(
            metainfo=dict(img_path=info['img_path'], sample_idx=i))
        sample.set_gt_label(info['gt_label'])
        sample.set_pred_score(ranking_scores(ranking))
        samples.append(sample)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        evaluator = Evaluator([
            dict(type='Accuracy', topk=(1, )),
            dict(type='vsa_mm.ReaLAccuracy', real_json=hand_json, topk=(1, 2)),
        ])
    evaluator.process(samples[:5])
    evaluator.process(samples[5:])
    metrics = evaluator.evaluate(len(dataset))
    # original labels (folder = class): cat_0000, coffee_0001, coin_0000
    # and horse_0001 rank their own class first.
    assert metrics.pop('accuracy/top1') == pytest.approx(100 * 4 / 12)
    assert metrics == HAND_EXPECTED


def _timm_accuracy(real_json, filenames, outputs, topk):
    timm_data = pytest.importorskip('timm.data')
    reference = timm_data.RealLabelsImagenet(
        filenames, real_json=real_json, topk=topk)
    reference.add_result(outputs)
    return reference.get_accuracy()


def test_hand_case_matches_timm(demo_val, hand_json):
    # timm keys real.json entry i by ILSVRC2012_val_{i + 1:08d}.JPEG, so
    # each demo image gets the ILSVRC name of its sorted position.
    position = {name: i for i, name in enumerate(sorted(HAND_CASE))}
    filenames = [
        f'ILSVRC2012_val_{position[osp.basename(p)] + 1:08d}.JPEG'
        for p in demo_val
    ]
    samples = hand_samples(demo_val)
    outputs = torch.stack([s['pred_score'] for s in samples])
    reference = _timm_accuracy(hand_json, filenames, outputs, (1, 2))
    assert reference == {1: 40.0, 2: 80.0}
    ours = _evaluate(ReaLAccuracy(hand_json, topk=(1, 2)), samples, 12)
    assert ours['real/top1'] == pytest.approx(reference[1], abs=1e-9)
    assert ours['real/top2'] == pytest.approx(reference[2], abs=1e-9)


def test_imagenet_names_match_timm_on_random_predictions(tmp_path):
    rng = np.random.default_rng(0)
    num_images, num_classes = 300, 10
    real = [
        sorted(
            rng.choice(num_classes, rng.integers(0, 4),
                       replace=False).tolist()) for _ in range(num_images)
    ]
    real_json = write_json(str(tmp_path / 'real.json'), real)
    names = [f'ILSVRC2012_val_{i + 1:08d}.JPEG' for i in range(num_images)]
    # loader order: shuffled, images in class folders
    order = rng.permutation(num_images)
    paths = [
        f'data/imagenet/val/n{rng.integers(10):08d}/{names[i]}' for i in order
    ]
    outputs = torch.from_numpy(rng.standard_normal(
        (num_images, num_classes))).float()
    reference = _timm_accuracy(real_json, paths, outputs, (1, 5))
    samples = [dict(img_path=p, pred_score=s) for p, s in zip(paths, outputs)]
    # our metric sees another order, plus padding repeats
    mixed = [samples[i] for i in rng.permutation(num_images)] + samples[:7]
    ours = _evaluate(ReaLAccuracy(real_json), mixed, num_images, batch=32)
    assert ours['real/num_images'] == sum(bool(labels) for labels in real)
    assert ours['real/top1'] == pytest.approx(reference[1], abs=1e-9)
    assert ours['real/top5'] == pytest.approx(reference[5], abs=1e-9)
    assert 0 < ours['real/top1'] < ours['real/top5'] < 100


def test_order_and_padding_do_not_matter(demo_val, hand_json):
    samples = hand_samples(demo_val)
    orders = [
        samples[::-1],
        [samples[i] for i in (5, 0, 11, 3, 8, 1, 10, 6, 2, 9, 4, 7)],
        # distributed samplers pad with repeats of the first samples
        samples + samples[:4],
        samples[6:] + samples + samples[:2],
    ]
    for order in orders:
        metric = ReaLAccuracy(hand_json, topk=(1, 2))
        assert _evaluate(metric, order, 12, batch=5) == HAND_EXPECTED


def test_explicit_filenames(demo_val, tmp_path):
    # entries in reverse name order, mapped by an explicit name list
    names = sorted(HAND_CASE)[::-1]
    real_json = write_json(
        str(tmp_path / 'real.json'), [HAND_CASE[n][1] for n in names])
    listing = tmp_path / 'names.txt'
    listing.write_text(''.join(f'val/{n}\n' for n in names))
    for filenames in (names, str(listing)):
        metric = ReaLAccuracy(real_json, topk=(1, 2), filenames=filenames)
        assert _evaluate(metric, hand_samples(demo_val), 12) == HAND_EXPECTED
    # the same file under the sorted-name rule pairs other labels
    metric = ReaLAccuracy(real_json, topk=(1, 2))
    assert _evaluate(metric, hand_samples(demo_val), 12) != HAND_EXPECTED


def test_label_file_errors(tmp_path):
    missing = str(tmp_path / 'nowhere' / 'real.json')
    with pytest.raises(FileNotFoundError, match='nowhere'):
        ReaLAccuracy(missing)
    with pytest.raises(TypeError, match='real_json'):
        ReaLAccuracy(None)
    not_json = tmp_path / 'broken.json'
    not_json.write_text('[[1], [2')
    with pytest.raises(ValueError, match='broken.json.*not valid JSON'):
        ReaLAccuracy(str(not_json))
    cases = {
        'dict': ({
            'a': [1]
        }, 'non-empty list'),
        'empty': ([], 'non-empty list'),
        'flat': ([1, 2], 'entry 0 .* list of class indices'),
        'string': ([[1], ['3']], "entry 1 .* '3'"),
        'float': ([[1.0]], 'entry 0 .* 1.0'),
        'bool': ([[True]], 'entry 0 .* True'),
        'negative': ([[], [-2]], 'entry 1 .* -2'),
    }
    for name, (data, message) in cases.items():
        path = write_json(str(tmp_path / f'{name}.json'), data)
        with pytest.raises(ValueError, match=message):
            load_real_labels(path)


def test_topk_errors(hand_json):
    for topk, error in ((0, ValueError), ((1, -5), ValueError),
                        ((), ValueError), ((1, 1), ValueError),
                        ('1', TypeError), (True, TypeError),
                        ((1, 2.0), TypeError), (None, TypeError)):
        with pytest.raises(error, match='topk'):
            ReaLAccuracy(hand_json, topk=topk)
    assert check_topk([5, 1]) == (5, 1)


def test_mapping_errors(demo_val, hand_json, tmp_path):
    samples = hand_samples(demo_val)
    # more entries than evaluated images (and the reverse)
    long_json = write_json(str(tmp_path / 'long.json'), [[0]] * 13)
    with pytest.raises(ValueError, match=r'12 images .* 13 entries'):
        _evaluate(ReaLAccuracy(long_json), samples, 12)
    with pytest.raises(ValueError, match=r'11 images .* 12 entries'):
        _evaluate(ReaLAccuracy(hand_json), samples[1:], 11)
    # a file name that has no entry
    names = sorted(HAND_CASE)
    metric = ReaLAccuracy(hand_json, filenames=names[:-1] + ['other.JPEG'])
    with pytest.raises(ValueError, match="'horse_0002.JPEG' has no ReaL"):
        _evaluate(metric, samples, 12)
    with pytest.raises(ValueError, match='11 names .* 12 entries'):
        ReaLAccuracy(hand_json, filenames=names[1:])
    with pytest.raises(ValueError, match="'cat_0000.JPEG' twice"):
        ReaLAccuracy(hand_json, filenames=names[:1] + names[:-1])
    with pytest.raises(FileNotFoundError, match='names.txt'):
        ReaLAccuracy(hand_json, filenames=str(tmp_path / 'names.txt'))
    # the dataset size disagrees with the images received
    with pytest.raises(ValueError, match='12 distinct images .* has 13'):
        _evaluate(ReaLAccuracy(hand_json), samples, 13)
    # two folders with the same file name
    clash = samples[:11] + [dict(samples[0], img_path='x/cat_0000.JPEG')]
    with pytest.raises(ValueError, match="share the file name 'cat_0000"):
        _evaluate(ReaLAccuracy(hand_json), clash, 12)
    # labels beyond the model's classes
    wide = write_json(str(tmp_path / 'wide.json'), [[7]] * 12)
    with pytest.raises(ValueError, match=r"\[7\] of 'cat_0000.JPEG'"):
        _evaluate(ReaLAccuracy(wide), samples, 12)
    # nothing to count
    empty = write_json(str(tmp_path / 'empty.json'), [[]] * 12)
    with pytest.raises(ValueError, match='none of the 12'):
        _evaluate(ReaLAccuracy(empty), samples, 12)


def test_sample_errors(hand_json):
    metric = ReaLAccuracy(hand_json)
    with pytest.raises(ValueError, match="'img_path'"):
        metric.process(None, [dict(pred_score=torch.ones(4))])
    with pytest.raises(ValueError, match="'pred_score'"):
        metric.process(None, [dict(img_path='a.JPEG')])
    with pytest.raises(ValueError, match=r'shape .* \(2, 2\)'):
        metric.process(None,
                       [dict(img_path='a.JPEG', pred_score=torch.ones(2, 2))])
    with pytest.raises(TypeError, match='list'):
        metric.process(None, [['a.JPEG']])


@pytest.mark.timeout(300)
def test_two_processes_match_one(demo_val, hand_json, tmp_path):
    samples = hand_samples(demo_val)
    single = _evaluate(ReaLAccuracy(hand_json, topk=(1, 2)), samples, 12)
    assert single == HAND_EXPECTED
    order = [samples[i] for i in (7, 2, 11, 0, 5, 9, 3, 10, 1, 6, 8, 4)]
    scenarios = [
        # disjoint shards of 9 and 3 samples
        [order[:9], order[9:]],
        # uneven shards, one padded: interleaving and cutting to 12 would
        # keep the repeats and drop two samples
        [order[:9], order[9:] + order[:2]],
        # what a distributed sampler does: every other sample, padded
        [order[0::2] + order[:1], order[1::2] + order[:1]],
    ]
    torch.multiprocessing.spawn(
        run_rank,
        args=(2, str(tmp_path / 'init'), hand_json, scenarios, 12,
              str(tmp_path)),
        nprocs=2)
    for rank in range(2):
        with open(tmp_path / f'rank{rank}.json') as f:
            assert json.load(f) == [single] * len(scenarios)


def test_built_from_the_registry(hand_json):
    from mmengine.registry import METRICS as ROOT

    from vsa_mm.registry import METRICS
    cfg = dict(type='vsa_mm.ReaLAccuracy', real_json=hand_json, topk=(1, 2))
    for registry in (ROOT, METRICS):
        metric = registry.build(cfg)
        assert type(metric) is ReaLAccuracy
        assert metric.topk == (1, 2)
        assert metric.prefix == 'real'
    assert METRICS.get('ReaLAccuracy') is ReaLAccuracy


@pytest.mark.parametrize('name', TWIN_CONFIGS)
def test_real_test_configs(name, tmp_path):
    path = osp.join(REPO, 'configs', 'mmpretrain', name)
    cfg = Config.fromfile(path)
    row = Config.fromfile(path.replace('_real-test.py', '.py'))
    assert cfg.model == row.model
    assert cfg.test_dataloader == row.test_dataloader
    accuracy, real = cfg.test_evaluator
    assert accuracy == dict(type='Accuracy', topk=(1, 5))
    assert real == dict(
        type='vsa_mm.ReaLAccuracy',
        real_json='data/imagenet/real.json',
        topk=(1, 5))
    real.real_json = write_json(str(tmp_path / 'real.json'), [[1]])
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        evaluator = Evaluator(cfg.test_evaluator)
    assert [type(m).__name__
            for m in evaluator.metrics] == ['Accuracy', 'ReaLAccuracy']


def test_every_real_test_config_is_listed():
    found = sorted(
        osp.relpath(p, osp.join(REPO, 'configs', 'mmpretrain')) for p in glob(
            osp.join(REPO, 'configs', 'mmpretrain', '*', '*_real-test.py')))
    assert found == sorted(TWIN_CONFIGS)


def test_cfg_options_route(tmp_path):
    # the README's --cfg-options line for configs without a twin
    cfg = Config.fromfile(
        osp.join(REPO, 'configs', 'mmpretrain', 'swin_vsa',
                 'swin-tiny-vsa_8xb128_in1k.py'))
    real_json = write_json(str(tmp_path / 'real.json'), [[1]])
    cfg.merge_from_dict({
        'test_evaluator.type': 'vsa_mm.ReaLAccuracy',
        'test_evaluator.real_json': real_json
    })
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        evaluator = Evaluator(cfg.test_evaluator)
    (metric, ) = evaluator.metrics
    assert type(metric) is ReaLAccuracy and metric.topk == (1, 5)


def test_vsa_mm_does_not_import_mmpretrain():
    code = ('import sys, vsa_mm.evaluation; '
            "print('loaded:', sorted(m for m in sys.modules "
            "if m.split('.')[0] in ('mmpretrain', 'timm')))")
    output = subprocess.run([sys.executable, '-c', code],
                            cwd=REPO,
                            check=True,
                            capture_output=True,
                            text=True)
    assert 'loaded: []' in output.stdout.splitlines()

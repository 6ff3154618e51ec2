"""The GPU tier: ``pytest -m cuda`` on a machine with a CUDA GPU.

Every test here is marked ``cuda`` and skipped, with the reason, where torch
sees no GPU (CI runs on the CPU). ``make gpu-check`` runs this tier after
setting up mmcv with its CUDA ops, then the GPU benchmarks.
"""
import copy
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from helpers.models import SWIN_SMALL, move_windows
from helpers.official import SMALL
from helpers.paths import CONFIGS, REPO, TOOLS

from vsa_mm.models import SwinTransformerVSA, ViTAEv2, VSAWindowAttention
from vsa_mm.models.layers.varied_window_attention import VSA_BACKENDS

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(
        not torch.cuda.is_available(),
        reason='needs a CUDA GPU: torch.cuda.is_available() is False '
        '(run `pytest -m cuda` or `make gpu-check` on a GPU machine)'),
]
CUDA = torch.device('cuda')
#: (dtype, atol, rtol) of autocast outputs and gradients against float32.
AUTOCAST_TOLERANCES = {
    torch.float16: (2e-2, 2e-2),
    torch.bfloat16: (1e-1, 5e-2),
}


@pytest.fixture(autouse=True)
def full_float32_matmuls():
    """Compare CUDA with the CPU in full float32: by default PyTorch lets
    cuDNN convolutions use TF32, whose 10-bit mantissas round beyond these
    tests' float32 tolerances."""
    saved = (torch.backends.cuda.matmul.allow_tf32,
             torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    yield
    (torch.backends.cuda.matmul.allow_tf32,
     torch.backends.cudnn.allow_tf32) = saved


def _grads(model, inputs, *args, dtype=None):
    inputs = inputs.detach().requires_grad_()
    model.zero_grad(set_to_none=True)
    with torch.autocast(
            inputs.device.type,
            dtype=dtype or torch.float32,
            enabled=dtype is not None):
        outs = model(inputs, *args)
    outs = outs if isinstance(outs, (tuple, list)) else (outs, )
    sum(out.float().square().mean() for out in outs).backward()
    grads = {'input': inputs.grad}
    # A compiled model names its parameters '_orig_mod.<name>'.
    grads.update({
        name.removeprefix('_orig_mod.'): param.grad
        for name, param in model.named_parameters()
    })
    return [out.float() for out in outs], grads


def _assert_close(got, expected, atol, rtol):
    got_outs, got_grads = got
    outs, grads = expected
    for a, b in zip(got_outs, outs, strict=True):
        torch.testing.assert_close(a.cpu(), b.cpu(), atol=atol, rtol=rtol)
    assert got_grads.keys() == grads.keys()
    for name in grads:
        assert got_grads[name] is not None, name
        torch.testing.assert_close(
            got_grads[name].float().cpu(),
            grads[name].cpu(),
            atol=atol,
            rtol=rtol,
            msg=lambda m, name=name: f'{name}: {m}')


@pytest.mark.parametrize('backend', VSA_BACKENDS)
def test_layer_cuda_matches_cpu_in_float32(backend):
    layer = move_windows(VSAWindowAttention(64, 4, 7, backend=backend))
    x = torch.randn(2, 19 * 23, 64)
    got = _grads(copy.deepcopy(layer).to(CUDA), x.to(CUDA), (19, 23))
    if backend == 'triton':  # CUDA only: against the CPU's reference
        layer.backend = 'reference'
    expected = _grads(layer, x, (19, 23))
    # The regression heads' gradients are among the parameters compared.
    assert got[1]['sampling_offsets.proj.weight'].abs().sum() > 0
    _assert_close(got, expected, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize('dtype', sorted(AUTOCAST_TOLERANCES, key=str))
@pytest.mark.parametrize('backend', VSA_BACKENDS)
def test_layer_autocast_is_close_to_float32(backend, dtype):
    if dtype == torch.bfloat16 and not torch.cuda.is_bf16_supported():
        pytest.skip('this GPU has no bfloat16')
    layer = move_windows(VSAWindowAttention(64, 4, 7,
                                            backend=backend)).to(CUDA)
    x = torch.randn(2, 14 * 21, 64, device=CUDA)
    expected = _grads(layer, x, (14, 21))
    got = _grads(layer, x, (14, 21), dtype=dtype)
    _assert_close(got, expected, *AUTOCAST_TOLERANCES[dtype])


@pytest.mark.parametrize('with_cp', [False, True])
@pytest.mark.parametrize(
    'cls, arch', [(SwinTransformerVSA, SWIN_SMALL), (ViTAEv2, SMALL)],
    ids=['SwinTransformerVSA', 'ViTAEv2'])
def test_backbone_cuda_matches_cpu(cls, arch, with_cp):
    torch.manual_seed(0)
    # No stochastic depth: its draws differ between the devices.
    model = move_windows(cls(arch=arch, with_cp=with_cp,
                             drop_path_rate=0.)).train()
    images = torch.randn(2, 3, 96, 120)
    expected = _grads(model, images)
    got = _grads(copy.deepcopy(model).to(CUDA), images.to(CUDA))
    _assert_close(got, expected, atol=1e-3, rtol=1e-3)


def test_layer_compiles_with_inductor_on_cuda():
    layer = move_windows(VSAWindowAttention(64, 4, 7)).to(CUDA)
    compiled = torch.compile(copy.deepcopy(layer), fullgraph=True)
    x = torch.randn(2, 28 * 35, 64, device=CUDA)
    _assert_close(
        _grads(compiled, x, (28, 35)),
        _grads(layer, x, (28, 35)),
        atol=1e-4,
        rtol=1e-4)


#: The shortest run of each demo config that saves a checkpoint: its
#: ``--cfg-options`` and the checkpoint it leaves. The classifier needs two
#: epochs (its cosine schedule begins after a one-epoch warm-up); the
#: segmentor's loop counts iterations.
SHORT_RUNS = {
    'demo/mask-rcnn_swin-t-vsa_fpn_demo-coco.py':
    (('train_dataloader.dataset.indices=4', 'train_cfg.max_epochs=1',
      'train_cfg.val_interval=10', 'default_hooks.checkpoint.interval=1'),
     'epoch_1.pth'),
    'demo/upernet_swin-t-vsa_demo-cityscapes.py':
    (('train_cfg.max_iters=2', 'train_cfg.val_interval=10',
      'default_hooks.checkpoint.interval=2'), 'iter_2.pth'),
    'demo/swin-tiny-vsa_demo-imagenet.py':
    (('train_dataloader.dataset.indices=4', 'train_cfg.max_epochs=2',
      'train_cfg.val_interval=10', 'default_hooks.checkpoint.interval=1'),
     'epoch_2.pth'),
}


def _train(config: str,
           workspace: str,
           work_dir: str,
           *options: str,
           launcher: tuple = ()) -> subprocess.CompletedProcess:
    """A short run (:data:`SHORT_RUNS`) of a demo config through
    tools/train.py, batches of 2; ``options`` are more ``--cfg-options``
    (or flags after them)."""
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(
            filter(None, [str(REPO), os.environ.get('PYTHONPATH')])))
    return subprocess.run([
        *(launcher or (sys.executable, )),
        str(TOOLS / 'train.py'),
        str(CONFIGS / config), '--work-dir', work_dir, '--cfg-options',
        'train_dataloader.batch_size=2', *SHORT_RUNS[config][0], *options
    ],
                          cwd=workspace,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=1200)


def _assert_trained(result: subprocess.CompletedProcess, config: str,
                    work_dir: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    checkpoint = osp.join(work_dir, SHORT_RUNS[config][1])
    assert osp.exists(checkpoint), output[-3000:]


def test_mmcv_cuda_ops_match_their_cpu_ops():
    """The ops Mask R-CNN runs on CUDA tensors (NMS, RoIAlign) exist in this
    mmcv and agree with its CPU kernels; without them the detector's
    training fails deep inside mmdet."""
    from mmcv.ops import get_compiling_cuda_version, nms, roi_align
    assert get_compiling_cuda_version() not in ('', 'not available'), (
        'mmcv was built without its CUDA ops: run tools/setup_env.sh on '
        'this machine (it builds them where torch sees a GPU)')
    generator = torch.Generator().manual_seed(0)
    corners = torch.rand(64, 2, generator=generator) * 40
    boxes = torch.cat(
        [corners, corners + 4 + torch.rand(64, 2, generator=generator) * 20],
        dim=1)
    scores = torch.rand(64, generator=generator)
    _, keep = nms(boxes, scores, iou_threshold=0.5)
    _, keep_cuda = nms(boxes.to(CUDA), scores.to(CUDA), iou_threshold=0.5)
    assert 0 < len(keep) < 64
    assert torch.equal(keep_cuda.cpu(), keep)

    features = torch.randn(2, 8, 16, 16, generator=generator)
    rois = torch.cat(
        [torch.randint(0, 2,
                       (64, 1), generator=generator).float(), boxes / 4], 1)
    pooled = roi_align(features, rois, (7, 7), 1.0, 2, 'avg', True)
    pooled_cuda = roi_align(
        features.to(CUDA), rois.to(CUDA), (7, 7), 1.0, 2, 'avg', True)
    assert pooled.abs().sum() > 0
    torch.testing.assert_close(pooled_cuda.cpu(), pooled, atol=1e-5, rtol=0)


@pytest.mark.parametrize('config', [
    'demo/mask-rcnn_swin-t-vsa_fpn_demo-coco.py',
    'demo/upernet_swin-t-vsa_demo-cityscapes.py'
])
def test_detector_and_segmentor_train_on_cuda(config, demo_workspace,
                                              tmp_path):
    """mmcv's CUDA ops (RoIAlign, NMS) and SyncBN in one process."""
    work_dir = str(tmp_path / 'work')
    result = _train(
        config, demo_workspace, work_dir,
        *(['model.decode_head.norm_cfg.type=SyncBN']
          if 'upernet' in config else []))
    _assert_trained(result, config, work_dir)


def test_amp_training(demo_workspace, tmp_path):
    config = 'demo/swin-tiny-vsa_demo-imagenet.py'
    work_dir = str(tmp_path / 'work')
    result = _train(config, demo_workspace, work_dir, '--amp')
    _assert_trained(result, config, work_dir)
    assert 'AmpOptimWrapper' in result.stdout + result.stderr


@pytest.mark.skipif(
    torch.cuda.device_count() < 2, reason='NCCL DDP needs 2 or more GPUs')
def test_two_process_nccl_ddp(demo_workspace, tmp_path):
    config = 'demo/swin-tiny-vsa_demo-imagenet.py'
    work_dir = str(tmp_path / 'work')
    result = _train(
        config,
        demo_workspace,
        work_dir,
        '--launcher',
        'pytorch',
        launcher=(sys.executable, '-m', 'torch.distributed.run',
                  '--nproc_per_node=2', '--master_port=29533'))
    _assert_trained(result, config, work_dir)
    assert 'nccl' in (result.stdout + result.stderr).lower()


@pytest.mark.parametrize(
    'cls, arch', [(SwinTransformerVSA, SWIN_SMALL), (ViTAEv2, SMALL)],
    ids=['SwinTransformerVSA', 'ViTAEv2'])
def test_backbone_compiles_with_inductor_and_dynamic_shapes(cls, arch):
    torch.manual_seed(0)
    model = move_windows(cls(arch=arch, drop_path_rate=0.)).to(CUDA).train()
    compiled = torch.compile(copy.deepcopy(model), dynamic=True)
    for hw in [(96, 120), (112, 88)]:
        images = torch.randn(2, 3, *hw, device=CUDA)
        _assert_close(
            _grads(compiled, images),
            _grads(model, images),
            atol=1e-3,
            rtol=1e-3)

"""What the GPU tier's modules share."""
import pytest
import torch

#: ``pytestmark`` of every GPU-tier module: marked ``cuda``, skipped with the
#: reason where torch sees no GPU (CI runs on the CPU).
CUDA_TIER = [
    pytest.mark.cuda,
    pytest.mark.skipif(
        not torch.cuda.is_available(),
        reason='needs a CUDA GPU: torch.cuda.is_available() is False '
        '(run `pytest -m cuda` or `make gpu-check` on a GPU machine)'),
]
CUDA = torch.device('cuda')

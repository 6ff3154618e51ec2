"""Checkpoints that would run code when unpickled, for the safety tests."""
import os.path as osp
from typing import Dict

import torch


class Payload:
    """Unpickles by running code that creates ``marker`` (a test file)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        code = f'import pathlib; pathlib.Path({self.marker!r}).touch()'
        return exec, (code, )


def write_malicious(path: str,
                    marker: str,
                    weights: Dict[str, torch.Tensor],
                    key: str = 'meta') -> str:
    """A real ``torch.save`` checkpoint of ``weights`` whose ``key`` entry
    would run code: a loader that unpickled everything would load it and go
    on, having created ``marker``."""
    torch.save({'state_dict': weights, key: {'note': Payload(marker)}}, path)
    assert not osp.exists(marker)
    return path

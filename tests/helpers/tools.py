"""Running the command-line tools (``tools/``, ``dev/``) in tests."""
import os
import subprocess
import sys
from pathlib import Path
from typing import List, NamedTuple, Optional

import torch

REPO = Path(__file__).resolve().parents[2]
DEMO_CONFIGS = {
    'mmdet': REPO / 'configs/demo/mask-rcnn_swin-t-vsa_fpn_demo-coco.py',
    'mmseg': REPO / 'configs/demo/upernet_swin-t-vsa_demo-cityscapes.py',
    'mmpretrain': REPO / 'configs/demo/swin-tiny-vsa_demo-imagenet.py',
}
#: The converters, with the flags of each kind of source they take.
CONVERTERS = {
    'swin': ('swin_to_vsa_mm', ),
    'swin-vsa': ('swin_to_vsa_mm', '--vsa'),
    'vitaev2-vsa': ('vitaev2_vsa_to_vsa_mm', ),
}


class Result(NamedTuple):
    returncode: int
    stdout: str
    stderr: str


def run_tool(script: str,
             *args: str,
             cwd: Optional[str] = None,
             timeout: int = 600,
             env: Optional[dict] = None,
             python: Optional[str] = None,
             folder: str = 'tools') -> Result:
    """Run ``<folder>/<script>`` (``tools/`` by default, or ``dev/``) with
    ``python`` (default: this interpreter), warnings off."""
    env = dict(os.environ, PYTHONWARNINGS='ignore', **(env or {}))
    env.pop('VSA_MM_TRACEBACK', None)
    proc = subprocess.run(
        [python or sys.executable,
         str(REPO / folder / script), *args],
        cwd=cwd or str(REPO),
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def write_untrained_checkpoint(config: str, path: str) -> str:
    """Save the initialised weights of ``config``'s model to ``path``."""
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope
    cfg = Config.fromfile(config)
    init_default_scope(cfg.default_scope)
    model = MODELS.build(cfg.model)
    model.init_weights()
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    return path


def converter(kind: str, *args: str) -> Result:
    """Run the converter of a kind of source (:data:`CONVERTERS`)."""
    script, *flags = CONVERTERS[kind]
    return run_tool(f'model_converters/{script}.py', *args, *flags)


def error_lines(result: Result) -> List[str]:
    """The non-empty stderr lines of a failed tool run."""
    return [line for line in result.stderr.splitlines() if line.strip()]


def assert_one_line_error(result: Result, *fragments: str) -> str:
    """The tool failed with exactly one stderr line holding ``fragments``."""
    assert result.returncode != 0, result
    lines = error_lines(result)
    assert len(lines) == 1, result.stderr[-3000:]
    assert 'Traceback' not in result.stdout + result.stderr
    assert ': error: ' in lines[0], lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]

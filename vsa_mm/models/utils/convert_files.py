"""Converting official checkpoint files (used by tools/model_converters)."""
import argparse
import os
import os.path as osp
import tempfile
from typing import Callable, List

import torch
from mmengine.logging import MMLogger
from mmengine.runner.checkpoint import CheckpointLoader

from .ckpt_convert import (as_classifier_state_dict, convert_swin,
                           convert_vitaev2_vsa, infer_swin_arch,
                           unwrap_state_dict)


def save_checkpoint_atomically(checkpoint: dict, path: str) -> None:
    """``torch.save`` to a temporary file, then rename it over ``path``.

    An interrupted write never leaves a truncated file at ``path``.
    """
    directory = osp.dirname(osp.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, tmp_path = tempfile.mkstemp(
        dir=directory, prefix='.' + osp.basename(path), suffix='.tmp')
    try:
        with os.fdopen(handle, 'wb') as file:
            torch.save(checkpoint, file)
        os.replace(tmp_path, path)
    except BaseException:
        if osp.exists(tmp_path):
            os.remove(tmp_path)
        raise


def convert_swin_file(src: str,
                      dst: str,
                      require_vsa: bool,
                      prefer_ema: bool = False) -> List[str]:
    """Convert an official Swin / Swin + VSA checkpoint file.

    The result is an mmpretrain ``ImageClassifier`` state dict
    (``backbone.*`` and, when the source has a head, ``head.fc.*``) under
    ``state_dict``, loadable by ``load_from`` or by
    ``init_cfg=dict(type='Pretrained', checkpoint=dst, prefix='backbone.')``.

    Args:
        src (str): Official checkpoint (path or URL).
        dst (str): Output path; written atomically.
        require_vsa (bool): Fail unless every backbone weight is present
            (a Swin + VSA checkpoint); otherwise the position encodings and
            regression heads may stay new (a plain Swin checkpoint).
        prefer_ema (bool): Use ``state_dict_ema`` when present.

    Returns:
        list[str]: Backbone keys that the source did not provide.
    """
    from vsa_mm.models.backbones import SwinTransformerVSA
    checkpoint = CheckpointLoader.load_checkpoint(src, map_location='cpu')
    backbone, head = convert_swin(unwrap_state_dict(checkpoint, prefer_ema))
    arch, window_size = infer_swin_arch(backbone)
    model = SwinTransformerVSA(
        arch=arch, window_size=window_size, out_indices=(len(arch['depths']) -
                                                         1, ))
    result = model.load_state_dict(backbone, strict=False)
    if result.unexpected_keys:
        raise ValueError(f'{src}: converted keys unknown to '
                         f'SwinTransformerVSA: {result.unexpected_keys[:10]}')
    if require_vsa and result.missing_keys:
        raise ValueError(f'{src} is not a complete Swin + VSA checkpoint; '
                         f'missing {result.missing_keys[:10]} (use '
                         'swin_to_vsa_mm.py for plain Swin checkpoints)')
    _save_classifier(dst, backbone, head, src, arch=arch,
                     window_size=window_size)
    return list(result.missing_keys)


def convert_vitaev2_vsa_file(src: str,
                             dst: str,
                             prefer_ema: bool = False) -> str:
    """Convert an official ViTAE-VSA classification checkpoint file.

    The preset is the one of :class:`ViTAEv2`'s ``arch_zoo`` into which
    the converted weights load with ``strict=True``. The output is written
    as by :func:`convert_swin_file`.

    Args:
        src (str): Official checkpoint (path or URL).
        dst (str): Output path; written atomically.
        prefer_ema (bool): Use ``state_dict_ema`` when present.

    Returns:
        str: The preset's name (``'s-vsa'``, ``'48m-vsa'`` or ``'b-vsa'``).

    Raises:
        ValueError: If no preset matches the weights.
    """
    from vsa_mm.models.backbones import ViTAEv2
    checkpoint = CheckpointLoader.load_checkpoint(src, map_location='cpu')
    backbone, head = convert_vitaev2_vsa(
        unwrap_state_dict(checkpoint, prefer_ema))
    mismatches = {}
    for arch in ('s-vsa', '48m-vsa', 'b-vsa'):
        try:
            ViTAEv2(arch).load_state_dict(backbone, strict=True)
        except RuntimeError as error:
            mismatches[arch] = str(error).split('\n')[1:3]
            continue
        _save_classifier(dst, backbone, head, src, arch=arch)
        return arch
    raise ValueError(f'{src} matches no ViTAEv2 preset: {mismatches}')


def _save_classifier(dst: str, backbone: dict, head: dict, src: str,
                     **meta) -> None:
    save_checkpoint_atomically(
        dict(
            state_dict=as_classifier_state_dict(backbone, head),
            meta=dict(converted_from=osp.basename(src), **meta)), dst)


def converter_cli(description: str,
                  convert: Callable[[str, str, bool], str]) -> None:
    """Run a converter as the command ``SRC DST [--ema]``.

    Args:
        description (str): The tool's docstring (its first line is the
            help text).
        convert (callable): ``convert(src, dst, prefer_ema)`` writes DST
            and returns a message, which is logged.
    """
    parser = argparse.ArgumentParser(description=description.split('\n')[0])
    parser.add_argument('src', help='official checkpoint (path or URL)')
    parser.add_argument('dst', help='output checkpoint')
    parser.add_argument(
        '--ema', action='store_true', help='prefer state_dict_ema')
    args = parser.parse_args()
    MMLogger.get_instance('vsa_mm').info(
        convert(args.src, args.dst, args.ema))

"""Converting official checkpoint files (used by tools/model_converters).

Official checkpoints are loaded with ``torch.load(weights_only=True)``: the
allowlist of :mod:`vsa_mm.checkpoint.safe_load` plus, for the duration of
the load, the two types official trainers pickle
(``OFFICIAL_CHECKPOINT_GLOBALS`` of :mod:`vsa_mm.models.utils.official_init`).
A file that needs anything else is refused with a message naming the types;
the converters' ``--unsafe-load`` flag loads it anyway, for files you trust.
"""
import argparse
import os.path as osp
from typing import Callable, Dict, List, Optional

import torch
from mmengine.logging import MMLogger

from ..checkpoint.atomic_io import atomic_writer
from ..checkpoint.safe_load import UNSAFE_FLAG, load_checkpoint_file
from ..models.utils.ckpt_convert import (StateDict, as_classifier_state_dict,
                                         convert_swin, convert_vitaev2_vsa,
                                         infer_swin_arch, unwrap_state_dict)
from ..models.utils.official_init import OFFICIAL_CHECKPOINT_GLOBALS
from .tool import ToolArgumentParser, run_tool

#: Appended to a refusal of an official checkpoint.
UNSAFE_HINT = (f'If you trust this file, convert it with {UNSAFE_FLAG} '
               '(unpickles everything: only for files you trust)')


def load_official_file(src: str, unsafe: bool = False) -> dict:
    """Load an official checkpoint with the official trainers' types.

    Args:
        src (str): Path or URL.
        unsafe (bool): Unpickle everything (``--unsafe-load``).

    Returns:
        dict: The checkpoint.

    Raises:
        FileNotFoundError: If a local ``src`` does not exist.
        ValueError: If ``src`` is not a whole checkpoint, or is refused
            (:class:`~vsa_mm.checkpoint.safe_load.UnsafeCheckpointError`).
    """
    return load_checkpoint_file(
        src,
        map_location='cpu',
        extra_globals=OFFICIAL_CHECKPOINT_GLOBALS,
        unsafe=unsafe,
        hint=UNSAFE_HINT)


def check_destination(src: str, dst: str, force: bool = False) -> None:
    """Refuse a destination that would lose or mix up data.

    Args:
        src (str): The source checkpoint (path or URL).
        dst (str): The output path.
        force (bool): Allow replacing an existing ``dst``.

    Raises:
        TypeError: If ``dst`` is not a str.
        ValueError: If ``dst`` is ``src``, a directory, or (without
            ``force``) an existing file.
        FileNotFoundError: If the directory of ``dst`` does not exist.
    """
    if not isinstance(dst, str) or not dst:
        raise TypeError(f'destination must be a non-empty str, got {dst!r}')
    directory = osp.dirname(osp.abspath(dst))
    if not osp.isdir(directory):
        raise FileNotFoundError(
            f'the directory of destination {dst!r} does not exist: '
            f'{directory!r}')
    if osp.isdir(dst):
        raise ValueError(f'destination {dst!r} is a directory')
    same = '://' not in src and (osp.abspath(src) == osp.abspath(dst) or
                                 (osp.exists(src) and osp.exists(dst)
                                  and osp.samefile(src, dst)))
    if same:
        raise ValueError(f'destination {dst!r} is the source checkpoint; '
                         'write the conversion to another file')
    if osp.exists(dst) and not force:
        raise FileExistsError(f'destination {dst!r} exists; pass --force to '
                              'replace it')


def _official_weights(src: str, prefer_ema: bool, unsafe: bool) -> StateDict:
    checkpoint = load_official_file(src, unsafe=unsafe)
    try:
        return unwrap_state_dict(checkpoint, prefer_ema)
    except TypeError as error:
        raise ValueError(f'{src} is not a model checkpoint: {error}') from None


def convert_swin_file(src: str,
                      dst: str,
                      require_vsa: bool,
                      prefer_ema: bool = True,
                      force: bool = False,
                      unsafe: bool = False) -> List[str]:
    """Convert an official Swin / Swin + VSA checkpoint file.

    The result is an mmpretrain ``ImageClassifier`` state dict
    (``backbone.*`` and, when the source has a head, ``head.fc.*``) under
    ``state_dict``, loadable by ``load_from`` or by
    ``init_cfg=dict(type='Pretrained', checkpoint=dst, prefix='backbone.')``.

    Args:
        src (str): Official checkpoint (path or URL).
        dst (str): Output path in an existing directory; written atomically.
        require_vsa (bool): Fail unless every backbone weight is present
            (a Swin + VSA checkpoint); otherwise the position encodings and
            regression heads may stay new (a plain Swin checkpoint).
        prefer_ema (bool): Use ``state_dict_ema`` when present (the
            official runs report the EMA model). Defaults to True.
        force (bool): Replace an existing ``dst``.
        unsafe (bool): Load ``src`` with ``weights_only=False``.

    Returns:
        list[str]: Backbone keys that the source did not provide.

    Raises:
        ValueError: If ``src`` is not a (complete) checkpoint of this model,
            is refused, or ``dst`` is not a valid destination.
    """
    from vsa_mm.models.backbones import SwinTransformerVSA
    check_destination(src, dst, force)
    weights = _official_weights(src, prefer_ema, unsafe)
    try:
        backbone, head = convert_swin(weights)
        arch, window_size = infer_swin_arch(backbone)
    except ValueError as error:
        raise ValueError(f'{src}: {error}') from None
    model = SwinTransformerVSA(
        arch=arch,
        window_size=window_size,
        out_indices=(len(arch['depths']) - 1, ))
    try:
        result = model.load_state_dict(backbone, strict=False)
    except RuntimeError as error:  # shapes of another architecture
        raise ValueError(f'{src}: weights do not fit SwinTransformerVSA: '
                         f'{" ".join(str(error).split())[:300]}') from None
    if result.unexpected_keys:
        raise ValueError(f'{src}: converted keys unknown to '
                         f'SwinTransformerVSA: {result.unexpected_keys[:10]}')
    if require_vsa and result.missing_keys:
        raise ValueError(f'{src} is not a complete Swin + VSA checkpoint; '
                         f'missing {result.missing_keys[:10]} (convert '
                         'a plain Swin checkpoint without --vsa)')
    _save_classifier(
        dst, backbone, head, src, arch=arch, window_size=window_size)
    return list(result.missing_keys)


def convert_vitaev2_vsa_file(src: str,
                             dst: str,
                             prefer_ema: bool = True,
                             force: bool = False,
                             unsafe: bool = False) -> str:
    """Convert an official ViTAE-VSA classification checkpoint file.

    The preset is read off the weights' shapes (:meth:`ViTAEv2.preset_of`)
    and checked by loading them into it. The output is written as by
    :func:`convert_swin_file`.

    Args:
        src (str): Official checkpoint (path or URL).
        dst (str): Output path in an existing directory; written atomically.
        prefer_ema (bool): Use ``state_dict_ema`` when present. Defaults
            to True.
        force (bool): Replace an existing ``dst``.
        unsafe (bool): Load ``src`` with ``weights_only=False``.

    Returns:
        str: The preset's name (``'s-vsa'``, ``'48m-vsa'`` or ``'b-vsa'``).

    Raises:
        ValueError: If no preset matches the weights, ``src`` is refused or
            not a checkpoint, or ``dst`` is not a valid destination.
    """
    from vsa_mm.models.backbones import ViTAEv2
    check_destination(src, dst, force)
    weights = _official_weights(src, prefer_ema, unsafe)
    try:
        backbone, head = convert_vitaev2_vsa(weights)
    except ValueError as error:
        raise ValueError(f'{src}: {error}') from None
    if not backbone:
        raise ValueError(f'{src}: no ViTAE-VSA backbone weights among its '
                         f'keys {list(weights)[:5]}')
    try:
        arch = ViTAEv2.preset_of(backbone)
    except ValueError as error:
        raise ValueError(f'{src}: {error}') from None
    result = ViTAEv2(arch).load_state_dict(backbone, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(
            f'{src} has the shapes of ViTAEv2 {arch!r} but '
            f'{len(result.missing_keys)} missing and '
            f'{len(result.unexpected_keys)} unexpected keys, e.g. '
            f'{(result.missing_keys + result.unexpected_keys)[:3]}')
    _save_classifier(dst, backbone, head, src, arch=arch)
    return arch


def _save_classifier(dst: str, backbone: dict, head: dict, src: str,
                     **meta) -> None:
    checkpoint = dict(
        state_dict=as_classifier_state_dict(backbone, head),
        meta=dict(converted_from=osp.basename(src), **meta))
    with atomic_writer(dst, make_dirs=False) as file:
        torch.save(checkpoint, file)


#: What every converter's ``--help`` ends with.
CONVERTER_EPILOG = (
    'SRC is loaded with torch.load(weights_only=True); a file that pickles '
    "more than weights and the official trainers' settings is refused, "
    'naming what it holds (--unsafe-load loads it anyway: only for files you '
    'trust). SRC may be a bare state dict or wrapped under model, '
    'state_dict or state_dict_ema. DST must be in an existing directory and '
    'is written atomically; an existing DST is replaced only with --force.')


def converter_cli(description: str,
                  convert: Callable[..., str],
                  switches: Optional[Dict[str, str]] = None) -> None:
    """Run a converter as ``SRC DST [--no-ema] [--force] [--unsafe-load]``.

    A failure is reported as one line and exit status 1
    (:func:`vsa_mm.cli.tool.run_tool`); DST is then unchanged.

    Args:
        description (str): The tool's docstring (its first line is the
            help text).
        convert (callable): ``convert(src, dst, prefer_ema, force=...,
            unsafe=..., **switches)`` writes DST and returns a message,
            which is logged.
        switches (dict[str, str], optional): More flags of the tool, e.g.
            ``{'--vsa': help}``, each passed to ``convert`` as a bool
            keyword (``vsa=``).
    """
    parser = ToolArgumentParser(
        description=description.split('\n')[0], epilog=CONVERTER_EPILOG)
    parser.add_argument('src', help='official checkpoint (path or URL)')
    parser.add_argument(
        'dst', help='output checkpoint, in an existing directory')
    parser.add_argument(
        '--ema',
        action=argparse.BooleanOptionalAction,
        default=True,
        help='take state_dict_ema when the file has it (default; '
        '--no-ema takes the raw weights)')
    parser.add_argument(
        '--force', action='store_true', help='replace an existing DST')
    parser.add_argument(
        UNSAFE_FLAG,
        dest='unsafe',
        action='store_true',
        help='load SRC with weights_only=False, which runs any code pickled '
        'in it: only for files you trust')
    names = [
        parser.add_argument(flag, action='store_true', help=text).dest
        for flag, text in (switches or {}).items()
    ]
    args = parser.parse_args()

    def main() -> None:
        message = convert(
            args.src,
            args.dst,
            args.ema,
            force=args.force,
            unsafe=args.unsafe,
            **{name: getattr(args, name)
               for name in names})
        MMLogger.get_instance('vsa_mm').info(message)

    run_tool(main, checkpoint=lambda: args.src)

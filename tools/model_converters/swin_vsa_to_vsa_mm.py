"""Convert the authors' Swin + VSA checkpoint into vsa_mm's layout.

The source layout is the QFormer repository's
``models/swin/swin_transformer_vsa.py``; every weight must convert.

Usage::

    .venv/bin/python tools/model_converters/swin_vsa_to_vsa_mm.py SRC DST

SRC may be a bare state dict or wrapped under ``model``, ``state_dict`` or
``state_dict_ema``. DST is an mmpretrain classifier checkpoint: use it as
``load_from`` in a classification config, or as
``init_cfg=dict(type='Pretrained', checkpoint=DST, prefix='backbone.')`` for
a detection or segmentation backbone.
"""
from vsa_mm.models.utils.convert_files import converter_cli, convert_swin_file


def convert(src: str, dst: str, prefer_ema: bool) -> str:
    convert_swin_file(src, dst, require_vsa=True, prefer_ema=prefer_ema)
    return f'wrote {dst}'


if __name__ == '__main__':
    converter_cli(__doc__, convert)

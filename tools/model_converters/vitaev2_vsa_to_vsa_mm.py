"""Convert an official ViTAE-VSA ImageNet checkpoint into vsa_mm's layout.

The source layout is ViTAE-VSA's ``Image-Classification/vitaev2_vsa``
(ViTAEv2-S/48M/B + VSA); the preset is recognised from the weights, and
every weight must convert.

Usage::

    .venv/bin/python tools/model_converters/vitaev2_vsa_to_vsa_mm.py SRC DST

How SRC is loaded and DST written: ``--help``. DST is an mmpretrain
classifier checkpoint: use it as ``load_from`` with
``configs/mmpretrain/vitaev2_vsa/``, or as ``init_cfg=dict(type='Pretrained',
checkpoint=DST, prefix='backbone.')`` for a detection or segmentation
backbone.
"""
from vsa_mm.cli.convert_files import convert_vitaev2_vsa_file, converter_cli


def convert(src: str,
            dst: str,
            prefer_ema: bool = True,
            force: bool = False,
            unsafe: bool = False) -> str:
    arch = convert_vitaev2_vsa_file(
        src, dst, prefer_ema=prefer_ema, force=force, unsafe=unsafe)
    return f'wrote {dst} (ViTAEv2 arch={arch!r})'


if __name__ == '__main__':
    converter_cli(__doc__, convert)

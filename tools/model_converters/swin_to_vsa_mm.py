"""Convert a Microsoft Swin checkpoint to initialise Swin + VSA (vsa_mm).

The depthwise position encodings and the VSA regression heads are not in a
plain Swin checkpoint: they stay at the model's initialisation (zero
regression, i.e. plain window attention) and are listed.

Usage::

    .venv/bin/python tools/model_converters/swin_to_vsa_mm.py SRC DST

SRC may be a bare state dict or wrapped under ``model``, ``state_dict`` or
``state_dict_ema``. DST is an mmpretrain classifier checkpoint: use it as
``load_from`` in a classification config, or as
``init_cfg=dict(type='Pretrained', checkpoint=DST, prefix='backbone.')`` for
a detection or segmentation backbone.
"""
from vsa_mm.models.utils.convert_files import converter_cli, convert_swin_file


def convert(src: str, dst: str, prefer_ema: bool) -> str:
    new_keys = convert_swin_file(
        src, dst, require_vsa=False, prefer_ema=prefer_ema)
    return (f'wrote {dst}; {len(new_keys)} backbone weights are new (left '
            "to the model's initialisation): " + ', '.join(new_keys))


if __name__ == '__main__':
    converter_cli(__doc__, convert)

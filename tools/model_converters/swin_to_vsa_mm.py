"""Convert a Swin or Swin + VSA checkpoint into vsa_mm's layout.

- A Microsoft Swin checkpoint initialises Swin + VSA: the depthwise
  position encodings and the VSA regression heads are not in it, so they
  stay at the model's initialisation (zero regression, i.e. plain window
  attention) and are listed.
- With ``--vsa``, SRC is the authors' Swin + VSA checkpoint (the QFormer
  repository's ``models/swin/swin_transformer_vsa.py``): every weight must
  convert.

Usage::

    .venv/bin/python tools/model_converters/swin_to_vsa_mm.py SRC DST
    .venv/bin/python tools/model_converters/swin_to_vsa_mm.py SRC DST --vsa

How SRC is loaded and DST written: ``--help``. DST is an mmpretrain
classifier checkpoint: use it as ``load_from`` in a classification config, or
as ``init_cfg=dict(type='Pretrained', checkpoint=DST, prefix='backbone.')``
for a detection or segmentation backbone.
"""
from vsa_mm.cli.convert_files import convert_swin_file, converter_cli


def convert(src: str,
            dst: str,
            prefer_ema: bool = True,
            force: bool = False,
            unsafe: bool = False,
            vsa: bool = False) -> str:
    new_keys = convert_swin_file(
        src,
        dst,
        require_vsa=vsa,
        prefer_ema=prefer_ema,
        force=force,
        unsafe=unsafe)
    if vsa:
        return f'wrote {dst}'
    return (f'wrote {dst}; {len(new_keys)} backbone weights are new (left '
            "to the model's initialisation): " + ', '.join(new_keys))


if __name__ == '__main__':
    converter_cli(
        __doc__,
        convert,
        switches={
            '--vsa':
            "SRC is the authors' Swin + VSA checkpoint: every weight must "
            'convert'
        })

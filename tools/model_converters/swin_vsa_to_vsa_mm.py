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
import argparse

from mmengine.logging import MMLogger

from vsa_mm.models.utils.convert_files import convert_swin_file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='official checkpoint')
    parser.add_argument('dst', help='output checkpoint')
    parser.add_argument(
        '--ema', action='store_true', help='prefer state_dict_ema')
    args = parser.parse_args()
    new_keys = convert_swin_file(
        args.src, args.dst, require_vsa=True, prefer_ema=args.ema)
    logger = MMLogger.get_instance('vsa_mm')
    if new_keys:
        logger.info(f'{len(new_keys)} backbone weights are new (left to '
                    'the model\'s initialisation): ' + ', '.join(new_keys))
    logger.info(f'wrote {args.dst}')


if __name__ == '__main__':
    main()

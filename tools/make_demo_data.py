"""Generate the embedded demo sets (COCO, Cityscapes, ImageNet layouts).

They are built from photographs that ship inside scikit-image and
scikit-learn, take a few seconds, and are reused when already present.

Example:
    python tools/make_demo_data.py --root data/demo
"""
from mmengine.logging import MMLogger

from vsa_mm.cli.tool import ToolArgumentParser, run_tool
from vsa_mm.demo_data import make_demo_data


def main() -> None:
    parser = ToolArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--root', default='data/demo', help='output directory')
    args = parser.parse_args()

    def make() -> None:
        logger = MMLogger.get_instance('vsa_mm')
        for kind, path in make_demo_data(args.root).items():
            logger.info(f'{kind} demo set: {path}')

    run_tool(make)


if __name__ == '__main__':
    main()

"""Packaging of vsa_mm: Varied-Size Window Attention for OpenMMLab 2.x."""
import os.path as osp

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def read_version() -> str:
    namespace: dict = {}
    with open(osp.join(HERE, 'vsa_mm', 'version.py'), encoding='utf-8') as f:
        exec(f.read(), namespace)
    return namespace['__version__']


def read_requirements(name: str) -> list:
    path = osp.join(HERE, 'requirements', name)
    with open(path, encoding='utf-8') as f:
        lines = (line.split('#', 1)[0].strip() for line in f)
        return [line for line in lines if line]


setup(
    name='vsa_mm',
    version=read_version(),
    description='VSA: Varied-Size Window Attention backbones for '
    'mmpretrain, mmdet and mmseg',
    long_description=open(osp.join(HERE, 'README.md'),
                          encoding='utf-8').read() if osp.exists(
                              osp.join(HERE, 'README.md')) else '',
    long_description_content_type='text/markdown',
    packages=find_packages(include=['vsa_mm', 'vsa_mm.*']),
    python_requires='>=3.10',
    install_requires=['torch>=2.0', 'mmengine>=0.10.0', 'mmcv>=2.0.0,<2.2.0'],
    extras_require={
        'tasks': read_requirements('runtime.txt'),
        'tests': read_requirements('tests.txt'),
        'demo': read_requirements('demo.txt'),
    },
    classifiers=[
        'Programming Language :: Python :: 3',
        'Topic :: Scientific/Engineering :: Artificial Intelligence',
    ],
)

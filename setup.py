"""Packaging of vsa_mm: Varied-Size Window Attention for OpenMMLab 2.x."""
import os
import os.path as osp
import shutil

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = osp.dirname(osp.abspath(__file__))
#: What a built package holds in ``vsa_mm/.mim``, where OpenMMLab's tools
#: look: ``mim search``/``train``/``test``/``run`` and MMEngine's
#: ``vsa_mm::`` config prefix. ``tools/`` holds only what users run (the
#: maintainers' machinery is in ``dev/``, which no package ships).
MIM_FILES = ('configs', 'model-index.yml', 'tools')


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


class BuildPyWithMim(build_py):
    """``build_py`` that also copies :data:`MIM_FILES` into ``vsa_mm/.mim``.

    Wheels (and installs from the sdist, which ships them) get the copies;
    an editable install reads the checkout and gets none.
    """

    def run(self) -> None:
        super().run()
        if getattr(self, 'editable_mode', False):
            return
        mim = osp.join(self.build_lib, 'vsa_mm', '.mim')
        if osp.isdir(mim):
            shutil.rmtree(mim)
        os.makedirs(mim)
        skip = shutil.ignore_patterns('__pycache__', '*.py[cod]')
        for name in MIM_FILES:
            source = osp.join(HERE, name)
            if osp.isdir(source):
                shutil.copytree(source, osp.join(mim, name), ignore=skip)
            else:
                shutil.copy2(source, mim)


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
    # The tested range (docs/environment.md). mmcv (with its ops, for mmdet
    # and mmseg) or mmcv-lite (without) comes from the user's stack, as for
    # mmdet and mmpretrain: `mim install` adds it (requirements/mminstall.txt).
    install_requires=['torch>=2.1,<2.15', 'mmengine>=0.10.0,<1.0.0'],
    extras_require={
        'mim': read_requirements('mminstall.txt'),
        'tasks': read_requirements('runtime.txt'),
        'tests': read_requirements('tests.txt'),
        'demo': read_requirements('demo.txt'),
        'vis': read_requirements('vis.txt'),
        'deploy': read_requirements('deploy.txt'),
    },
    cmdclass={'build_py': BuildPyWithMim},
    classifiers=[
        'Programming Language :: Python :: 3',
        'Topic :: Scientific/Engineering :: Artificial Intelligence',
    ],
)

"""vsa_mm's dependencies for a Linux machine without internet access.

For a machine (a GPU node, say) whose Python already has torch and
torchvision but cannot reach PyPI. Two commands:

``download DIR``, where PyPI can be reached, with any Python 3.8+ and pip
22.2+. It writes into ``DIR``:

- the wheels of the OpenMMLab packages (``requirements/runtime.txt``), of
  the test tools (``requirements/tests.txt``) and of everything they depend
  on, for the target's Python version on x86-64 Linux, except the torch
  family (torch, torchvision, torchaudio, triton, NVIDIA's libraries) and
  the distributions named in ``--installed``;
- in ``DIR/build-tools``, what compiling mmcv needs besides torch
  (setuptools < 81, wheel, ninja), which only the compile sees;
- mmcv's source archive, which the target compiles for its own torch. It
  is fetched from the index's JSON listing (PEP 691, ``PIP_INDEX_URL`` or
  PyPI) and its SHA-256 checked, because ``pip download`` would run its
  ``setup.py``, which imports torch.

``install DIR``, on the target, with the target's Python. It installs the
wheels whose distributions that environment lacks (nothing it has is
replaced; no index, no dependency resolution), then mmcv from the archive:
without ``--mmcv-ops`` and only where mmcv is missing, without compiled ops
(mmcv-lite, in seconds; enough for the VSA layer, the backbones and
mmpretrain, not for mmseg's models or mmdet's RoIAlign and NMS); with
``--mmcv-ops``, with its compiled ops, CUDA ops included for the GPUs
torch sees (nvcc of torch's CUDA version on ``PATH`` or in ``CUDA_HOME``;
the wheel is cached in ``$VSA_MM_CACHE``, default ``~/.cache/vsa_mm``, and
compiled once per machine). Last, it checks that mmpretrain's models
import. vsa_mm itself then runs from the checkout (``PYTHONPATH``).

``compile-mmcv DIR`` compiles that cached wheel without installing it, so
that it can run in the background beside programs that import mmcv.

Examples::

    python3 dev/wheelhouse.py download .whl --python-version 3.12
    # leave out what the target has (`python3 -m pip list --format=freeze`
    # there, or one distribution name per line):
    python3 dev/wheelhouse.py download .whl --python-version 3.12 \\
        --installed target.txt
    # on the target:
    python3 dev/wheelhouse.py install .whl
    VSA_MM_PYTHON=python3 VSA_MM_WHEELHOUSE=.whl make gpu-check

The script needs only the standard library, so that it runs before anything
is installed; it reports through :mod:`logging`, and a failure as one line.
"""
import argparse
import glob
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import os.path as osp
import re
import subprocess
import sys
import tempfile
import urllib.request
from typing import Iterable, List, NoReturn, Optional, Set, Tuple

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
REQUIREMENTS = ('runtime.txt', 'tests.txt')
#: What compiling mmcv needs besides torch, in ``DIR/build-tools``: put on
#: the path of the compile only, whatever the target has (setuptools < 81
#: still has the pkg_resources that mmcv's setup.py imports).
BUILD_TOOLS = ('setuptools>=77,<81', 'wheel', 'ninja')
MMCV_VERSION = '2.1.0'
#: Distributions the target must already have: they come with its torch.
TORCH_FAMILY = re.compile(r'^(torch|torchvision|torchaudio|triton|nvidia-.*|'
                          r'cuda-.*)$')
#: Distributions that provide the same modules: having one is having all.
INTERCHANGEABLE = (frozenset({
    'opencv-python', 'opencv-python-headless', 'opencv-contrib-python',
    'opencv-contrib-python-headless'
}), frozenset({'mmcv', 'mmcv-lite'}))
#: manylinux tags of x86-64 Linux, oldest to newest glibc.
PLATFORMS = ('manylinux2014_x86_64', *(f'manylinux_2_{minor}_x86_64'
                                       for minor in range(17, 40)))
LOGGER = logging.getLogger('wheelhouse')


class WheelhouseError(Exception):
    """A failure reported as one line."""


def normalize(name: str) -> str:
    """A distribution name as PEP 503 compares it.

    Examples:
        >>> normalize('Foo_bar.baz')
        'foo-bar-baz'
    """
    return re.sub(r'[-_.]+', '-', name).lower()


def with_equivalents(names: Iterable[str]) -> Set[str]:
    """``names``, normalised, plus the distributions interchangeable with
    them.

    Examples:
        >>> sorted(with_equivalents(['opencv_python_headless']))[:2]
        ['opencv-contrib-python', 'opencv-contrib-python-headless']
    """
    names = {normalize(name) for name in names}
    for group in INTERCHANGEABLE:
        if names & group:
            names |= group
    return names


def read_installed(path: str) -> Set[str]:
    """The distribution names listed in ``path``.

    Args:
        path (str): ``pip list --format=freeze`` or ``pip freeze`` output, or
            one name per line; ``#`` comments and blank lines are skipped.

    Returns:
        set[str]: Normalised names.
    """
    if not osp.isfile(path):
        raise WheelhouseError(f'--installed: no file {path!r}')
    names = set()
    with open(path, encoding='utf-8') as file:
        for line in file:
            match = re.match(r'\s*([A-Za-z0-9][A-Za-z0-9._-]*)', line)
            if match:
                names.add(normalize(match.group(1)))
    if not names:
        raise WheelhouseError(f'--installed: {path!r} names no distribution')
    return names


def wanted(resolved: Iterable[Tuple[str, str]],
           installed: Iterable[str]) -> List[Tuple[str, str]]:
    """The resolved distributions a target lacks.

    Args:
        resolved (Iterable[tuple[str, str]]): ``(name, version)`` pairs.
        installed (Iterable[str]): Names the target has.

    Returns:
        list[tuple[str, str]]: The pairs neither in the torch family nor
        installed (nor interchangeable with an installed one), by name.

    Examples:
        >>> wanted([('torch', '2.11.0'), ('Rich', '14.0'), ('mmdet', '3.3.0'),
        ...         ('opencv-python', '5.1'), ('nvidia-nccl-cu13', '2.28')],
        ...        installed=['rich', 'opencv-python-headless'])
        [('mmdet', '3.3.0')]
    """
    have = with_equivalents(installed)
    return sorted((name, version) for name, version in resolved
                  if not TORCH_FAMILY.match(normalize(name))
                  and normalize(name) not in have)


def wheel_distribution(path: str) -> str:
    """The normalised distribution name of a wheel file.

    Examples:
        >>> wheel_distribution('.whl/model_index-0.1.11-py3-none-any.whl')
        'model-index'
    """
    return normalize(osp.basename(path).split('-', 1)[0])


def _pip(*args: str) -> None:
    command = [
        sys.executable, '-m', 'pip', '--disable-pip-version-check', *args
    ]
    if subprocess.run(command).returncode != 0:
        raise WheelhouseError(f'pip {args[0]} failed (its output is above)')


def _target_args(python_version: str) -> List[str]:
    args = [
        '--only-binary=:all:', '--python-version', python_version,
        '--implementation', 'cp'
    ]
    for platform in PLATFORMS:
        args += ['--platform', platform]
    return args


def resolve(python_version: str) -> List[Tuple[str, str]]:
    """Everything the requirement files need on an empty target.

    Args:
        python_version (str): The target's Python, ``'3.12'``.

    Returns:
        list[tuple[str, str]]: ``(name, version)`` of every distribution pip
        would install, the torch family included.
    """
    with tempfile.TemporaryDirectory() as scratch:
        report = osp.join(scratch, 'report.json')
        requirement_args = []
        for name in REQUIREMENTS:
            requirement_args += ['-r', osp.join(REPO, 'requirements', name)]
        _pip('install', '--quiet', '--dry-run', '--ignore-installed',
             '--target', osp.join(scratch, 'target'), '--report', report,
             *_target_args(python_version), *requirement_args)
        with open(report, encoding='utf-8') as file:
            install = json.load(file)['install']
    return [(item['metadata']['name'], item['metadata']['version'])
            for item in install]


def download_source_archive(directory: str, name: str, version: str) -> str:
    """Fetch ``name``'s source archive of ``version`` from the index.

    Args:
        directory (str): Where to save it.
        name (str): Distribution name.
        version (str): Exact version.

    Returns:
        str: The saved file, whose SHA-256 matched the index's.
    """
    index = os.environ.get('PIP_INDEX_URL', 'https://pypi.org/simple')
    request = urllib.request.Request(
        f'{index.rstrip("/")}/{normalize(name)}/',
        headers={'Accept': 'application/vnd.pypi.simple.v1+json'})
    with urllib.request.urlopen(request, timeout=120) as response:
        files = json.load(response)['files']
    filename = f'{name}-{version}.tar.gz'
    entry = next((file for file in files if file['filename'] == filename),
                 None)
    if entry is None:
        raise WheelhouseError(f'{index} lists no {filename}')
    with urllib.request.urlopen(entry['url'], timeout=600) as response:
        content = response.read()
    digest = hashlib.sha256(content).hexdigest()
    if digest != entry['hashes']['sha256']:
        raise WheelhouseError(f'{filename}: SHA-256 {digest} is not the '
                              f"index's {entry['hashes']['sha256']}")
    os.makedirs(directory, exist_ok=True)
    path = osp.join(directory, filename)
    with open(path + '.partial', 'wb') as file:
        file.write(content)
    os.replace(path + '.partial', path)
    return path


def download(directory: str, python_version: str, installed: Set[str]) -> None:
    """Fill ``directory`` with the wheels and mmcv's source archive."""
    pairs = wanted(resolve(python_version), installed)
    LOGGER.info('downloading %d wheels for Python %s: %s', len(pairs),
                python_version,
                ', '.join(f'{name}=={version}' for name, version in pairs))
    if pairs:
        _pip('download', '--quiet', '--no-deps', '--dest', directory,
             *_target_args(python_version),
             *(f'{name}=={version}' for name, version in pairs))
    _pip('download', '--quiet', '--no-deps', '--dest',
         osp.join(directory, 'build-tools'), *_target_args(python_version),
         *BUILD_TOOLS)
    download_source_archive(directory, 'mmcv', MMCV_VERSION)
    LOGGER.info('wheelhouse ready: %s', directory)


def _installed_here() -> Set[str]:
    return with_equivalents(dist.metadata['Name']
                            for dist in importlib.metadata.distributions()
                            if dist.metadata['Name'])


def _distribution_version(name: str) -> Optional[str]:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _mmcv_archive(directory: str) -> str:
    archives = glob.glob(osp.join(directory, 'mmcv-*.tar.gz'))
    if len(archives) != 1:
        raise WheelhouseError(
            f'expected one mmcv source archive in {directory!r}, found '
            f'{len(archives)} (make it with `wheelhouse.py download`)')
    return archives[0]


def _build_mmcv(directory: str, output: str, **env: str) -> str:
    """Compile an mmcv wheel from the wheelhouse ``directory`` into
    ``output`` (dev/build_mmcv.sh), with the wheelhouse's build tools."""
    tools = glob.glob(osp.join(directory, 'build-tools', '*.whl'))
    if not tools:
        raise WheelhouseError(
            f'no build tools in {osp.join(directory, "build-tools")!r} '
            '(make the wheelhouse with `wheelhouse.py download`)')
    with tempfile.TemporaryDirectory() as overlay:
        _pip('install', '--quiet', '--no-index', '--no-deps', '--target',
             overlay, *tools)
        env.update(
            PYTHONPATH=os.pathsep.join(
                filter(None, [overlay, os.environ.get('PYTHONPATH')])),
            PATH=os.pathsep.join(
                [osp.join(overlay, 'bin'), os.environ['PATH']]))
        result = subprocess.run([
            'bash',
            osp.join(REPO, 'dev', 'build_mmcv.sh'), sys.executable,
            _mmcv_archive(directory), output
        ],
                                env={
                                    **os.environ,
                                    **env
                                })
    if result.returncode != 0:
        raise WheelhouseError('building mmcv failed (its output is above)')
    return glob.glob(osp.join(output, 'mmcv*.whl'))[0]


def _compiled_mmcv(directory: str) -> str:
    """mmcv with its compiled ops for this torch and these GPUs: the cached
    wheel, or one compiled now."""
    import torch
    archs = ';'.join(
        sorted({
            '%d.%d' % torch.cuda.get_device_capability(index)
            for index in range(torch.cuda.device_count())
        }))
    tag = (f'torch{torch.__version__.split("+")[0]}-'
           f'cp{sys.version_info[0]}{sys.version_info[1]}-' +
           (f'cuda{torch.version.cuda}-sm{re.sub("[.;]", "", archs)}'
            if archs else 'cuda0'))
    cache = os.environ.get('VSA_MM_CACHE', osp.expanduser('~/.cache/vsa_mm'))
    archive = osp.basename(_mmcv_archive(directory))
    output = osp.join(cache, archive[:-len('.tar.gz')] + '-' + tag)
    cached = glob.glob(osp.join(output, 'mmcv-*.whl'))
    if cached:
        LOGGER.info('mmcv compiled earlier: %s', cached[0])
        return cached[0]
    LOGGER.info('compiling mmcv\'s ops (%s) into %s', tag, output)
    return _build_mmcv(
        directory,
        output,
        MMCV_WITH_OPS='1',
        FORCE_CUDA='1' if archs else '0',
        TORCH_CUDA_ARCH_LIST=archs)


def _check_wheelhouse(directory: str) -> None:
    """Fail unless this Python has what the wheelhouse leaves out and
    ``directory`` holds mmcv's archive."""
    for module in ('torch', 'torchvision'):
        if importlib.util.find_spec(module) is None:
            raise WheelhouseError(
                f'{sys.executable} cannot import {module}, which the '
                'wheelhouse leaves out: install it first')
    if not osp.isdir(directory):
        raise WheelhouseError(f'no wheelhouse directory {directory!r}')
    _mmcv_archive(directory)


def compile_mmcv(directory: str) -> None:
    """Compile mmcv's ops into the cache, installing nothing (so that it
    can run beside programs that use the installed mmcv)."""
    _check_wheelhouse(directory)
    LOGGER.info('mmcv with compiled ops: %s', _compiled_mmcv(directory))


def install(directory: str, mmcv_ops: bool) -> None:
    """Install the wheels this environment lacks, then mmcv."""
    _check_wheelhouse(directory)
    have = _installed_here()
    wheels = sorted(glob.glob(osp.join(directory, '*.whl')))
    missing = [path for path in wheels if wheel_distribution(path) not in have]
    LOGGER.info(
        'installing %d of the %d wheels into %s (the environment '
        'has the rest)', len(missing), len(wheels), sys.prefix)
    if missing:
        _pip('install', '--quiet', '--no-index', '--no-deps', '--no-compile',
             *missing)
    if mmcv_ops:
        wheel = _compiled_mmcv(directory)
        if _distribution_version('mmcv-lite') is not None:
            _pip('uninstall', '--quiet', '--yes', 'mmcv-lite')
        _pip('install', '--quiet', '--no-index', '--no-deps',
             '--force-reinstall', wheel)
    elif 'mmcv' in have:
        LOGGER.info('mmcv is installed already: left as it is')
    else:
        LOGGER.info('installing mmcv without compiled ops (mmcv-lite)')
        with tempfile.TemporaryDirectory() as scratch:
            _pip('install', '--quiet', '--no-index', '--no-deps',
                 _build_mmcv(directory, scratch, MMCV_WITH_OPS='0'))
    _check_mmpretrain_imports()


def _check_mmpretrain_imports() -> None:
    """Fail where mmpretrain's models cannot be imported, as beside
    transformers 5: mmpretrain 1.2.0 then imports its multimodal models,
    whose BLIP code subclasses ``None``."""
    result = subprocess.run([sys.executable, '-c', 'import mmpretrain.models'],
                            capture_output=True,
                            text=True)
    if result.returncode == 0:
        return
    lines = result.stderr.strip().splitlines()
    message = 'mmpretrain.models does not import in this environment: ' + (
        lines[-1] if lines else f'exit status {result.returncode}')
    transformers = _distribution_version('transformers')
    if transformers is not None and int(transformers.split('.')[0]) >= 5:
        message += (f' (transformers {transformers} is installed; mmpretrain '
                    "1.2.0's multimodal models need 4.x: uninstall "
                    'transformers or install transformers<5)')
    raise WheelhouseError(message)


class _Parser(argparse.ArgumentParser):

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f'{self.prog}: error: {message} (see --help)\n')
        sys.exit(2)


def main() -> None:
    parser = _Parser(prog='wheelhouse.py', description=__doc__.split('\n')[0])
    commands = parser.add_subparsers(dest='command', required=True)
    get = commands.add_parser(
        'download', help='where PyPI can be reached: fill DIR')
    get.add_argument('dir', help='the wheelhouse (created if needed)')
    get.add_argument(
        '--python-version',
        default=f'{sys.version_info[0]}.{sys.version_info[1]}',
        help="the target's Python, MAJOR.MINOR (default: this one's)")
    get.add_argument(
        '--installed',
        help="file naming the target's distributions (pip list "
        '--format=freeze, or one name per line): these are not downloaded')
    put = commands.add_parser(
        'install', help="on the target, with the target's Python")
    put.add_argument('dir', help='the wheelhouse')
    put.add_argument(
        '--mmcv-ops',
        action='store_true',
        help="compile mmcv's ops (CUDA ops too where torch sees a GPU)")
    build = commands.add_parser(
        'compile-mmcv',
        help="on the target: compile mmcv's ops into the cache that "
        '`install --mmcv-ops` takes them from; installs nothing')
    build.add_argument('dir', help='the wheelhouse')
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO,
        format='[wheelhouse] %(message)s',
        stream=sys.stdout)
    try:
        if args.command == 'download':
            if not re.fullmatch(r'3\.\d+', args.python_version):
                parser.error('--python-version must look like 3.12, got '
                             f'{args.python_version!r}')
            installed = read_installed(args.installed) \
                if args.installed else set()
            download(args.dir, args.python_version, installed)
        elif args.command == 'compile-mmcv':
            compile_mmcv(args.dir)
        else:
            install(args.dir, args.mmcv_ops)
    except WheelhouseError as error:
        sys.stderr.write(f'{parser.prog}: error: {error}\n')
        sys.exit(1)


if __name__ == '__main__':
    main()

"""dev/wheelhouse.py: a wheelhouse for a machine without internet.

Nothing here downloads: ``download`` is checked through its selection of
what to fetch, ``install`` for real, into a throw-away environment layered
on this one.
"""
import doctest
import importlib.metadata
import importlib.util
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

from helpers.tools import REPO, Result, assert_one_line_error, run_tool


def _load_wheelhouse():
    spec = importlib.util.spec_from_file_location('wheelhouse',
                                                  REPO / 'dev/wheelhouse.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


wheelhouse = _load_wheelhouse()


def test_download_leaves_out_the_torch_family_and_what_the_target_has():
    resolved = [('torch', '2.14.1'), ('torchvision', '0.29.1'),
                ('triton', '3.8.0'), ('nvidia-cublas', '13.1'),
                ('cuda-bindings', '13.5'), ('Rich', '15.0.0'),
                ('opencv-python', '5.1.0.95'), ('mmdet', '3.3.0'),
                ('model-index', '0.1.11'), ('addict', '2.4.0')]
    assert wheelhouse.wanted(
        resolved, installed=[]) == [('Rich', '15.0.0'), ('addict', '2.4.0'),
                                    ('mmdet', '3.3.0'),
                                    ('model-index', '0.1.11'),
                                    ('opencv-python', '5.1.0.95')]
    # The headless OpenCV provides cv2 as opencv-python does.
    assert wheelhouse.wanted(
        resolved, installed=['rich', 'opencv_python_headless',
                             'Model_Index']) == [('addict', '2.4.0'),
                                                 ('mmdet', '3.3.0')]


def test_download_reads_pip_freeze_and_bare_names(tmp_path):
    listing = tmp_path / 'target.txt'
    listing.write_text('# pip list --format=freeze\nnumpy==2.5.2\n'
                       'opencv_python_headless @ file:///wheels/cv.whl\n'
                       '  PyYAML\n\n-e git+https://example.org/x.git\n')
    assert wheelhouse.read_installed(
        str(listing)) == {'numpy', 'opencv-python-headless', 'pyyaml'}
    listing.write_text('# nothing\n')
    result = run_tool(
        'wheelhouse.py',
        'download',
        str(tmp_path / 'out'),
        '--installed',
        str(listing),
        folder='dev')
    assert_one_line_error(result, 'names no distribution', str(listing))
    result = run_tool(
        'wheelhouse.py',
        'download',
        str(tmp_path / 'out'),
        '--python-version',
        'cp312',
        folder='dev')
    assert result.returncode == 2
    assert_one_line_error(result, "'cp312'")
    assert not (tmp_path / 'out').exists()


def _wheel(project: Path, name: str, version: str, module: str,
           out: Path) -> Path:
    """Build a one-module wheel of ``name`` offline."""
    project.mkdir()
    (project / f'{module}.py').write_text(f'VERSION = {version!r}\n')
    (project / 'setup.py').write_text(
        textwrap.dedent(f"""
        from setuptools import setup
        setup(name={name!r}, version={version!r}, py_modules=[{module!r}])
        """))
    subprocess.run([
        sys.executable, '-m', 'pip', 'wheel', '--quiet', '--no-deps',
        '--no-index', '--no-build-isolation', '--wheel-dir',
        str(out),
        str(project)
    ],
                   check=True)
    return next(out.glob(f'{name.replace("-", "_")}-{version}-*.whl'))


def _layered_environment(root: Path) -> Path:
    """A new virtual environment that also sees this one's packages (a
    ``.pth`` file), like a target whose Python already has torch: what is
    installed into it lands in ``root`` only."""
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip',
                    str(root)],
                   check=True)
    python = root / 'bin' / 'python'
    purelib = subprocess.run([
        str(python), '-c', 'import sysconfig; '
        'print(sysconfig.get_paths()["purelib"])'
    ],
                             check=True,
                             capture_output=True,
                             text=True).stdout.strip()
    (Path(purelib) /
     'parent_environment.pth').write_text(sysconfig.get_paths()['purelib'] +
                                          '\n')
    return python


def _install(python: Path, *args: str) -> Result:
    return run_tool(
        'wheelhouse.py',
        'install',
        *args,
        timeout=300,
        python=str(python),
        folder='dev')


def test_install_adds_what_the_environment_lacks_and_replaces_nothing(
        tmp_path):
    house = tmp_path / 'house'
    _wheel(tmp_path / 'probe', 'vsa-mm-wheelhouse-probe', '1.0',
           'vsa_mm_wheelhouse_probe', house)
    # A distribution this environment has, in another version: kept as is.
    _wheel(tmp_path / 'yapf', 'yapf', '0.0.1', 'yapf_stand_in', house)
    # mmcv is installed here, so its archive is only looked for.
    (house / 'mmcv-2.1.0.tar.gz').write_bytes(b'')
    python = _layered_environment(tmp_path / 'env')

    result = _install(python, str(house))
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'installing 1 of the 2 wheels' in result.stdout
    assert 'mmcv is installed already' in result.stdout
    probe = subprocess.run([
        str(python), '-c', 'import importlib.metadata as m, '
        'vsa_mm_wheelhouse_probe as p; '
        'print(p.__file__); print(m.version("yapf"))'
    ],
                           check=True,
                           capture_output=True,
                           text=True).stdout.split()
    assert Path(probe[0]).is_relative_to(tmp_path / 'env')
    assert probe[1] == importlib.metadata.version('yapf') != '0.0.1'
    assert importlib.util.find_spec('vsa_mm_wheelhouse_probe') is None


def test_install_refuses_a_wheelhouse_without_mmcv_archive(tmp_path):
    (tmp_path / 'house').mkdir()
    result = _install(Path(sys.executable), str(tmp_path / 'house'))
    assert_one_line_error(result, 'mmcv source archive', 'found 0')
    result = _install(Path(sys.executable), str(tmp_path / 'missing'))
    assert_one_line_error(result, 'no wheelhouse directory')


def test_wheelhouse_docstring_examples_hold():
    """dev/ is outside the doctest paths: its examples run here."""
    results = doctest.testmod(wheelhouse)
    assert results.attempted >= 4 and results.failed == 0, results

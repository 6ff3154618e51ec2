"""Error handling shared by vsa_mm's command-line tools.

A tool reports a failure as one line on stderr, ``<tool>: error: <what>``,
and exits with status 1 (2 for a bad command line), instead of a
traceback. Set ``VSA_MM_TRACEBACK=1`` (or ``true``, ``yes``, ``on``) to
get the traceback.
"""
import argparse
import os.path as osp
import pickle
import sys
from typing import Callable, NoReturn, Optional, Sequence, Union

from ..checkpoint.safe_load import describe_refusal, strip_ansi
from ..env_switches import switch

#: Environment variable that makes the tools raise instead.
TRACEBACK_SWITCH = 'VSA_MM_TRACEBACK'


def _tool_name() -> str:
    return osp.basename(sys.argv[0]) if sys.argv and sys.argv[0] else 'tool'


def _write_line(prog: str, message: str) -> None:
    sys.stderr.write(f'{prog}: error: {message}\n')
    sys.stderr.flush()


class ToolArgumentParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line, with the
    arguments the OpenMMLab tools share."""

    def error(self, message: str) -> NoReturn:
        """Report a bad command line as one line; exit with status 2."""
        _write_line(self.prog, f'{message} (see --help)')
        sys.exit(2)

    def add_config(self, checkpoint: bool = False) -> None:
        """The ``config`` (and ``checkpoint``) positional arguments."""
        self.add_argument('config', help='config file')
        if checkpoint:
            self.add_argument('checkpoint', help='checkpoint file')

    def add_work_dir(self, what: str) -> None:
        """``--work-dir``, the folder where ``what`` go."""
        self.add_argument(
            '--work-dir',
            help=f'where {what} go (default: the config\'s work_dir, else '
            'work_dirs/<config name>)')

    def add_runner_options(self, example: str = '') -> None:
        """``--cfg-options``, ``--launcher`` and ``--local-rank``, as the
        libraries' ``tools/train.py`` and ``tools/test.py`` have them.

        Args:
            example (str): An example override for the help text.
        """
        from mmengine.config import DictAction
        self.add_argument(
            '--cfg-options',
            nargs='+',
            action=DictAction,
            help='override config entries' +
            (f', e.g. {example}' if example else ''))
        self.add_argument(
            '--launcher',
            choices=['none', 'pytorch', 'slurm', 'mpi'],
            default='none')
        self.add_argument('--local_rank', '--local-rank', type=int, default=0)


Checkpoints = Union[str, Sequence[str], None]


def error_line(error: BaseException, checkpoint: Checkpoints = None) -> str:
    """One line describing ``error``.

    Args:
        error (BaseException): The failure.
        checkpoint (str | Sequence[str], optional): The checkpoint(s) the
            tool loads; a ``weights_only`` refusal names the refused one.

    Returns:
        str: ``'<ExceptionType>: <message>'`` on one line; for an unpickling
        refusal, what was refused and why.

    Examples:
        >>> error_line(KeyError('vsa_mm.Nope is not in the registry'))
        'KeyError: vsa_mm.Nope is not in the registry'
        >>> error_line(ValueError('bad\\n  value'))
        'ValueError: bad value'
    """
    if isinstance(error, pickle.UnpicklingError):
        message = describe_refusal(error, checkpoint)
    elif isinstance(error, KeyError) and len(error.args) == 1 and \
            isinstance(error.args[0], str):
        message = error.args[0]  # str(KeyError) adds quotes
    else:
        message = str(error)
    message = ' '.join(strip_ansi(message).split())
    name = type(error).__name__
    return f'{name}: {message}' if message else name


def load_config(path: str):
    """``Config.fromfile(path)`` with errors that name the config.

    The ``_scope_`` MMEngine gives the dicts of ``vsa_mm::`` bases is
    removed (:func:`vsa_mm.registry.drop_package_scope`).

    Args:
        path (str): Config file.

    Returns:
        mmengine.config.Config: The config (its ``custom_imports`` done).

    Raises:
        FileNotFoundError: If ``path`` is not a file.
        ValueError: If it is not valid Python.
    """
    from mmengine.config import Config

    from ..registry import drop_package_scope
    if not osp.isfile(path):
        raise FileNotFoundError(f'config {path!r} does not exist')
    try:
        return drop_package_scope(Config.fromfile(path))
    except SyntaxError as error:
        raise ValueError(f'config {path!r} is not valid Python: {error.msg} '
                         f'(line {error.lineno})') from None


def run_tool(main: Callable[[], None],
             checkpoint: Optional[Callable[[], Checkpoints]] = None,
             prog: Optional[str] = None) -> None:
    """Run a tool's ``main`` and turn a failure into one line and exit 1.

    Args:
        main (callable): The tool's entry point.
        checkpoint (callable, optional): Returns the checkpoint(s) the tool
            was asked to load (named in refusals); called only on failure.
        prog (str, optional): Name in the message; the script's file name
            by default.
    """
    prog = prog or _tool_name()
    try:
        main()
    except KeyboardInterrupt:
        _write_line(prog, 'interrupted')
        sys.exit(130)
    except Exception as error:  # noqa: B902  every failure is one line
        if switch(TRACEBACK_SWITCH, default=False):
            raise
        paths: Checkpoints = None
        if checkpoint is not None:
            try:
                paths = checkpoint()
            except Exception:  # the error itself is what matters
                paths = None
        _write_line(prog, error_line(error, paths))
        sys.exit(1)

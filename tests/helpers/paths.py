"""Paths of the repository, wherever pytest runs from."""
from pathlib import Path

#: The repository root.
REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / 'configs'
TOOLS = REPO / 'tools'
#: The maintainers' machinery (not in the wheel).
DEV = REPO / 'dev'
#: Fixtures committed with the tests.
DATA = REPO / 'tests' / 'data'

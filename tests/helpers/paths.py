"""Paths of the repository, wherever pytest runs from."""
from pathlib import Path

#: The repository root.
REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / 'configs'
TOOLS = REPO / 'tools'
#: Fixtures committed with the tests.
DATA = REPO / 'tests' / 'data'

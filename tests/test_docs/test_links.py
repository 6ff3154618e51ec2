"""The documentation stands alone: every relative link resolves inside the
repository, and no page points outside it."""
import re

import pytest
from helpers.paths import REPO

PAGES = sorted(
    path for path in REPO.rglob('*.md') if not any(
        part.startswith('.') or part in ('data', 'work_dirs')
        for part in path.relative_to(REPO).parts))
LINK = re.compile(r'\]\(([^)\s]+)\)')


def test_there_are_pages():
    names = {path.relative_to(REPO).as_posix() for path in PAGES}
    assert {'README.md', 'docs/reproduction.md', 'docs/layer.md'} <= names


@pytest.mark.parametrize(
    'page', PAGES, ids=lambda path: path.relative_to(REPO).as_posix())
def test_relative_links_resolve_inside_the_repository(page):
    text = page.read_text(encoding='utf-8')
    for target in LINK.findall(text):
        if re.match(r'^[a-z]+://|^mailto:', target):
            continue
        path = target.split('#')[0]
        if not path:
            continue
        resolved = (page.parent / path).resolve()
        assert resolved.is_relative_to(REPO), (page, target)
        assert resolved.exists(), (page, target)


def test_no_file_points_to_material_outside_the_repository():
    outside = [
        '../' + 'shared', 'vsa-' + 'spec', 'VSA-' + 'README',
        'outside ' + 'check'
    ]
    tracked = [
        path for path in REPO.rglob('*') if path.is_file() and path.suffix in (
            '.py', '.md', '.yml', '.txt', '.sh', '.cfg') and not any(
                part.startswith('.') or part in ('data', 'work_dirs')
                for part in path.relative_to(REPO).parts)
    ]
    found = [(path.relative_to(REPO).as_posix(), word) for path in tracked
             for word in outside
             if word in path.read_text(encoding='utf-8', errors='ignore')]
    assert not found

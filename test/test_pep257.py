"""Docstring conventions (pep257) with pydocstyle: strict for the ROS shell, ament's defaults elsewhere."""

import glob
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# D401 (imperative mood) and D403 (capitalised first word): the package's docstrings say what a thing is
# ("The shipped default model") and start with names such as IoU or PSPNet, which D403 would lower-case.
HOUSE_IGNORES = {'D401', 'D403'}
# what ament_pep257 ignores by default: missing docstrings, and the rules that contradict pep257's own
AMENT_IGNORES = {'D100', 'D101', 'D102', 'D103', 'D104', 'D105', 'D106', 'D107', 'D203', 'D212', 'D404'}


def pep257_errors(paths, ignore):
    """pydocstyle's pep257 violations in the Python files under ``paths``, as lines of text."""
    pydocstyle = pytest.importorskip('pydocstyle')
    from pydocstyle.violations import conventions
    files = []
    for path in paths:
        full = os.path.join(ROOT, path)
        files += sorted(glob.glob(os.path.join(full, '**', '*.py'), recursive=True)) if os.path.isdir(full) \
            else [full]
    select = sorted(set(conventions.pep257) - set(ignore))
    return [f'{e.filename}:{e.line}: {e.code} {e.short_desc}' for e in pydocstyle.check(files, select=select)]


@pytest.mark.linter
@pytest.mark.pep257
def test_ros_shell_and_launch_files_document_everything_public():
    errors = pep257_errors(['seg_perception/ros', 'launch'], HOUSE_IGNORES)
    assert not errors, '\n'.join(errors)


@pytest.mark.linter
@pytest.mark.pep257
def test_pep257():
    errors = pep257_errors(['seg_perception', 'launch', 'test', 'setup.py'], AMENT_IGNORES | HOUSE_IGNORES)
    assert not errors, '\n'.join(errors)

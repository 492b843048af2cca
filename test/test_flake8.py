"""flake8 over the package's Python: ament_flake8 inside a ROS workspace, flake8 itself elsewhere."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_LINE_LENGTH = 120
EXCLUDE = '.git,.venv,.venv-jazzy,__pycache__,.pytest_cache,build,install,log,out,runs,data_pack,engines'


@pytest.mark.flake8
@pytest.mark.linter
def test_flake8():
    try:
        from ament_flake8.main import main_with_errors
    except ImportError:     # ament_flake8 is not on PyPI: run flake8 as ament_flake8 would, on every file
        result = subprocess.run([sys.executable, '-m', 'flake8', f'--max-line-length={MAX_LINE_LENGTH}',
                                 f'--exclude={EXCLUDE}', '.'], cwd=ROOT, capture_output=True, text=True)
        assert result.returncode == 0, f'flake8 found {len(result.stdout.splitlines())} problem(s):\n' \
                                       f'{result.stdout}{result.stderr}'
        return
    rc, errors = main_with_errors(argv=[ROOT, '--linelength', str(MAX_LINE_LENGTH), '--exclude',
                                        *[os.path.join(ROOT, d) for d in EXCLUDE.split(',')]])
    assert rc == 0, f'Found {len(errors)} code style errors / warnings:\n' + '\n'.join(errors)

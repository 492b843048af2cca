"""Copyright and licence notices, checked by ament_copyright where it is installed (a ROS workspace)."""

import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.copyright
@pytest.mark.linter
def test_copyright():
    main = pytest.importorskip('ament_copyright.main', reason='ament_copyright is not installed').main
    rc = main(argv=[ROOT, os.path.join(ROOT, 'test')])
    assert rc == 0, 'Found errors'

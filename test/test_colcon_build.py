"""The package builds with colcon as an ament_python package, and the build installs what ROS 2 expects."""

import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _colcon():
    found = shutil.which('colcon') or os.path.join(os.path.dirname(sys.executable), 'colcon')
    return found if os.path.exists(found) else None


@pytest.fixture(scope='module')
def colcon_install(tmp_path_factory):
    colcon = _colcon()
    if colcon is None:
        pytest.skip('colcon is not installed (pip install colcon-common-extensions)')
    ws = tmp_path_factory.mktemp('ws')
    files = subprocess.run(['git', 'ls-files'], cwd=ROOT, capture_output=True, text=True)
    if files.returncode != 0:
        pytest.skip('not a git checkout')
    for rel in files.stdout.split():
        if os.path.exists(os.path.join(ROOT, rel)):
            os.makedirs(os.path.dirname(ws / 'src' / 'seg_perception' / rel), exist_ok=True)
            shutil.copy2(os.path.join(ROOT, rel), ws / 'src' / 'seg_perception' / rel)
    result = subprocess.run([colcon, 'build'], cwd=ws, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return ws / 'install' / 'seg_perception'


def test_console_scripts_are_where_ros2_run_looks(colcon_install):
    for script in ('seg_node', 'seg-perception', 'seg-build-engine'):
        assert (colcon_install / 'lib' / 'seg_perception' / script).is_file()
    # the engine build configurations travel with the models
    engines = colcon_install / 'share' / 'seg_perception' / 'engines'
    assert sorted(p.stem for p in engines.glob('*.yaml')) == sorted(p.stem for p in engines.glob('*.json'))


def test_launch_config_and_package_manifest_are_installed(colcon_install):
    share = colcon_install / 'share' / 'seg_perception'
    assert (share / 'package.xml').is_file()
    assert (share / 'launch' / 'seg_perception.launch.py').is_file()
    assert (share / 'config' / 'seg_perception.yaml').is_file()
    assert (share / 'launch' / 'carla.launch.py').is_file() and (share / 'config' / 'carla_objects.json').is_file()
    assert (colcon_install / 'share' / 'ament_index' / 'resource_index' / 'packages' / 'seg_perception').is_file()


def test_installed_package_finds_its_models_through_the_ament_index(colcon_install):
    share_engines = colcon_install / 'share' / 'seg_perception' / 'engines'
    manifests = sorted(p.name for p in share_engines.glob('*.json'))
    if not manifests:
        pytest.skip('no shipped model in engines/')
    site = next((colcon_install / 'lib').glob('python3*/site-packages'))
    env = dict(os.environ, PYTHONPATH=str(site), AMENT_PREFIX_PATH=str(colcon_install))
    code = ('from seg_perception.model_files import default_model; m = default_model(); '
            'm.path("onnx"); print(m.manifest_path)')
    out = subprocess.run([sys.executable, '-c', code], cwd=str(colcon_install), env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().startswith(str(share_engines))

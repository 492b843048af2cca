"""Inference needs no PyTorch: the CLI, the node's --help and the library run where torch cannot be imported.

Each check runs a fresh interpreter whose ``sitecustomize`` refuses every ``torch`` import (child processes
inherit it through PYTHONPATH), as on the base install plus ``[ros]``; the commands that do need torch then say
what to install in one line and exit 2.
"""

import os
import subprocess
import sys
import textwrap

import cv2
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

BLOCKER = '''
import sys


class NoTorch:
    """Refuses torch and its submodules, as an interpreter without PyTorch installed does."""

    def find_spec(self, name, path=None, target=None):
        if name == 'torch' or name.startswith('torch.'):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, NoTorch())
'''


@pytest.fixture(scope='module')
def no_torch_env(tmp_path_factory):
    """Environment for a child interpreter that cannot import torch, with this checkout first on the path."""
    folder = tmp_path_factory.mktemp('no_torch')
    (folder / 'sitecustomize.py').write_text(BLOCKER)
    path = os.pathsep.join(p for p in (str(folder), ROOT, os.environ.get('PYTHONPATH', '')) if p)
    return dict(os.environ, PYTHONPATH=path, PYTHONWARNINGS='ignore')


def run(env, *args):
    # the timeout only ends a hang (a command that would start ROS and spin); nothing here takes a minute
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_the_blocker_blocks_torch(no_torch_env):
    result = run(no_torch_env, '-c', 'import torch')
    assert result.returncode != 0 and "No module named 'torch'" in result.stderr


def test_every_help_and_the_library_run_without_torch(no_torch_env):
    script = textwrap.dedent('''
        import argparse, contextlib, io, sys

        import numpy as np

        from seg_perception.cli import build_parser
        from seg_perception.segmenter import Segmenter

        parser = build_parser()
        commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
        for argv in [['--help']] + [[name, '--help'] for name in commands]:
            text = io.StringIO()
            with contextlib.redirect_stdout(text):
                try:
                    parser.parse_args(argv)
                except SystemExit as e:
                    assert e.code == 0, (argv, e.code)
            assert 'usage: seg-perception' in text.getvalue(), argv
            print('help ok', *argv)
        result = Segmenter.default().segment(np.full((90, 120, 3), 128, np.uint8))
        assert result.labels.shape == (90, 120)
        assert not [m for m in sys.modules if m == 'torch' or m.startswith('torch.')]
        # the robust augmentation's library loads only when train --augment robust runs
        assert not [m for m in sys.modules if m == 'albumentations' or m.startswith('albumentations.')]
        print('library ok')
    ''')
    result = run(no_torch_env, '-c', script)
    assert result.returncode == 0, result.stdout + result.stderr
    for command in ('segment', 'demo', 'eval', 'eval-bag', 'record', 'play', 'bench', 'scenarios', 'train',
                    'class-bias', 'interpolate', 'build-engine', 'carla-capture'):
        assert f'help ok {command} --help' in result.stdout
    assert 'library ok' in result.stdout


def test_segment_runs_without_torch(no_torch_env, tiny_model, rgb_frame, tmp_path):
    image = tmp_path / 'street.png'
    cv2.imwrite(str(image), rgb_frame[:, :, ::-1])
    out = tmp_path / 'out'
    result = run(no_torch_env, '-m', 'seg_perception.cli', 'segment', str(image), '-o', str(out), '--model',
                 tiny_model)
    assert result.returncode == 0, result.stderr
    assert '1 frames' in result.stdout and (out / 'street_labels.png').exists()


def test_seg_node_help_runs_without_torch(no_torch_env):
    result = run(no_torch_env, '-m', 'seg_perception.ros.seg_node', '--help')
    assert result.returncode == 0, result.stderr
    assert 'label_ids' in result.stdout and 'segmentation/labels' in result.stdout


@pytest.mark.parametrize('argv, message', [
    (['train', '--iters', '1'], "error: train needs PyTorch: pip install -e '.[train]'"),
    (['class-bias', '--model', 'x', '--out', 'x'], "error: class-bias needs PyTorch: pip install -e '.[torch]'"),
    (['interpolate', '--base', 'x', '--tuned', 'x', '--alpha', '0.5', '--out', 'x'],
     "error: interpolate needs PyTorch: pip install -e '.[torch]'"),
    (['eval', '--crf', '--backend', 'torch', '--dataset', 'rendered'],
     "error: eval --crf needs PyTorch: pip install -e '.[torch]'"),
    (['segment', 'seg_perception/data/sample/frame_000.jpg', '--backend', 'torch', '-o', 'out/never'],
     'error: the torch backend needs PyTorch'),
])
def test_commands_that_need_torch_say_what_to_install_in_one_line(no_torch_env, argv, message):
    result = run(no_torch_env, '-m', 'seg_perception.cli', *argv)
    assert result.returncode == 2
    assert result.stderr.startswith(message) and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not os.path.exists(os.path.join(ROOT, 'out', 'never'))

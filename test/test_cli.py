"""The seg-perception command line: segment files and folders, and say clearly what is wrong."""

import os

import cv2
import numpy as np
import pytest

from seg_perception.cli import build_parser, main


@pytest.fixture
def image_folder(tmp_path, rgb_frame):
    folder = tmp_path / 'images'
    folder.mkdir()
    cv2.imwrite(str(folder / 'a.png'), rgb_frame[:, :, ::-1])
    cv2.imwrite(str(folder / 'b.jpg'), rgb_frame[::-1, :, ::-1])
    (folder / 'broken.png').write_bytes(b'\x89PNG not really')
    return folder


def test_segment_folder_writes_labels_and_overlays(tiny_model, image_folder, tmp_path, capsys):
    out = tmp_path / 'out'
    assert main(['segment', str(image_folder), '-o', str(out), '--model', tiny_model, '--drivable', '-q']) == 0
    for name in ('a', 'b'):
        labels = cv2.imread(str(out / f'{name}_labels.png'), cv2.IMREAD_UNCHANGED)
        assert labels.shape == (120, 160) and labels.dtype == np.uint8
        assert (out / f'{name}_overlay.jpg').exists() and (out / f'{name}_drivable.png').exists()
    captured = capsys.readouterr()
    assert 'broken.png' in captured.err and '2 frames' in captured.out


def test_segment_a_video(tiny_model, tmp_path, rgb_frame):
    video = str(tmp_path / 'clip.avi')
    writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*'MJPG'), 5, (160, 120))
    for _ in range(3):
        writer.write(rgb_frame[:, :, ::-1])
    writer.release()
    out = tmp_path / 'vout'
    assert main(['segment', video, '-o', str(out), '--model', tiny_model, '-q']) == 0
    assert len([f for f in os.listdir(out) if f.endswith('_labels.png')]) == 3


def test_missing_model_is_a_clear_error(tmp_path, image_folder, capsys):
    assert main(['segment', str(image_folder), '--model', str(tmp_path / 'gone.json')]) == 2
    assert 'gone.json' in capsys.readouterr().err


def test_missing_source_is_a_clear_error(tiny_model, tmp_path):
    with pytest.raises(SystemExit, match='not an image'):
        main(['segment', str(tmp_path / 'nothing'), '--model', tiny_model])


@pytest.mark.parametrize('command', ['segment', 'demo', 'eval', 'train', 'bench', 'scenarios', 'record', 'play',
                                     'eval-bag'])
def test_every_subcommand_has_help_with_an_example(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([command, '--help'])
    assert exit_info.value.code == 0
    assert 'example' in capsys.readouterr().out


def test_eval_on_rendered_frames_writes_json_and_confusion_plot(tiny_model, tmp_path, capsys):
    out_json, out_png = tmp_path / 'eval.json', tmp_path / 'confusion.png'
    assert main(['eval', '--dataset', 'rendered', '--limit', '2', '--model', tiny_model, '--json', str(out_json),
                 '--plot', str(out_png)]) == 0
    import json
    report = json.loads(out_json.read_text())
    assert report['frames'] == 2 and 0 <= report['miou'] <= 100
    assert len(report['confusion']) == 11 and sum(map(sum, report['confusion'])) > 0
    assert out_png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'

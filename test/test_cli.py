"""The seg-perception command line: segment files and folders, and say clearly what is wrong."""

import argparse
import json
import os

import cv2
import numpy as np
import pytest

from seg_perception.cli import build_parser, main
from seg_perception.taxonomy import CAMVID_CLASSES, TAXONOMY_CLASSES, taxonomy_lut

from conftest import NO_STRETCH, painted_street


@pytest.fixture
def image_folder(tmp_path, rgb_frame):
    folder = tmp_path / 'images'
    folder.mkdir()
    cv2.imwrite(str(folder / 'a.png'), rgb_frame[:, :, ::-1])
    cv2.imwrite(str(folder / 'b.jpg'), rgb_frame[::-1, :, ::-1])
    (folder / 'broken.png').write_bytes(b'\x89PNG not really')
    return folder


@pytest.fixture
def bad_files(tmp_path, rgb_frame):
    """{kind: path} of files that are no image: a text file named .png, an empty file, a truncated PNG."""
    folder = tmp_path / 'bad'
    folder.mkdir()
    (folder / 'notes.png').write_text('not an image\n')
    (folder / 'empty.jpg').write_bytes(b'')
    png = cv2.imencode('.png', rgb_frame[:, :, ::-1])[1].tobytes()
    (folder / 'cut.png').write_bytes(png[:len(png) // 2])
    return {'text': folder / 'notes.png', 'empty': folder / 'empty.jpg', 'truncated': folder / 'cut.png'}


def test_segment_folder_writes_labels_and_overlays_and_counts_the_failure(tiny_model, image_folder, tmp_path,
                                                                          capsys):
    out = tmp_path / 'out'
    assert main(['segment', str(image_folder), '-o', str(out), '--model', tiny_model, '--drivable']) == 1
    for name in ('a', 'b'):
        labels = cv2.imread(str(out / f'{name}_labels.png'), cv2.IMREAD_UNCHANGED)
        assert labels.shape == (120, 160) and labels.dtype == np.uint8
        assert (out / f'{name}_overlay.jpg').exists() and (out / f'{name}_drivable.png').exists()
    captured = capsys.readouterr()
    assert f'{image_folder / "broken.png"}: cannot decode' in captured.err
    assert '1 of 3 inputs failed' in captured.err and '2 frames' in captured.out


def test_keep_going_exits_zero_when_some_inputs_of_a_folder_failed(tiny_model, image_folder, tmp_path, capsys):
    out = tmp_path / 'out'
    assert main(['segment', str(image_folder), '-o', str(out), '--model', tiny_model, '-q', '--keep-going']) == 0
    captured = capsys.readouterr()
    assert 'broken.png: cannot decode' in captured.err and '1 of 3 inputs failed' in captured.err
    assert captured.out == ''       # -q: no summary line
    assert sorted(os.listdir(out)) == ['a_labels.png', 'a_overlay.jpg', 'b_labels.png', 'b_overlay.jpg']


def test_segment_a_video(tiny_model, tmp_path, rgb_frame):
    video = str(tmp_path / 'clip.avi')
    writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*'MJPG'), 5, (160, 120))
    for _ in range(3):
        writer.write(rgb_frame[:, :, ::-1])
    writer.release()
    out = tmp_path / 'vout'
    assert main(['segment', video, '-o', str(out), '--model', tiny_model, '-q']) == 0
    assert sorted(f for f in os.listdir(out) if f.endswith('_labels.png')) == [
        f'clip_{i:06d}_labels.png' for i in range(3)]


def test_labels_are_taxonomy_ids_by_default_and_model_ids_on_request(palette_model, tmp_path):
    street = tmp_path / 'street.png'
    cv2.imwrite(str(street), painted_street()[:, :, ::-1])
    painted = [arg for name, value in NO_STRETCH.items() for arg in ('--set', f'{name}={value}')]
    assert main(['segment', str(street), '-o', str(tmp_path / 'tax'), '--model', palette_model, '-q', *painted]) == 0
    assert main(['segment', str(street), '-o', str(tmp_path / 'own'), '--model', palette_model, '-q',
                 '--label-ids', 'model', *painted]) == 0
    taxonomy = cv2.imread(str(tmp_path / 'tax' / 'street_labels.png'), cv2.IMREAD_UNCHANGED)
    model = cv2.imread(str(tmp_path / 'own' / 'street_labels.png'), cv2.IMREAD_UNCHANGED)
    # the painted street: sky above row 54, road in the middle below it (see conftest.painted_street)
    assert model[10, 80] == CAMVID_CLASSES.index('sky') and model[100, 80] == CAMVID_CLASSES.index('road')
    assert taxonomy[10, 80] == TAXONOMY_CLASSES.index('sky') and taxonomy[100, 80] == TAXONOMY_CLASSES.index('road')
    # the node's own mapping, pixel for pixel
    np.testing.assert_array_equal(taxonomy, taxonomy_lut(CAMVID_CLASSES)[model])


def test_ego_mask_labels_the_vehicle_outside_and_a_bad_one_is_a_clear_error(tiny_model, image_folder, tmp_path,
                                                                            capsys):
    out = tmp_path / 'out'
    assert main(['segment', str(image_folder), '-o', str(out), '--model', tiny_model, '-q', '--keep-going',
                 '--drivable', '--ego-mask', 'bottom:0.25']) == 0
    labels = cv2.imread(str(out / 'a_labels.png'), cv2.IMREAD_UNCHANGED)
    # the mask's edge may rise over vehicle labels up to drivable_ego_edge_px (8) rows above it
    assert (labels[90:] == 255).all() and (labels[:82] != 255).all()
    assert not cv2.imread(str(out / 'a_drivable.png'), cv2.IMREAD_UNCHANGED)[90:].any()
    assert main(['segment', str(image_folder), '--model', tiny_model, '--ego-mask', 'bottom:3']) == 2
    assert "--ego-mask: ego_mask 'bottom:3'" in capsys.readouterr().err


def test_missing_model_is_a_clear_error(tmp_path, image_folder, capsys):
    assert main(['segment', str(image_folder), '--model', str(tmp_path / 'gone.json')]) == 2
    assert 'gone.json' in capsys.readouterr().err


def test_missing_source_says_not_found_and_makes_no_folder(tiny_model, tmp_path, capsys):
    out = tmp_path / 'out'
    assert main(['segment', str(tmp_path / 'nothing.png'), '-o', str(out), '--model', tiny_model]) == 1
    assert capsys.readouterr().err.strip() == f'error: {tmp_path / "nothing.png"}: not found'
    assert not out.exists()


@pytest.mark.parametrize('kind, words', [('text', 'cannot decode: not an image format'),
                                         ('empty', 'empty file'),
                                         ('truncated', 'cannot decode: truncated or corrupt')])
def test_a_file_that_is_no_image_is_named_with_what_is_wrong(tiny_model, bad_files, tmp_path, capsys, kind, words):
    out = tmp_path / 'out'
    assert main(['segment', str(bad_files[kind]), '-o', str(out), '--model', tiny_model, '-q']) == 1
    err = capsys.readouterr().err
    assert f'error: {bad_files[kind]}: {words}' in err and 'Traceback' not in err
    assert not out.exists()


def test_when_every_input_fails_keep_going_still_exits_one(tiny_model, bad_files, tmp_path, capsys):
    out = tmp_path / 'out'
    sources = [str(p) for p in bad_files.values()] + [str(tmp_path / 'missing.jpg')]
    assert main(['segment', *sources, '-o', str(out), '--model', tiny_model, '-q', '--keep-going']) == 1
    err = capsys.readouterr().err
    assert '4 of 4 inputs failed' in err and all(s in err for s in sources)
    assert not out.exists()


def test_a_folder_without_images_is_an_error(tiny_model, tmp_path, capsys):
    (tmp_path / 'docs').mkdir()
    (tmp_path / 'docs' / 'readme.txt').write_text('no images here')
    assert main(['segment', str(tmp_path / 'docs'), '-o', str(tmp_path / 'out'), '--model', tiny_model]) == 1
    assert 'no image files' in capsys.readouterr().err and not (tmp_path / 'out').exists()


def test_inputs_with_the_same_name_do_not_overwrite_each_other(tiny_model, tmp_path, rgb_frame):
    for folder in ('x', 'y'):
        (tmp_path / folder).mkdir()
        cv2.imwrite(str(tmp_path / folder / 'frame.png'), rgb_frame[:, :, ::-1])
    out = tmp_path / 'out'
    assert main(['segment', str(tmp_path / 'x' / 'frame.png'), str(tmp_path / 'y' / 'frame.png'), '-o', str(out),
                 '--model', tiny_model, '-q']) == 0
    labels = sorted(f for f in os.listdir(out) if f.endswith('_labels.png'))
    assert labels == ['frame_labels.png', 'frame_png_labels.png']


@pytest.mark.parametrize('argv, words', [
    (['eval', '--root', '{tmp}/no_camvid'], '--root {tmp}/no_camvid: not found'),
    (['eval-bag', '{tmp}/no_bag', '--gt-topic', '/gt', '--gt-format', 'carla'], 'bag {tmp}/no_bag: not found'),
    (['play', '{tmp}/no_video.mp4'], 'source {tmp}/no_video.mp4: not found'),
    (['scenarios', '--no-rendered', '--camvid', '{tmp}/no_camvid'], '--camvid {tmp}/no_camvid: not found'),
])
def test_other_commands_name_a_missing_input_and_exit_two(tmp_path, capsys, argv, words):
    assert main([a.format(tmp=tmp_path) for a in argv]) == 2
    assert capsys.readouterr().err.strip() == f'error: {words.format(tmp=tmp_path)}'


def _subcommands():
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return parser, action.choices


def test_every_option_of_every_command_has_a_help_text():
    parser, commands = _subcommands()
    missing = [f'{name} {a.option_strings or a.dest}' for name, sub in [('', parser), *commands.items()]
               for a in sub._actions
               if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))
               and (not a.help or a.help == argparse.SUPPRESS)]
    assert not missing, f'options without help: {missing}'
    assert len(commands) >= 12


@pytest.mark.parametrize('command', sorted(_subcommands()[1]))
def test_every_subcommand_has_help_with_an_example(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([command, '--help'])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert 'example' in out and '``' not in out


def test_top_level_help_is_the_docstring_without_markup(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(['--help'])
    out = capsys.readouterr().out
    assert 'The seg-perception command' in out and '``' not in out and 'segment' in out


def test_eval_on_rendered_frames_writes_json_and_confusion_plot(tiny_model, tmp_path, capsys):
    out_json, out_png = tmp_path / 'eval.json', tmp_path / 'confusion.png'
    assert main(['eval', '--dataset', 'rendered', '--limit', '2', '--model', tiny_model, '--json', str(out_json),
                 '--plot', str(out_png)]) == 0
    report = json.loads(out_json.read_text())
    assert report['frames'] == 2 and 0 <= report['miou'] <= 100
    assert len(report['confusion']) == 11 and sum(map(sum, report['confusion'])) > 0
    assert out_png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_seg_node_help_lists_its_parameters_and_topics_without_starting_ros(monkeypatch, capsys):
    from seg_perception.ros import seg_node
    from seg_perception.ros.parameters import parameter_declarations

    def no_ros(*args, **kwargs):
        raise AssertionError('seg_node --help started ROS')
    monkeypatch.setattr(seg_node.rclpy, 'init', no_ros)
    for flag in ('--help', '-h'):
        assert seg_node.main(['seg_node', flag]) == 0
        out = capsys.readouterr().out
        for name, default, descriptor in parameter_declarations():
            assert f'\n  {name} (' in out and descriptor.description.split()[0] in out
        assert "label_ids (string; default 'taxonomy'; one of taxonomy, model" in out
        for topic in (seg_node.IMAGE_TOPIC, seg_node.LABELS_TOPIC, seg_node.FREESPACE_TOPIC, '/diagnostics'):
            assert f' {topic} ' in out
    assert seg_node.main(['seg_node', '--no-such-flag']) == 2
    assert "unrecognized argument '--no-such-flag'" in capsys.readouterr().err


def test_every_model_command_takes_settings_and_refuses_an_unknown_one(tiny_model, image_folder, tmp_path):
    out = tmp_path / 'out'
    frame = str(image_folder / 'a.png')
    assert main(['segment', frame, '-o', str(out), '--model', tiny_model, '-q',
                 '--set', 'denoise_enabled=false', '--set', 'trust_enabled=false']) == 0
    assert os.listdir(out)
    with pytest.raises(SystemExit, match='unknown setting'):
        main(['segment', frame, '-o', str(out), '--model', tiny_model, '-q', '--set', 'denoise_on=1'])

"""The robustness benchmark: mIoU per corruption and severity, mPC and rPC, and its command, on the tiny model."""

import json
import sys

import numpy as np
import pytest

from seg_perception import datasets, robustness
from seg_perception.cli import build_parser, main
from seg_perception.corruptions import CORRUPTIONS, FAMILIES
from seg_perception.segmenter import Segmenter


@pytest.fixture(scope='module')
def seg(tiny_model):
    return Segmenter.from_model(tiny_model, threads=1)


@pytest.fixture(scope='module')
def frames():
    return datasets.rendered_scenes(2, seed=3, height=60, width=80)


@pytest.fixture(scope='module')
def full_grid(seg, frames):
    return robustness.evaluate(seg, frames, dataset='rendered val')


def test_full_grid_is_15_corruptions_by_5_severities_and_mpc_is_their_mean(full_grid):
    assert full_grid.corruptions == CORRUPTIONS and full_grid.severities == (1, 2, 3, 4, 5)
    values = [full_grid.miou[name][s] for name in CORRUPTIONS for s in range(1, 6)]
    assert len(values) == 75 and all(0 <= v <= 1 for v in values)
    assert 0 <= full_grid.clean_miou <= 1
    assert full_grid.mpc == pytest.approx(np.mean(values))
    assert full_grid.rpc == pytest.approx(full_grid.mpc / full_grid.clean_miou)
    families = full_grid.family_means()
    assert list(families) == list(FAMILIES)
    assert families['noise'] == pytest.approx(np.mean([full_grid.miou[n][s] for n in FAMILIES['noise']
                                                       for s in range(1, 6)]))


def test_clean_figure_is_the_eval_figure(seg, frames, full_grid):
    from seg_perception import metrics

    n = len(seg.classes)
    confusion = sum(metrics.confusion_matrix(lab, seg.segment(img).labels, n, frames.ignore_index)
                    for img, lab in zip(frames.images, frames.labels))
    assert full_grid.clean_miou == pytest.approx(metrics.summary(confusion, seg.classes)['miou'] / 100)


def test_same_figures_twice_and_the_same_for_a_subset(seg, frames, full_grid):
    again = robustness.evaluate(seg, frames, ['fog', 'gaussian_noise'], [3, 1], dataset='rendered val')
    for name in ('fog', 'gaussian_noise'):
        assert again.miou[name] == {s: full_grid.miou[name][s] for s in (1, 3)}
    assert again.corruptions == ('gaussian_noise', 'fog') and again.severities == (1, 3)
    other_seed = robustness.evaluate(seg, frames, ['gaussian_noise'], [5], seed=1)
    assert other_seed.clean_miou == full_grid.clean_miou


def test_json_holds_every_figure(full_grid):
    report = json.loads(json.dumps(full_grid.to_json()))
    assert report['frames'] == 2 and report['corruptions'] == list(CORRUPTIONS)
    assert set(report['corrupted']['snow']['miou']) == {'1', '2', '3', '4', '5'}
    assert report['corrupted']['snow']['family'] == 'weather'
    assert report['rpc'] == pytest.approx(report['mpc'] / report['clean']['miou'])
    assert set(report['families']) == {'noise', 'blur', 'weather', 'digital'}
    assert any('frost' in line for line in report['deviations'])


def test_table_has_a_row_per_corruption_and_family(full_grid):
    table = full_grid.table()
    assert all(f'| {name} |' in table for name in CORRUPTIONS)
    assert all(f'**{family}**' in table for family in FAMILIES)
    assert f'mPC {full_grid.mpc:.3f}' in table and f'rPC {full_grid.rpc:.3f}' in table


def test_plot_without_matplotlib_says_how_to_install_it(full_grid, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, 'matplotlib', None)
    with pytest.raises(RuntimeError, match='pip install matplotlib'):
        full_grid.plot(str(tmp_path / 'r.png'))


def test_data_labelled_with_other_classes_are_refused(seg, frames):
    other = datasets.LabelledImages(frames.images, frames.labels, tuple(f'c{i}' for i in range(19)), 255,
                                    frames.names)
    with pytest.raises(ValueError, match='19'):
        robustness.evaluate(seg, other, ['fog'], [1])


def test_select_frames_spreads_over_the_split():
    assert robustness.select_frames(101, 5) == [0, 25, 50, 75, 100]
    assert robustness.select_frames(101, 3, first=True) == [0, 1, 2]
    assert robustness.select_frames(4, 0) == robustness.select_frames(4, 9) == [0, 1, 2, 3]


# --- the command ---------------------------------------------------------------------------------------------

def test_command_on_rendered_frames_prints_the_table_and_writes_json_and_png(tiny_model, tmp_path, capsys):
    out_json, out_png = tmp_path / 'robustness.json', tmp_path / 'robustness.png'
    args = ['robustness', '--dataset', 'rendered', '--frames', '2', '--corruptions', 'noise', 'fog',
            'jpeg_compression', '--severities', '1', '3', '--model', tiny_model, '--threads', '1', '-q',
            '--json', str(out_json), '--plot', str(out_png)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert '| gaussian_noise | noise |' in printed and 'rPC' in printed
    report = json.loads(out_json.read_text())
    assert report['frames'] == 2 and report['severities'] == [1, 3]
    assert report['corruptions'] == ['gaussian_noise', 'shot_noise', 'impulse_noise', 'fog', 'jpeg_compression']
    for entry in report['corrupted'].values():
        assert len(entry['miou']) == 2 and all(0 <= v <= 1 for v in entry['miou'].values())
    assert 0 <= report['clean']['miou'] <= 1
    assert report['rpc'] == pytest.approx(report['mpc'] / report['clean']['miou'])
    assert report['command'].startswith('seg-perception robustness --dataset rendered')
    assert out_png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    # seeded: the same command gives the same figures
    assert main(args) == 0
    again = json.loads(out_json.read_text())
    assert again['corrupted'] == report['corrupted'] and again['mpc'] == report['mpc']


def test_missing_dataset_root_is_a_clear_error(tiny_model, tmp_path, capsys):
    assert main(['robustness', '--root', str(tmp_path / 'camvid'), '--model', tiny_model, '-q']) == 2
    err = capsys.readouterr().err
    assert 'camvid' in err and 'not found' in err


def test_root_without_the_split_list_is_a_clear_error(tiny_model, tmp_path, capsys):
    assert main(['robustness', '--root', str(tmp_path), '--model', tiny_model, '-q']) == 2
    assert 'val.txt' in capsys.readouterr().err


@pytest.mark.parametrize('option, message', [(['--corruptions', 'rain'], 'rain'),
                                             (['--severities', '0', '6'], '0, 6'),
                                             (['--frames', '-1'], '--frames')])
def test_bad_options_are_clear_errors(tiny_model, option, message, capsys):
    assert main(['robustness', '--dataset', 'rendered', '--model', tiny_model, '-q'] + option) == 2
    assert message in capsys.readouterr().err


def test_plot_without_matplotlib_is_refused_before_the_run(tiny_model, tmp_path, monkeypatch, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, 'find_spec', lambda name, *a: None if name == 'matplotlib' else real(name))
    assert main(['robustness', '--dataset', 'rendered', '--model', tiny_model, '--plot',
                 str(tmp_path / 'r.png'), '-q']) == 2
    assert 'pip install matplotlib' in capsys.readouterr().err


def test_help_has_an_example(capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(['robustness', '--help'])
    assert exit_info.value.code == 0
    assert 'example' in capsys.readouterr().out


@pytest.fixture
def two_sequences(tmp_path):
    """A CamVid-layout val split of five frames from two sequences (rendered scenes, CamVid ids)."""
    import cv2

    scenes = datasets.rendered_scenes(5, seed=4, height=60, width=80)
    names = ['0006R0_f001', '0006R0_f002', '0016E5_f001', '0006R0_f003', '0016E5_f002']
    (tmp_path / 'val').mkdir()
    (tmp_path / 'valannot').mkdir()
    lines = []
    for name, rgb, lab in zip(names, scenes.images, scenes.labels):
        cv2.imwrite(str(tmp_path / 'val' / f'{name}.png'), rgb[:, :, ::-1])
        cv2.imwrite(str(tmp_path / 'valannot' / f'{name}.png'), lab)
        lines.append(f'val/{name}.png valannot/{name}.png')
    (tmp_path / 'val.txt').write_text('\n'.join(lines) + '\n')
    return tmp_path


def test_sequence_option_of_robustness_and_eval_keeps_only_that_sequence(tiny_model, two_sequences, capsys):
    out = two_sequences / 'r.json'
    assert main(['robustness', '--root', str(two_sequences), '--sequence', '0006R0', '--corruptions', 'fog',
                 '--severities', '1', '--model', tiny_model, '--threads', '1', '-q', '--json', str(out)]) == 0
    report = json.loads(out.read_text())
    assert report['frame_names'] == ['0006R0_f001.png', '0006R0_f002.png', '0006R0_f003.png']
    assert '--sequence 0006R0' in report['command']
    assert main(['robustness', '--root', str(two_sequences), '--sequence', '0006R0', '--frames', '2', '--first',
                 '--corruptions', 'fog', '--severities', '1', '--model', tiny_model, '-q', '--json', str(out)]) == 0
    assert json.loads(out.read_text())['frame_names'] == ['0006R0_f001.png', '0006R0_f002.png']
    capsys.readouterr()
    assert main(['eval', '--root', str(two_sequences), '--sequence', '0016E5', '--model', tiny_model,
                 '--json', str(out)]) == 0
    report = json.loads(out.read_text())
    assert report['frames'] == 2 and report['dataset'] == 'camvid val (0016E5 only)'
    assert main(['robustness', '--root', str(two_sequences), '--sequence', '0001TP', '--model', tiny_model,
                 '-q']) == 2
    assert "no frame of camvid val starts with '0001TP'" in capsys.readouterr().err

"""Per-class logit offsets: the search, the safety orders, the graph and both backends, the CLI and bad settings.

The search finds a known shift, the graph and both backends apply the offsets, the CLI writes a model whose
manifest records them, and bad settings get one line and exit 2.
"""

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip('torch')

from seg_perception.training import class_bias, train  # noqa: E402
from seg_perception.model_files import ModelFiles  # noqa: E402


def _shifted_logits(shift, n=3, pixels=20000, seed=0):
    """Logits of a model that knows the class (3 +/- noise on the right one) with ``shift`` added to class 0."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n, pixels)
    logits = rng.normal(0, 1.0, (pixels, n)).astype(np.float32)
    logits[np.arange(pixels), labels] += 2.0
    honest = logits.copy()
    logits[:, 0] += shift
    return logits, labels, honest


def test_search_undoes_a_known_shift_of_one_class():
    logits, labels, honest = _shifted_logits(1.5)
    found = class_bias.search(logits, labels, 3)
    bias = found['bias']
    # only differences between offsets matter: class 0 must come down by about the shift relative to the others
    assert bias[0] - np.mean(bias[1:]) == pytest.approx(-1.5, abs=0.3)
    assert found['miou_after'] > found['miou_before'] + 5
    best = class_bias.mean_iou(class_bias.confusion(honest, labels, np.zeros(3, np.float32)))
    assert found['miou_after'] == pytest.approx(100 * best, abs=1.0)
    assert len(found['rounds']) == class_bias.ROUNDS


def test_search_leaves_an_unbiased_model_alone():
    logits, labels, _ = _shifted_logits(0.0)
    found = class_bias.search(logits, labels, 3, steps=(1.0, 0.5))
    assert np.abs(found['bias']).max() <= 0.5
    assert found['miou_after'] >= found['miou_before']


def test_safety_orders_keep_obstacle_pixels_out_of_road_and_sky_and_static_ones_out_of_vehicles():
    from seg_perception.taxonomy import CAMVID_CLASSES

    names = list(CAMVID_CLASSES)
    orders = {(names[a], names[b]) for a, b in class_bias.safety_orders(names)}
    for taker in ('road', 'sky'):
        for obstacle in ('car', 'pedestrian', 'bicyclist', 'pole', 'building', 'tree'):
            assert (taker, obstacle) in orders
    assert ('car', 'tree') in orders and ('car', 'pole') in orders
    assert ('car', 'road') not in orders and ('road', 'sidewalk') not in orders
    assert ('pedestrian', 'tree') not in orders


def test_an_order_holds_even_where_the_unconstrained_offsets_would_break_it():
    # class 0 over-predicted by 1.5: left alone, the search lowers it below class 1; with "1 never takes pixels
    # from 0" (offset[1] <= offset[0]) class 1 must come down with it, so class 2 gains instead
    logits, labels, _ = _shifted_logits(1.5)
    free = class_bias.search(logits, labels, 3)['bias']
    assert free[0] < free[1] - 0.5
    kept = class_bias.search(logits, labels, 3, orders=[(1, 0)])
    assert kept['bias'][1] <= kept['bias'][0] + 1e-6
    for history in kept['rounds']:
        assert history['bias'][1] <= history['bias'][0] + 1e-6
    assert kept['miou_after'] >= kept['miou_before']
    with pytest.raises(ValueError):
        class_bias.search(logits, labels, 3, orders=[(1, 1)])
    with pytest.raises(ValueError):
        class_bias.search(logits, labels, 3, orders=[(0, 3)])


def test_search_refuses_logits_that_do_not_fit():
    logits, labels, _ = _shifted_logits(0.0)
    with pytest.raises(ValueError):
        class_bias.search(logits, labels, 4)
    with pytest.raises(ValueError):
        class_bias.search(logits, labels[:-1], 3)
    with pytest.raises(ValueError):
        class_bias.search(logits, labels, 3, rounds=0)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """A pspnet_lite0 trained 2 steps on rendered scenes and exported with its .pt (tiny input)."""
    folder = tmp_path_factory.mktemp('bias_model')
    parser = argparse.ArgumentParser()
    train.add_arguments(parser)
    args = parser.parse_args(['--dataset', 'rendered', '--limit', '4', '--model', 'pspnet_lite0',
                              '--encoder-weights', 'none', '--crop-height', '64', '--crop-width', '96',
                              '--batch-size', '2', '--threads', '1', '--no-progress', '--iters', '2',
                              '--out', str(folder / 'run'), '--export', str(folder / 'export'), '--name', 'base',
                              '--input-height', '64', '--input-width', '96'])
    train.train(args)
    return str(folder / 'export' / 'base.json')


def _bias_args(*argv):
    parser = argparse.ArgumentParser()
    class_bias.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_cli_writes_a_model_whose_graph_and_torch_backend_add_the_offsets(trained, tmp_path, capsys):
    from seg_perception import backends
    from seg_perception.segmenter import Segmenter

    out = tmp_path / 'biased'
    args = _bias_args('--model', trained, '--dataset', 'rendered', '--limit', '3', '--out', str(out),
                      '--name', 'biased', '--threads', '1', '--no-progress', '--rounds', '1')
    assert class_bias.run(args, 'seg-perception class-bias ...') == 0
    printed = capsys.readouterr().out
    assert 'mIoU' in printed and 'wrote' in printed
    model = ModelFiles.load(str(out / 'biased.json'))
    record = model.manifest['class_bias']
    assert record['chosen_on'].startswith('rendered train (3 frames')
    assert 'road <= car' in record['orders'] and 'sky <= pedestrian' in record['orders']
    bias = dict(zip(model.classes, model.class_bias))
    assert bias['road'] <= bias['car'] and bias['sky'] <= bias['car'] and bias['car'] <= bias['tree']
    assert record['train_miou_after'] >= record['train_miou_before']
    assert model.manifest['validation'] == {}
    assert 'base' in model.manifest['training']['base_model']
    assert model.class_bias is not None and len(model.class_bias) == len(model.classes)
    # force offsets large enough to change labels, then check that ONNX and torch agree with the arithmetic
    forced = [0.0] * len(model.classes)
    forced[3] = 4.0     # road everywhere it is anywhere near the top
    module, mean, std = class_bias.load_torch_model(ModelFiles.load(trained))
    path = class_bias.write_model(ModelFiles.load(trained), module, forced, str(tmp_path / 'forced'), 'forced',
                                  {'chosen_on': 'test'})
    forced_model = ModelFiles.load(path)
    assert forced_model.class_bias[3] == 4.0
    data = train.datasets.load('rendered', '', 'val', 2)
    image = np.ascontiguousarray(data.images[0][:64, :96])
    plain = Segmenter(ModelFiles.load(trained), backends.create('onnxruntime', ModelFiles.load(trained), threads=1))
    onnx = Segmenter(forced_model, backends.create('onnxruntime', forced_model, threads=1))
    torch_seg = Segmenter(forced_model, backends.create('torch', forced_model, threads=1))
    with torch.inference_mode():
        x = (torch.from_numpy(image).permute(2, 0, 1)[None].float() - mean[0]) / std[0]
        logits = module(x)[0] + torch.tensor(forced).view(-1, 1, 1)
    expected = logits.argmax(0).numpy()
    got_onnx = onnx.segment(image).labels
    got_torch = torch_seg.segment(image).labels
    assert (got_onnx == expected).mean() > 0.99
    assert (got_torch == expected).mean() > 0.99
    assert (got_onnx == 3).mean() > (plain.segment(image).labels == 3).mean()
    # the offline CRF path takes its probabilities from the same biased logits
    from seg_perception import crf
    probabilities = crf.probabilities_torch(torch_seg.backend.graph.model, image[None], mean, std, 'cpu',
                                            torch_seg.backend.graph.class_bias)[0]
    assert (probabilities.argmax(0) == expected).mean() > 0.99


def test_bad_settings_are_one_line_and_exit_2(trained, tmp_path, capsys):
    assert class_bias.run(_bias_args('--model', trained, '--stride', '0', '--out', str(tmp_path)), 'x') == 2
    assert 'stride' in capsys.readouterr().err
    assert class_bias.run(_bias_args('--model', str(tmp_path / 'none.json'), '--out', str(tmp_path)), 'x') == 2
    assert 'error:' in capsys.readouterr().err
    manifest = json.loads(Path(trained).read_text())
    onnx_only = tmp_path / 'onnx_only.json'
    manifest['files'] = {'onnx': manifest['files']['onnx']}
    manifest['sha256'] = {'onnx': manifest['sha256']['onnx']}
    import shutil
    shutil.copyfile(trained.replace('.json', '.onnx'), tmp_path / manifest['files']['onnx'])
    onnx_only.write_text(json.dumps(manifest))
    assert class_bias.run(_bias_args('--model', str(onnx_only), '--dataset', 'rendered', '--limit', '2',
                                     '--out', str(tmp_path / 'x')), 'x') == 2
    assert "no 'torch' file" in capsys.readouterr().err


def test_a_manifest_with_the_wrong_number_of_offsets_is_refused(trained, tmp_path):
    from seg_perception.model_files import ModelFileError

    manifest = json.loads(Path(trained).read_text())
    manifest['class_bias'] = {'values': [0.0, 1.0]}
    model = ModelFiles(str(tmp_path / 'm.json'), manifest)
    with pytest.raises(ModelFileError, match='class_bias has 2 values'):
        model.class_bias


def test_offsets_are_reported_with_the_median_class_at_zero_and_the_same_labels():
    """A constant added to every offset is taken out; labels and differences are kept."""
    raw = np.array([0.25] * 9 + [1.5, 0.5], np.float32)
    out = class_bias.centred(raw)
    assert np.median(out) == 0 and np.allclose(out - out[0], raw - raw[0])
    logits = np.random.default_rng(0).normal(size=(500, 11)).astype(np.float32)
    assert np.array_equal(np.argmax(logits + raw, 1), np.argmax(logits + out, 1))


def test_exclude_seq_chooses_without_the_held_out_frames_and_says_so(trained, tmp_path, capsys):
    args = _bias_args('--model', trained, '--dataset', 'rendered', '--limit', '3', '--exclude-seq', 'scene_0_1',
                      '--out', str(tmp_path / 'held'), '--threads', '1', '--no-progress', '--rounds', '1')
    assert class_bias.run(args, 'seg-perception class-bias ...') == 0
    record = ModelFiles.load(str(tmp_path / 'held' / 'base.json')).manifest['class_bias']
    assert record['chosen_on'].startswith('rendered train without scene_0_1 (2 frames')
    args = _bias_args('--model', trained, '--dataset', 'rendered', '--limit', '3', '--exclude-seq', '0006R0',
                      '--out', str(tmp_path / 'none'))
    assert class_bias.run(args, 'x') == 2
    assert "no frame of rendered train starts with '0006R0'" in capsys.readouterr().err


def test_sequence_chooses_on_the_named_frames_only_and_says_so(trained, tmp_path):
    args = _bias_args('--model', trained, '--dataset', 'rendered', '--limit', '3', '--sequence', 'scene_0_1',
                      '--out', str(tmp_path / 'seq'), '--threads', '1', '--no-progress', '--rounds', '1')
    assert class_bias.run(args, 'seg-perception class-bias ...') == 0
    record = ModelFiles.load(str(tmp_path / 'seq' / 'base.json')).manifest['class_bias']
    assert record['chosen_on'].startswith('rendered train sequence scene_0_1 (1 frames')

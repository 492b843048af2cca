"""Segmenter: the only path from pixels to labels, and how it treats bad input and bad model files."""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from seg_perception import Segmenter
from seg_perception.backends import BackendUnavailable
from seg_perception.model_files import ModelFileError
from seg_perception.segmenter import InputError
from seg_perception.taxonomy import class_palette


@pytest.fixture(scope='module')
def segmenter(tiny_model):
    return Segmenter.from_model(tiny_model, threads=1)


@pytest.mark.parametrize('shape', [(120, 160), (48, 64), (37, 91), (600, 800)])
def test_labels_come_back_at_the_input_resolution(segmenter, shape):
    rgb = np.random.default_rng(1).integers(0, 256, shape + (3,), dtype=np.uint8)
    out = segmenter.segment(rgb)
    assert out.labels.shape == shape and out.labels.dtype == np.uint8
    assert out.drivable.shape == shape and set(np.unique(out.drivable)) <= {0, 255}
    assert out.margin.shape == shape and out.margin.dtype == np.float32
    assert out.labels.max() < len(out.classes)
    assert set(out.timings_ms) == {'preprocess', 'inference', 'postprocess', 'checks', 'total'}


def test_labels_scaled_to_the_frame_stay_centred_on_what_the_network_saw(segmenter):
    """A one-pixel column at the centre of the network's 17 columns lands on the centre of the frame's 11."""
    labels_net = np.zeros((13, 17), np.uint8)
    labels_net[:, 8] = 2
    out = segmenter.postprocess(labels_net, np.ones((13, 17), np.float32), (9, 11), {})
    assert np.nonzero(out.labels[4] == 2)[0].tolist() == [5]


def test_classes_come_from_the_manifest_and_colours_from_the_taxonomy(segmenter, tiny_model):
    manifest = json.loads(Path(tiny_model).read_text())
    assert list(segmenter.classes) == manifest['classes'] and 'palette' not in manifest
    assert segmenter.palette == class_palette(segmenter.classes)
    assert segmenter.palette[segmenter.classes.index('car')] == (0, 0, 142)     # vehicle's blue


def test_color_and_overlay_use_the_palette(segmenter, rgb_frame):
    out = segmenter.segment(rgb_frame)
    color = out.color()
    assert color.shape == rgb_frame.shape
    label = int(out.labels[0, 0])
    assert tuple(color[0, 0]) == tuple(out.palette[label])
    assert out.overlay(rgb_frame).shape == rgb_frame.shape
    assert abs(sum(out.class_shares().values()) - 1.0) < 1e-6


def test_margin_lies_between_zero_and_one(segmenter, rgb_frame):
    margin = segmenter.segment(rgb_frame).margin
    assert margin.min() >= 0.0 and margin.max() <= 1.0


def test_confidence_is_the_margin_times_255_at_the_frame_resolution(segmenter):
    margin_net = np.array([[0.0, 0.25], [0.5, 1.0]], np.float32)
    same = segmenter.postprocess(np.zeros((2, 2), np.uint8), margin_net, (2, 2), {})
    assert same.confidence().dtype == np.uint8
    assert same.confidence().tolist() == [[0, 64], [128, 255]]
    frame = segmenter.postprocess(np.zeros((2, 2), np.uint8), margin_net, (6, 9), {})
    confidence = frame.confidence()
    assert confidence.shape == (6, 9) == frame.labels.shape
    # resized bilinearly from the network's resolution: corners keep their values, between them it blends
    assert (confidence[0, 0], confidence[-1, -1]) == (0, 255)
    np.testing.assert_allclose(confidence, np.clip(np.rint(frame.margin * 255), 0, 255), atol=1)
    assert 0 < confidence[3, 4] < 255


def test_batch_equals_single_frames(segmenter, rgb_frame):
    other = rgb_frame[::-1].copy()
    batch = segmenter.segment_batch([rgb_frame, other])
    assert np.array_equal(batch[0].labels, segmenter.segment(rgb_frame).labels)
    assert np.array_equal(batch[1].labels, segmenter.segment(other).labels)


@pytest.mark.parametrize('bad, message', [
    (np.zeros((10, 10), np.uint8), 'H x W x 3'),
    (np.zeros((10, 10, 4), np.uint8), 'H x W x 3'),
    (np.zeros((10, 10, 3), np.float32), 'uint8'),
    (np.zeros((0, 10, 3), np.uint8), 'too small'),
    ([[1, 2, 3]], 'numpy array'),
])
def test_bad_images_raise_input_error_that_says_why(segmenter, bad, message):
    with pytest.raises(InputError, match=message):
        segmenter.segment(bad)


def test_missing_model_file_names_the_file(tmp_path):
    with pytest.raises(ModelFileError, match='nope.onnx'):
        Segmenter.from_model(str(tmp_path / 'nope.onnx'))


def test_unknown_model_name_lists_where_it_looked():
    with pytest.raises(ModelFileError, match='no model manifest'):
        Segmenter.from_model('no_such_model')


def test_stale_model_file_is_refused(tiny_model, tmp_path):
    folder = tmp_path / 'stale'
    shutil.copytree(os.path.dirname(tiny_model), folder)
    with open(folder / 'tiny.onnx', 'ab') as f:
        f.write(b'\0')
    with pytest.raises(ModelFileError, match='stale or damaged'):
        Segmenter.from_model(str(folder / 'tiny.json'))


def test_manifest_without_required_fields_is_refused(tmp_path):
    (tmp_path / 'm.json').write_text(json.dumps({'name': 'm'}))
    with pytest.raises(ModelFileError, match='lacks the field'):
        Segmenter.from_model(str(tmp_path / 'm.json'))


def test_corrupt_onnx_with_matching_manifest_fails_at_start(tiny_model, tmp_path):
    from seg_perception.export import sha256_file

    folder = tmp_path / 'corrupt'
    shutil.copytree(os.path.dirname(tiny_model), folder)
    (folder / 'tiny.onnx').write_bytes(b'not an onnx file')
    manifest = json.loads((folder / 'tiny.json').read_text())
    manifest['sha256']['onnx'] = sha256_file(str(folder / 'tiny.onnx'))
    (folder / 'tiny.json').write_text(json.dumps(manifest))
    with pytest.raises(BackendUnavailable, match='cannot load'):
        Segmenter.from_model(str(folder / 'tiny.json'))


def test_tensorrt_backend_says_what_is_missing(tiny_model):
    with pytest.raises(BackendUnavailable, match='tensorrt'):
        Segmenter.from_model(tiny_model, backend='tensorrt')


def test_unknown_backend_is_refused(tiny_model):
    with pytest.raises(ValueError, match='unknown backend'):
        Segmenter.from_model(tiny_model, backend='opencl')


# -- float16 and int8 weight storage ------------------------------------------------------------------------------

def _segment_both(tiny_model, tmp_path, rgb_frame):
    """The frame segmented by the tiny model and by its rewritten graph tmp_path/tiny.onnx (manifest beside it)."""
    from seg_perception.model_files import sha256_file

    manifest = json.loads(Path(tiny_model).read_text())
    manifest['sha256']['onnx'] = sha256_file(str(tmp_path / 'tiny.onnx'))
    (tmp_path / 'tiny.json').write_text(json.dumps(manifest))
    return (Segmenter.from_model(tiny_model, threads=1).segment(rgb_frame),
            Segmenter.from_model(str(tmp_path / 'tiny.json'), threads=1).segment(rgb_frame))


def test_half_weights_halve_the_file_and_keep_the_labels(tiny_model, tmp_path, rgb_frame):
    onnx = pytest.importorskip('onnx')
    from seg_perception.export import half_weights

    src = os.path.join(os.path.dirname(tiny_model), 'tiny.onnx')
    counts = half_weights(src, str(tmp_path / 'tiny.onnx'))
    stored = onnx.load(str(tmp_path / 'tiny.onnx'))
    convs = [i for i in stored.graph.initializer if len(i.dims) == 4 and np.prod(i.dims) >= 16]
    assert counts['converted'] == len(convs) > 0
    assert {i.data_type for i in convs} == {onnx.TensorProto.FLOAT16}      # every convolution's weights
    saved = sum(2 * int(np.prod(i.dims)) for i in convs)           # two bytes less per weight, less the casts
    assert counts['bytes_before'] - saved <= counts['bytes_after'] < counts['bytes_before']
    a, b = _segment_both(tiny_model, tmp_path, rgb_frame)
    assert (a.labels == b.labels).mean() >= 0.99
    assert np.abs(a.margin - b.margin).max() < 0.05
    assert b.margin.dtype == np.float32


def test_int8_weights_quarter_the_weights_and_keep_the_labels(tiny_model, tmp_path, rgb_frame):
    onnx = pytest.importorskip('onnx')
    from onnx import numpy_helper
    from seg_perception.export import int8_weights

    src = os.path.join(os.path.dirname(tiny_model), 'tiny.onnx')
    weights = {i.name: numpy_helper.to_array(i) for i in onnx.load(src).graph.initializer
               if len(i.dims) >= 2 and np.prod(i.dims) >= 16}
    counts = int8_weights(src, str(tmp_path / 'tiny.onnx'))
    stored = onnx.load(str(tmp_path / 'tiny.onnx'))
    assert counts['converted'] == len(weights) > 0
    inits = {i.name: i for i in stored.graph.initializer}
    assert not set(weights) & set(inits)                     # every such weight is rebuilt by a node
    dequantize = [n for n in stored.graph.node if n.op_type == 'DequantizeLinear']
    assert sorted(n.output[0] for n in dequantize) == sorted(weights)
    for name, w in weights.items():
        q = numpy_helper.to_array(inits[name + '_int8'])
        scale = numpy_helper.to_array(inits[name + '_scale'])
        assert q.dtype == np.int8 and scale.shape == (w.shape[0],)
        assert (np.abs(q.reshape(len(q), -1)).max(axis=1) == 127).all()       # each channel spans the int8 range
        rebuilt = q * scale.reshape((-1,) + (1,) * (w.ndim - 1))
        assert np.abs(rebuilt - w).max() <= scale.max() / 2 + 1e-7              # rounding: half a step at most
        assert len(inits[name + '_int8'].raw_data) == w.size                 # one byte per weight instead of four
    assert counts['bytes_after'] < counts['bytes_before']
    a, b = _segment_both(tiny_model, tmp_path, rgb_frame)
    assert (a.labels == b.labels).mean() >= 0.95
    assert b.margin.dtype == np.float32


def test_half_weights_script_writes_the_model_with_its_check(tiny_model, tmp_path):
    pytest.importorskip('onnx')
    import importlib.util

    path = os.path.join(os.path.dirname(__file__), '..', 'benchmarks', 'half_weights.py')
    spec = importlib.util.spec_from_file_location('half_weights_script', path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main([tiny_model, '--out', str(tmp_path), '--limit', '2', '--threads', '1']) == 0
    written = json.loads((tmp_path / 'tiny.json').read_text())
    assert set(written['files']) == {'onnx'}
    assert written['weights_storage_check']['frames'] == 2
    assert written['weights_storage_check']['labels_changed'] < 0.005
    Segmenter.from_model(str(tmp_path / 'tiny.json'), threads=1)       # the sha256 matches the file written
    assert script.main([str(tmp_path / 'missing.json'), '--out', str(tmp_path / 'x')]) == 2
    assert not (tmp_path / 'x').exists()
    rc = script.main([tiny_model, '--int8', '--out', str(tmp_path / 'int8'), '--limit', '2', '--threads', '1'])
    assert rc in (0, 1) and (tmp_path / 'int8' / 'tiny.json').exists() == (rc == 0)
    if rc == 0:                             # written only when fewer than 0.5% of the labels change
        check = json.loads((tmp_path / 'int8' / 'tiny.json').read_text())
        assert check['weights_storage'].startswith('int8') and check['weights_storage_check']['labels_changed'] < 0.005
        Segmenter.from_model(str(tmp_path / 'int8' / 'tiny.json'), threads=1)


def test_onnx_profile_script_sums_kernel_time_per_operator(tiny_model, capsys):
    """The per-operator profile lists the graph's convolutions and refuses bad arguments with exit code 2."""
    import importlib.util

    path = os.path.join(os.path.dirname(__file__), '..', 'benchmarks', 'onnx_profile.py')
    spec = importlib.util.spec_from_file_location('onnx_profile_script', path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    from seg_perception.model_files import ModelFiles

    per_op = script.profile(ModelFiles.load(tiny_model), runs=3, threads=1)
    assert sum(per_op.values()) > 0 and any('Conv' in op for op in per_op)
    assert script.main(['--model', tiny_model, '--runs', '2', '--threads', '1']) == 0
    out = capsys.readouterr().out
    assert '| all kernels |' in out and 'input 64x48' in out
    assert script.main(['--model', tiny_model, '--runs', '0']) == 2
    assert script.main(['--model', os.path.join(os.path.dirname(tiny_model), 'missing.json')]) == 2

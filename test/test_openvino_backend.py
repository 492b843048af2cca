"""The openvino backend: parity with ONNX Runtime, batches, its compiled-model cache, precisions and its errors."""

import glob
import os
import shutil
import sys

import cv2
import numpy as np
import pytest

from seg_perception import Segmenter, backends
from seg_perception.backends import BackendUnavailable
from seg_perception.model_files import ModelFileError, ModelFiles, default_model, sha256_file
from seg_perception.ros.demo import SAMPLE_DIR

ov = pytest.importorskip('openvino')

from seg_perception.backends.openvino_backend import openvino_version  # noqa: E402 - needs openvino


@pytest.fixture
def model(tiny_model):
    return ModelFiles.load(str(tiny_model))


def frames(n, hw=(48, 64), seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, *hw, 3), dtype=np.uint8)


def make(model, tmp_path, **options):
    return backends.create('openvino', model, engine_dir=str(tmp_path), threads=1, **options)


def test_openvino_is_a_backend_name_the_commands_and_the_node_accept():
    assert 'openvino' in backends.names()
    assert backends.backend_class('openvino').name == 'openvino'


def test_f32_labels_and_margins_match_onnxruntime_on_the_tiny_model(model, tmp_path):
    batch = frames(4)
    expected_labels, expected_margin = backends.create('onnxruntime', model, threads=1).infer(batch)
    labels, margin = make(model, tmp_path, inference_precision='f32').infer(batch)
    assert labels.dtype == np.uint8 and labels.shape == expected_labels.shape
    assert margin.dtype == np.float32 and margin.shape == expected_margin.shape
    assert (labels == expected_labels).mean() >= 0.999
    np.testing.assert_allclose(margin, expected_margin, atol=1e-4)


def test_a_batch_of_two_frames_gives_what_each_gives_alone(model, tmp_path):
    backend = make(model, tmp_path, inference_precision='f32', max_batch=2)
    batch = frames(2, seed=3)
    assert not np.array_equal(batch[0], batch[1])
    labels, margin = backend.infer(batch)
    for i in range(2):
        one_labels, one_margin = backend.infer(batch[i:i + 1])
        np.testing.assert_array_equal(labels[i], one_labels[0])
        np.testing.assert_allclose(margin[i], one_margin[0], atol=1e-5)
    three = backend.infer(frames(3, seed=4))[0]     # a batch size not compiled at start: compiled on first use
    assert three.shape == (3, 48, 64) and sorted(backend._compiled) == [1, 2, 3]


def test_segmenter_runs_on_openvino_and_describe_names_it(model, tmp_path, rgb_frame):
    seg = Segmenter.from_model(model.manifest_path, backend='openvino', threads=1, inference_precision='f32',
                               engine_dir=str(tmp_path))
    assert seg.segment(rgb_frame).labels.shape == rgb_frame.shape[:2]
    text = seg.backend.describe()
    assert text.startswith('openvino cpu f32') and '1 threads' in text and openvino_version(ov) in text
    auto = make(model, tmp_path).describe()
    assert auto.startswith('openvino cpu auto: ') and auto.split()[3] in ('f32', 'bf16')


def test_the_cache_folder_is_keyed_by_the_model_sha256_and_the_openvino_version(model, tmp_path):
    backend = make(model, tmp_path, inference_precision='f32')
    sha = sha256_file(model.path('onnx'))
    version = openvino_version(ov)
    assert backend.cache_dir == os.path.join(str(tmp_path), 'openvino', f'{sha[:16]}_{version}')
    assert os.path.isdir(backend.cache_dir) and os.listdir(backend.cache_dir)    # OpenVINO wrote its blob there
    assert version and version[0].isdigit() and '-' not in version


def test_the_default_cache_folder_is_cache_beside_the_model(model, monkeypatch):
    monkeypatch.delenv('SEG_PERCEPTION_ENGINE_DIR', raising=False)
    backend = backends.create('openvino', model, threads=1)
    assert os.path.dirname(backend.cache_dir) == os.path.join(model.folder, 'cache', 'openvino')


def test_a_bad_precision_is_refused_naming_the_choices(model, tmp_path):
    with pytest.raises(ValueError, match=r"'fp16'.*auto, f32, bf16, int8"):
        make(model, tmp_path, inference_precision='fp16')


def test_int8_is_refused_for_a_float_model(model, tmp_path):
    with pytest.raises(ValueError, match='already quantised model.*does not quantise'):
        make(model, tmp_path, inference_precision='int8')


def test_bf16_runs_or_is_refused_by_what_the_cpu_has(model, tmp_path):
    if 'BF16' in ov.Core().get_property('CPU', 'OPTIMIZATION_CAPABILITIES'):
        backend = make(model, tmp_path, inference_precision='bf16')
        assert backend.precision == 'bf16'
        expected = backends.create('onnxruntime', model, threads=1).infer(frames(2))[0]
        assert (backend.infer(frames(2))[0] == expected).mean() >= 0.98
    else:
        with pytest.raises(BackendUnavailable, match='no bf16 support'):
            make(model, tmp_path, inference_precision='bf16')


def test_a_missing_model_file_fails_naming_it(model, tmp_path):
    copy = tmp_path / 'model'
    copy.mkdir()
    shutil.copy(model.manifest_path, copy / 'tiny.json')        # the manifest without its ONNX file
    with pytest.raises(ModelFileError, match=r'tiny\.onnx is missing'):
        make(ModelFiles.load(str(copy / 'tiny.json')), tmp_path)


def test_wrong_input_shapes_are_refused(model, tmp_path):
    backend = make(model, tmp_path)
    with pytest.raises(ValueError, match='48 x 64 x 3 uint8'):
        backend.infer(frames(1, hw=(64, 48)))


def test_without_openvino_the_backend_says_what_to_install(model, monkeypatch):
    monkeypatch.setitem(sys.modules, 'openvino', None)      # import openvino now raises ImportError
    with pytest.raises(BackendUnavailable, match='pip install openvino'):
        backends.create('openvino', model)
    backend, warning = backends.create_with_fallback('openvino', model, fallback='onnxruntime', threads=1,
                                                     precision='fp16', max_batch=2)
    assert backend.name == 'onnxruntime' and 'pip install openvino' in warning


def test_the_node_options_pass_through_to_openvino(model, tmp_path):
    # the node gives every backend tensorrt's precision and engine_rebuild; openvino takes what it knows
    backend, warning = backends.create_with_fallback('openvino', model, threads=1, precision='fp16', max_batch=2,
                                                     engine_rebuild='never', engine_dir=str(tmp_path), log=None)
    assert warning == '' and backend.name == 'openvino' and sorted(backend._compiled) == [1, 2]


def test_the_shipped_model_gives_onnxruntimes_labels_on_the_sample(tmp_path, capsys):
    model = default_model()
    h, w = model.input_hw
    paths = sorted(glob.glob(os.path.join(SAMPLE_DIR, 'frame_*.jpg')))[:3]
    batch = np.stack([cv2.resize(cv2.imread(p)[:, :, ::-1], (w, h), interpolation=cv2.INTER_AREA) for p in paths])
    reference = backends.create('onnxruntime', model, threads=2).infer(batch)[0]
    f32 = make(model, tmp_path, inference_precision='f32').infer(batch)[0]
    auto_backend = make(model, tmp_path)
    auto = np.concatenate([auto_backend.infer(batch[i:i + 1])[0] for i in range(len(batch))])
    f32_agreement, auto_agreement = (f32 == reference).mean(), (auto == reference).mean()
    with capsys.disabled():
        print(f'\nshipped model, {len(batch)} sample frames: openvino f32 labels equal to onnxruntime on '
              f'{100 * f32_agreement:.3f}% of pixels, {auto_backend.describe()} on {100 * auto_agreement:.3f}%')
    assert f32_agreement >= 0.999
    assert auto_agreement >= 0.99      # bf16 moves a few boundary pixels (99.8-99.9% measured on AMX)


def test_bench_interleaves_the_backends_with_speed_up_and_label_agreement(tiny_model, tmp_path, capsys, monkeypatch):
    from seg_perception.cli import main

    monkeypatch.setenv('SEG_PERCEPTION_ENGINE_DIR', str(tmp_path))
    same_model = f'onnxruntime@{tiny_model}'        # a model of its own (here the same one)
    assert main(['bench', '--model', str(tiny_model), '--backends', 'onnxruntime', 'openvino:f32', same_model, 'auto',
                 '--threads', '1', '--sizes', '160x120', '--frames', '3', '--warmup', '1']) == 0
    out = capsys.readouterr().out
    assert f'# onnxruntime: tiny ({tiny_model}) on onnxruntime cpu (1 threads)' in out
    assert f'# openvino:f32: tiny ({tiny_model}) on openvino cpu f32' in out
    assert '# backend auto chose openvino: OpenVINO ' in out       # TensorRT is not installed where this runs
    rows = [line.split(' | ') for line in out.splitlines() if line.startswith('| 160x120 |')]
    assert [row[1] for row in rows] == ['onnxruntime', 'openvino:f32', same_model, 'auto']
    assert rows[0][4] == '1.00' and rows[0][6] == '100.00% |' and rows[1][6] == '100.00% |'
    assert rows[2][6] == '100.00% |'


def test_bench_refuses_a_precision_the_backend_does_not_take(tiny_model, capsys):
    from seg_perception.cli import main

    assert main(['bench', '--model', str(tiny_model), '--backends', 'onnxruntime', 'openvino:fp16']) == 2
    assert "openvino inference_precision 'fp16': choose one of auto, f32, bf16, int8" in capsys.readouterr().err
    assert main(['bench', '--model', str(tiny_model), '--backends', 'onnxruntime:f32']) == 2
    assert 'the onnxruntime backend takes no precision' in capsys.readouterr().err
    assert main(['bench', '--model', str(tiny_model), '--backends', 'openvino', 'openvino']) == 2
    assert 'a backend is named twice' in capsys.readouterr().err


@pytest.fixture
def int8_model(tiny_model, tmp_path):
    """The tiny model quantised by ONNX Runtime (static, QDQ operators), with its own manifest."""
    pytest.importorskip('onnx')     # onnxruntime.quantization needs it
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    from seg_perception.export import write_manifest

    class Frames(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{'image': frames(1, seed=seed)} for seed in range(8)])

        def get_next(self):
            return next(self.batches, None)

    tiny = ModelFiles.load(str(tiny_model))
    quantize_static(tiny.path('onnx'), str(tmp_path / 'tiny_int8.onnx'), Frames(), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    m = tiny.manifest
    path = tmp_path / 'tiny_int8.json'
    write_manifest(str(path), name='tiny_int8', architecture='tiny', arch_kwargs={}, classes=m['classes'],
                   input_hw=tuple(tiny.input_hw), mean=tiny.mean_std[0], std=tiny.mean_std[1],
                   files={'onnx': 'tiny_int8.onnx'})
    return ModelFiles.load(str(path))


def test_int8_runs_an_already_quantised_model(int8_model, tmp_path):
    backend = make(int8_model, tmp_path / 'cache', inference_precision='int8')
    assert backend.precision == 'int8' and 'int8' in backend.describe()
    assert make(int8_model, tmp_path / 'cache').precision == 'int8'        # auto on a quantised model: int8 too
    batch = frames(4, seed=20)
    expected = backends.create('onnxruntime', int8_model, threads=1).infer(batch)[0]
    agreement = (backend.infer(batch)[0] == expected).mean()
    assert agreement >= 0.95, agreement     # two int8 engines round differently near class boundaries


# -- benchmarks/openvino_int8.py: NNCF quantisation behind the accuracy gate -----------------------------------------

def load_int8_script():
    import importlib.util

    path = os.path.join(os.path.dirname(__file__), '..', 'benchmarks', 'openvino_int8.py')
    spec = importlib.util.spec_from_file_location('openvino_int8_script', path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script


def test_the_int8_gate_names_each_gate_that_fails():
    script = load_int8_script()
    good = {'labels_equal': 0.9962, 'miou_float32_onnxruntime': 76.67, 'miou_int8_openvino': 76.45}
    assert script.gate_failures(good) == []
    assert script.gate_failures({**good, 'labels_equal': 0.994}) == [
        'labels equal to float32 on 99.40% of CamVid val pixels, the gate is 99.5%']
    (failure,) = script.gate_failures({**good, 'miou_int8_openvino': 76.3})
    assert failure == 'val mIoU 76.30 is 0.37 points below float32\'s 76.67, the gate is 0.3'


def test_the_int8_script_quantises_with_nncf_and_writes_nothing_unless_the_gate_passes(tiny_model, tmp_path):
    pytest.importorskip('nncf')
    from seg_perception import datasets

    script = load_int8_script()
    camvid = tmp_path / 'camvid'
    scenes = datasets.rendered_scenes(6, seed=3, height=72, width=96)
    for split, indices in (('train', range(4)), ('val', range(4, 6))):
        (camvid / split).mkdir(parents=True)
        (camvid / f'{split}annot').mkdir()
        lines = []
        for i in indices:
            cv2.imwrite(str(camvid / split / f'f{i}.png'), scenes.images[i][:, :, ::-1])
            cv2.imwrite(str(camvid / f'{split}annot' / f'f{i}.png'), scenes.labels[i])
            lines.append(f'{split}/f{i}.png {split}annot/f{i}.png')
        (camvid / f'{split}.txt').write_text('\n'.join(lines) + '\n')
    args = [str(tiny_model), '--camvid', str(camvid), '--calib-images', str(camvid / 'train'), '--calib-frames', '4',
            '--threads', '1', '--out', str(tmp_path / 'out')]
    rc = script.main(args)
    assert rc in (0, 1) and (tmp_path / 'out' / 'tiny_int8.json').exists() == (rc == 0)
    if rc == 0:     # passed: the model written runs on the openvino backend at int8
        written = ModelFiles.load(str(tmp_path / 'out' / 'tiny_int8.json'))
        assert written.name == 'tiny_int8' and written.manifest['quantisation']['gate']['gate'] == 'passed'
        assert make(written, tmp_path / 'cache', inference_precision='int8').precision == 'int8'
    # what nncf writes is a graph of int8 QuantizeLinear/DequantizeLinear pairs that the backend runs at int8
    from seg_perception.export import write_manifest

    tiny = ModelFiles.load(str(tiny_model))
    done = script.quantise(tiny.path('onnx'), list(frames(4, seed=30)), str(tmp_path / 'q.onnx'), 4)
    assert done['quantize_linear_ops'] > 0 and done['dequantize_linear_ops'] >= done['quantize_linear_ops']
    write_manifest(str(tmp_path / 'q.json'), name='q', architecture='tiny', arch_kwargs={}, classes=tiny.classes,
                   input_hw=tuple(tiny.input_hw), mean=tiny.mean_std[0], std=tiny.mean_std[1], files={'onnx': 'q.onnx'})
    assert make(ModelFiles.load(str(tmp_path / 'q.json')), tmp_path / 'cache', inference_precision='int8').precision \
        == 'int8'
    # a gate on part of val refuses whatever the figures, and says why
    assert script.main(args[:-1] + [str(tmp_path / 'limited'), '--limit', '1']) == 1
    assert not (tmp_path / 'limited').exists()
    assert script.main([str(tiny_model), '--camvid', str(camvid), '--out', str(tmp_path / 'x'),
                        '--calib-images', str(tmp_path / 'missing')]) == 2

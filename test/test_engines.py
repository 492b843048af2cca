"""TensorRT engine files, build configurations, calibration data and build-engine: everything but TensorRT itself."""

import importlib.util
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
import yaml

from seg_perception.model_files import ModelFiles
from seg_perception.tensorrt.build import BuildSettings, main as build_main, timing_cache_file
from seg_perception.tensorrt.calibration import CalibrationDataError, bag_images, batches, folder_images
from seg_perception.tensorrt.config import ConfigError, load_config, parse_config
from seg_perception.tensorrt.files import (EngineFacts, EngineStale, Platform, check_engine, engine_name, facts_path,
                                           find_engine, onnx_sha256, resolve_engine, write_engine)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
H100 = Platform('9.0', '10.3.0', 'NVIDIA H100')
ORIN = Platform('8.7', '10.3.0', 'Orin')


@pytest.fixture
def model(tiny_model):
    return ModelFiles.load(str(tiny_model))


def build_fake(model, folder, precision='fp16', platform=H100, max_batch=4, onnx_hash=None, **changes):
    """Write an engine file (any bytes) with the facts a real build for ``platform`` would write."""
    onnx_hash = onnx_hash or onnx_sha256(model)
    path = os.path.join(folder, engine_name(model.name, precision, platform, onnx_hash))
    facts = EngineFacts(model.name, precision, platform.compute_capability, platform.tensorrt_version, onnx_hash,
                        model.input_hw, 1, max_batch, 1, platform.gpu_name)
    for key, value in changes.items():
        setattr(facts, key, value)
    write_engine(path, b'engine bytes', facts)
    return path


# -- names and facts ----------------------------------------------------------------------------------------------

def test_engine_name_says_model_precision_gpu_tensorrt_and_onnx_hash():
    name = engine_name('pspnet_lite0_camvid', 'int8', H100, 'db6179f533a9d51a76d30c8d3aa058be')
    assert name == 'pspnet_lite0_camvid_int8_sm90_trt10.3.0_db6179f533a9.engine'
    with pytest.raises(ValueError, match='fp32, fp16, int8'):
        engine_name('m', 'bf16', H100, 'ab' * 32)


def test_facts_are_written_beside_the_engine_and_read_back(model, tmp_path):
    path = build_fake(model, str(tmp_path))
    assert os.path.isfile(path) and facts_path(path) == path[:-len('.engine')] + '.json'
    with open(facts_path(path)) as f:
        facts = EngineFacts.from_json(f.read())
    assert (facts.model, facts.precision, facts.compute_capability, facts.tensorrt_version) == \
        (model.name, 'fp16', '9.0', '10.3.0')
    assert facts.onnx_sha256 == onnx_sha256(model) and facts.input_hw == model.input_hw and facts.built_utc
    with pytest.raises(ValueError, match='lacks onnx_sha256'):
        EngineFacts.from_json(json.dumps({'model': 'm', 'precision': 'fp16', 'compute_capability': '9.0',
                                          'tensorrt_version': '10', 'input_hw': [1, 1], 'min_batch': 1,
                                          'max_batch': 1}), 'x.json')


# -- finding an engine, and saying why not ------------------------------------------------------------------------

def test_no_engine_yet_says_where_it_looked(model, tmp_path):
    lookup = find_engine(model, 'fp16', H100, folder=str(tmp_path / 'none'))
    assert not lookup.ok and 'no engine built yet' in lookup.why() and lookup.expected in lookup.why()


def test_matching_engine_is_found(model, tmp_path):
    path = build_fake(model, str(tmp_path))
    lookup = find_engine(model, 'fp16', H100, batch=4, folder=str(tmp_path))
    assert lookup.ok and lookup.path == path


@pytest.mark.parametrize('kind, platform, batch, changes, reason', [
    ('onnx', H100, 1, {'onnx_hash': 'f' * 64}, 'the ONNX file changed since the build'),
    ('tensorrt', Platform('9.0', '10.0.1'), 1, {}, 'built with TensorRT 10.3.0, this machine has TensorRT 10.0.1'),
    ('gpu', ORIN, 1, {}, 'built for compute capability 9.0 (NVIDIA H100), this GPU (Orin) is 8.7'),
    ('batch', H100, 6, {}, 'batch range 1..4 does not cover 6'),
    ('input', H100, 1, {'input_hw': (96, 128)}, 'built for input 128x96'),
])
def test_stale_or_mismatched_engine_is_rejected_with_the_reason(model, tmp_path, kind, platform, batch, changes,
                                                                reason):
    path = build_fake(model, str(tmp_path), **changes)
    lookup = find_engine(model, 'fp16', platform, batch=batch, folder=str(tmp_path))
    assert not lookup.ok
    assert [p for p, _ in lookup.rejected] == [path]
    assert reason in lookup.why(), lookup.why()


def test_engine_without_its_json_or_with_broken_json_is_rejected(model, tmp_path):
    path = build_fake(model, str(tmp_path))
    os.remove(facts_path(path))
    lookup = find_engine(model, 'fp16', H100, folder=str(tmp_path))
    assert not lookup.ok and 'facts unknown' in lookup.why()
    with open(facts_path(path), 'w') as f:
        f.write('{not json')
    assert 'is not JSON' in find_engine(model, 'fp16', H100, folder=str(tmp_path)).why()


def test_other_precision_engine_is_not_taken(model, tmp_path):
    build_fake(model, str(tmp_path), precision='int8')
    assert not find_engine(model, 'fp16', H100, folder=str(tmp_path)).ok


def test_check_engine_refuses_a_named_engine_for_another_gpu(model, tmp_path):
    path = build_fake(model, str(tmp_path))
    assert check_engine(path, model, 'fp16', H100) == path
    with pytest.raises(EngineStale, match='compute capability 9.0 .*this GPU .* is 8.7.*build-engine'):
        check_engine(path, model, 'fp16', ORIN)


# -- the engine_rebuild policy ------------------------------------------------------------------------------------

def test_policy_never_refuses_with_why_and_how_to_build(model, tmp_path):
    build_fake(model, str(tmp_path), platform=Platform('9.0', '8.6.1'))
    with pytest.raises(EngineStale) as error:
        resolve_engine(model, 'fp16', H100, policy='never', folder=str(tmp_path), build=lambda p: None)
    message = str(error.value)
    assert 'built with TensorRT 8.6.1, this machine has TensorRT 10.3.0' in message
    assert 'seg-perception build-engine' in message and 'engine_rebuild to auto' in message


def test_policy_auto_rebuilds_a_stale_engine_once_and_reuses_it_at_later_starts(model, tmp_path):
    build_fake(model, str(tmp_path), onnx_hash='0' * 64)      # built from an older ONNX file
    built = []

    def build(expected):
        built.append(expected)
        build_fake(model, str(tmp_path))

    first = resolve_engine(model, 'fp16', H100, batch=2, policy='auto', build=build, folder=str(tmp_path))
    assert first.rebuilt and 'the ONNX file changed' in first.reason and built == [first.path]
    second = resolve_engine(model, 'fp16', H100, batch=2, policy='auto', build=build, folder=str(tmp_path))
    assert second.path == first.path and not second.rebuilt and len(built) == 1


def test_policy_auto_fails_when_the_rebuilt_engine_still_does_not_match(model, tmp_path):
    def build(expected):
        build_fake(model, str(tmp_path), max_batch=1)

    with pytest.raises(EngineStale, match='(?s)still does not match.*batch range 1..1 does not cover 3'):
        resolve_engine(model, 'fp16', H100, batch=3, policy='auto', build=build, folder=str(tmp_path))


def test_unknown_policy_is_refused(model, tmp_path):
    with pytest.raises(ValueError, match='never, auto'):
        resolve_engine(model, 'fp16', H100, policy='always', folder=str(tmp_path))


def test_engines_folder_is_ignored_by_git():
    result = subprocess.run(['git', 'check-ignore', 'engines/cache/x.engine'], cwd=ROOT, capture_output=True)
    assert result.returncode == 0


# -- build configurations -----------------------------------------------------------------------------------------

def test_every_shipped_model_has_a_valid_build_configuration():
    manifests = [f for f in os.listdir(os.path.join(ROOT, 'engines')) if f.endswith('.json')]
    assert manifests
    for manifest in manifests:
        config = load_config(os.path.join(ROOT, 'engines', manifest[:-len('.json')] + '.yaml'))
        assert os.path.isfile(config.onnx) and os.path.isfile(config.manifest)
        assert config.precisions[0] in ('fp16', 'fp32', 'int8') and config.max_batch >= 1
        if 'int8' in config.precisions:
            assert len(list(folder_images(config.calibration.images, (36, 48)))) >= config.calibration.batch_size


GOOD = {'onnx': 'm.onnx', 'precisions': ['fp16', 'int8'], 'batch': {'min': 1, 'opt': 2, 'max': 4},
        'calibration': {'images': 'calib'}}


@pytest.mark.parametrize('change, message', [
    ({'precison': ['fp16']}, 'unknown field(s) precison'),
    ({'onnx': None}, 'onnx must be a non-empty string'),
    ({'onnx': 'm.pt'}, 'onnx must name a .onnx file'),
    ({'precisions': ['fp8']}, "'fp8' unknown; expected fp32, fp16, int8"),
    ({'batch': {'min': 4, 'max': 2}}, 'min <= opt <= max'),
    ({'batch': {'max': 0}}, 'batch.max must be an integer >= 1, got 0'),
    ({'workspace_mb': 'big'}, 'workspace_mb must be an integer'),
    ({'calibration': None}, 'precisions include int8 but there is no calibration section'),
    ({'calibration': {'images': 'a', 'bag': 'b', 'topic': '/t'}}, 'exactly one of images'),
    ({'calibration': {'bag': 'b'}}, "bag 'b' needs topic"),
    ({'calibration': {'images': 'a', 'batch': 8}}, 'calibration: unknown field(s) batch'),
    ({'keep_fp16': ['(']}, "keep_fp16: '(' is not a regular expression"),
])
def test_configuration_errors_name_the_file_and_field(change, message):
    data = dict(GOOD, **change)
    if data.get('onnx') is None:
        data['onnx'] = None
    if data.get('calibration') is None:
        del data['calibration']
    with pytest.raises(ConfigError) as error:
        parse_config(data, '/cfg/m.yaml')
    assert str(error.value).startswith('/cfg/m.yaml: ') and message in str(error.value), str(error.value)


def test_configuration_paths_are_relative_to_the_file(tmp_path):
    config = parse_config(dict(GOOD, timing_cache='cache/t.cache'), str(tmp_path / 'm.yaml'))
    assert config.onnx == str(tmp_path / 'm.onnx') and config.manifest == str(tmp_path / 'm.json')
    assert config.calibration.images == str(tmp_path / 'calib')
    assert config.timing_cache == str(tmp_path / 'cache' / 't.cache')
    assert (config.min_batch, config.opt_batch, config.max_batch) == (1, 2, 4)


def test_unreadable_configuration_is_named(tmp_path):
    with pytest.raises(ConfigError, match='cannot read engine build configuration'):
        load_config(str(tmp_path / 'missing.yaml'))
    (tmp_path / 'bad.yaml').write_text('onnx: [unclosed\n')
    with pytest.raises(ConfigError, match='bad.yaml is not valid YAML'):
        load_config(str(tmp_path / 'bad.yaml'))
    (tmp_path / 'list.yaml').write_text('- a\n')
    with pytest.raises(ConfigError, match='expected a mapping'):
        load_config(str(tmp_path / 'list.yaml'))


def test_build_settings_raise_the_batch_range_to_the_cameras_needed(tmp_path):
    config = parse_config(GOOD, str(tmp_path / 'm.yaml'))
    settings = BuildSettings.from_config(config, 'int8', max_batch=6)
    assert (settings.min_batch, settings.opt_batch, settings.max_batch) == (1, 2, 6)
    assert timing_cache_file('/c/timing.cache', Platform('8.7', '10.3.0')) == '/c/timing_sm87_trt10.3.0.cache'


# -- calibration data ---------------------------------------------------------------------------------------------

def write_images(folder, n, hw=(60, 80)):
    os.makedirs(folder, exist_ok=True)
    for i in range(n):
        bgr = np.zeros((*hw, 3), np.uint8)
        bgr[..., 0] = 10 * i        # blue in the file: must come out as the third (B of RGB) channel
        bgr[..., 2] = 200
        cv2.imwrite(os.path.join(folder, f'frame_{i:03d}.png'), bgr)


def test_calibration_from_a_folder_is_network_sized_rgb(tmp_path):
    write_images(str(tmp_path / 'calib'), 5)
    (tmp_path / 'calib' / 'notes.txt').write_text('not an image')
    images = list(folder_images(str(tmp_path / 'calib'), (30, 40)))
    assert len(images) == 5 and all(im.shape == (30, 40, 3) and im.dtype == np.uint8 for im in images)
    assert images[3][0, 0].tolist() == [200, 0, 30]
    assert len(list(folder_images(str(tmp_path / 'calib'), (30, 40), limit=2))) == 2
    assert len(list(folder_images(str(tmp_path / 'calib' / 'frame_00[0-2].png'), (30, 40)))) == 3
    stacked = list(batches(iter(images), 2))
    assert [b.shape for b in stacked] == [(2, 30, 40, 3), (2, 30, 40, 3)]     # the fifth image is dropped


def test_calibration_folder_errors_name_the_folder(tmp_path):
    with pytest.raises(CalibrationDataError, match='does not exist'):
        list(folder_images(str(tmp_path / 'nowhere'), (30, 40)))
    (tmp_path / 'empty').mkdir()
    with pytest.raises(CalibrationDataError, match='empty: no image files'):
        list(folder_images(str(tmp_path / 'empty'), (30, 40)))


def write_camera_bag(path):
    """A bag with an rgb8 Image topic, a jpeg CompressedImage topic and a mono8 topic, 4 frames each."""
    from rosbags.rosbag2 import StoragePlugin, Writer

    from seg_perception.bags.format import TYPESTORE

    types = TYPESTORE.types
    header = types['std_msgs/msg/Header'](stamp=types['builtin_interfaces/msg/Time'](sec=0, nanosec=0),
                                          frame_id='camera')
    writer = Writer(str(path), version=9, storage_plugin=StoragePlugin.MCAP)
    writer.open()
    topics = {'/front/image': 'sensor_msgs/msg/Image', '/rear/image/compressed': 'sensor_msgs/msg/CompressedImage',
              '/mono': 'sensor_msgs/msg/Image'}
    connections = {t: writer.add_connection(t, m, typestore=TYPESTORE) for t, m in topics.items()}
    rgb = np.zeros((60, 80, 3), np.uint8)
    rgb[..., 0] = 220
    for i in range(4):
        messages = {
            '/front/image': types['sensor_msgs/msg/Image'](header=header, height=60, width=80, encoding='rgb8',
                                                           is_bigendian=0, step=240, data=rgb.reshape(-1)),
            '/rear/image/compressed': types['sensor_msgs/msg/CompressedImage'](
                header=header, format='jpeg', data=np.frombuffer(cv2.imencode('.jpg', rgb[..., ::-1])[1], np.uint8)),
            '/mono': types['sensor_msgs/msg/Image'](header=header, height=60, width=80, encoding='mono8',
                                                    is_bigendian=0, step=80, data=np.full(4800, 90, np.uint8)),
        }
        for topic, msg in messages.items():
            writer.write(connections[topic], i * 100_000_000, TYPESTORE.serialize_cdr(msg, topics[topic]))
    writer.close()


@pytest.fixture(scope='module')
def camera_bag(tmp_path_factory):
    path = tmp_path_factory.mktemp('calib_bag') / 'drive'
    write_camera_bag(path)
    return str(path)


@pytest.mark.parametrize('topic, red', [('/front/image', 220), ('/rear/image/compressed', 220), ('/mono', 90)])
def test_calibration_from_a_bag_topic_is_network_sized_rgb(camera_bag, topic, red):
    images = list(bag_images(camera_bag, topic, (30, 40)))
    assert len(images) == 4 and all(im.shape == (30, 40, 3) and im.dtype == np.uint8 for im in images)
    assert abs(int(images[0][15, 20, 0]) - red) <= 3
    assert len(list(bag_images(camera_bag, topic, (30, 40), limit=3))) == 3


def test_calibration_bag_with_a_wrong_topic_lists_the_image_topics(camera_bag, tmp_path):
    with pytest.raises(CalibrationDataError, match='/camera/image is not in it; image topics there: /front/image'):
        list(bag_images(camera_bag, '/camera/image', (30, 40)))
    with pytest.raises(CalibrationDataError, match='not a rosbag2 bag'):
        list(bag_images(str(tmp_path), '/front/image', (30, 40)))


# -- the build-engine command -------------------------------------------------------------------------------------

def test_build_engine_without_tensorrt_says_what_to_install_without_a_traceback(tiny_model, tmp_path):
    if importlib.util.find_spec('tensorrt'):
        pytest.skip('TensorRT is installed here')
    result = subprocess.run([sys.executable, '-m', 'seg_perception.cli', 'build-engine', '--model', str(tiny_model),
                             '--out', str(tmp_path)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2
    assert 'error: TensorRT is not usable here: missing the tensorrt Python package' in result.stderr
    assert 'pip install' in result.stderr and 'Traceback' not in result.stderr + result.stdout
    assert not os.listdir(tmp_path)


def test_seg_build_engine_script_is_installed_for_ros2_run():
    with open(os.path.join(ROOT, 'setup.py')) as f:
        assert "'seg-build-engine = seg_perception.tensorrt.build:main'" in f.read()


def test_build_engine_subcommand_and_script_run_one_function():
    from seg_perception.cli import build_parser
    from seg_perception.tensorrt import build

    assert build_parser().parse_args(['build-engine', '--check']).func is build.run


def test_build_engine_check_plans_and_reads_calibration_without_tensorrt(tiny_model, tmp_path, camera_bag, capsys):
    write_images(str(tmp_path / 'calib'), 9)
    rc = build_main(['--model', str(tiny_model), '--precision', 'int8', '--precision', 'fp16', '--max-batch', '3',
                     '--calib-images', str(tmp_path / 'calib'), '--keep-fp16', 'Softmax', '--out', str(tmp_path),
                     '--check'])
    out = capsys.readouterr().out
    assert rc == 0
    assert 'tiny int8: batch 1/1/3 (min/opt/max) at 64x48' in out and 'keep FP16: Softmax' in out
    assert 'tiny fp16: batch 1/1/3' in out
    assert f'calibration: 9 images from {tmp_path / "calib"} (batches of 8)' in out
    rc = build_main(['--model', str(tiny_model), '--precision', 'int8', '--calib-bag', camera_bag,
                     '--calib-topic', '/front/image', '--calib-batch', '2', '--check'])
    assert rc == 0 and 'calibration: 4 images from' in capsys.readouterr().out


@pytest.mark.parametrize('args, message', [
    (['--precision', 'int8'], 'an INT8 build needs calibration data'),
    (['--precision', 'int8', '--calib-bag', 'b'], '--calib-bag needs --calib-topic'),
    (['--min-batch', '4', '--max-batch', '2'], 'batch range needs 1 <= min <= opt <= max'),
    (['--precision', 'int8', '--calib-images', '/nowhere/at/all'], 'calibration folder /nowhere/at/all does not'),
])
def test_build_engine_errors_are_one_line_and_exit_2(tiny_model, args, message, capsys):
    rc = build_main(['--model', str(tiny_model), '--check', *args])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith('error: ') and message in err, err


def test_build_engine_reads_the_models_yaml(tmp_path, tiny_model, capsys):
    (tmp_path / 'calib').mkdir()
    write_images(str(tmp_path / 'calib'), 3)
    config = {'onnx': os.path.join(os.path.dirname(str(tiny_model)), 'tiny.onnx'), 'precisions': ['fp32', 'int8'],
              'batch': {'max': 5}, 'workspace_mb': 512,
              'calibration': {'images': str(tmp_path / 'calib'), 'batch_size': 2}}
    (tmp_path / 'tiny.yaml').write_text(yaml.safe_dump(config))
    assert build_main(['--config', str(tmp_path / 'tiny.yaml'), '--check']) == 0
    out = capsys.readouterr().out
    assert 'tiny fp32: batch 1/1/5 (min/opt/max) at 64x48, workspace 512 MB' in out
    assert 'calibration: 3 images' in out and '(batches of 2)' in out

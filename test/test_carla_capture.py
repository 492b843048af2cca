"""carla-capture: the bag it writes from given frames, read back and evaluated; its shutdown, without a server.

No CARLA server runs here. The bag layout is tested on frames made here; the client loop runs against a small
stand-in of the ``carla`` module (the calls capture() makes, nothing more) to check that SIGINT ends it with a
bag that opens, the world's settings restored and every actor destroyed.
"""

import copy
import json
import os
import signal
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import yaml
from rosbags.highlevel import AnyReader

from seg_perception.bags.messages import image_array
from seg_perception.bags.carla_capture import (CARLA_TOPICS, CameraSpec, CaptureBag, capture, carla_topics,
                                               import_carla, tag_layout)
from seg_perception.bags.evaluate import ground_truth
from seg_perception.bags.format import TYPESTORE
from seg_perception.cli import main
from seg_perception.taxonomy import CARLA_LEGACY_TAGS, CARLA_TAGS, TAXONOMY_CLASSES

SPEC = CameraSpec(width=64, height=48, fov_deg=90.0)
SECOND = 1_000_000_000
T = {name: i for i, name in enumerate(TAXONOMY_CLASSES)}


def frames(count, spec=SPEC):
    """(camera BGRA as CARLA delivers it, semantic tags) per tick: sky over road, a car on the road."""
    rng = np.random.default_rng(0)
    for _ in range(count):
        bgra = rng.integers(0, 256, (spec.height, spec.width, 4), dtype=np.uint8)
        tags = np.full((spec.height, spec.width), CARLA_TAGS.index('sky'), np.uint8)
        tags[spec.height // 2:] = CARLA_TAGS.index('road')
        tags[spec.height // 2:spec.height // 2 + 8, 24:40] = CARLA_TAGS.index('car')
        yield bgra, tags


def read_bag(path):
    with AnyReader([Path(path)], default_typestore=TYPESTORE) as reader:
        return [(c.topic, c.msgtype, t, reader.deserialize(data, c.msgtype)) for c, t, data in reader.messages()]


@pytest.fixture
def captured(tmp_path):
    """A bag of three ticks written by CaptureBag, 50 ms of simulation apart, and the frames written."""
    written = list(frames(3))
    with CaptureBag(str(tmp_path / 'capture'), SPEC, layout='carla', custom_data={'carla_map': 'Town10HD'}) as bag:
        for i, (bgra, tags) in enumerate(written):
            bag.write(100 + i, (i + 1) * 50_000_000, bgra, tags)
    return tmp_path / 'capture', written


def test_topics_follow_carla_ros_bridge():
    assert CARLA_TOPICS == {'image': '/carla/ego_vehicle/rgb_front/image',
                            'camera_info': '/carla/ego_vehicle/rgb_front/camera_info',
                            'semantic': '/carla/ego_vehicle/semantic_segmentation_front/image',
                            'semantic_info': '/carla/ego_vehicle/semantic_segmentation_front/camera_info'}
    assert carla_topics('hero')['image'] == '/carla/hero/rgb_front/image'


def test_each_tick_is_a_camera_and_semantic_pair_with_one_stamp(captured):
    path, written = captured
    messages = read_bag(path)
    assert len(messages) == 3 * 4
    by_topic = {}
    for topic, msgtype, receive_ns, msg in messages:
        stamp = msg.header.stamp.sec * SECOND + msg.header.stamp.nanosec
        assert receive_ns == stamp
        by_topic.setdefault(topic, []).append((stamp, msgtype, msg))
    assert set(by_topic) == set(CARLA_TOPICS.values())
    stamps = [[s for s, _, _ in by_topic[t]] for t in CARLA_TOPICS.values()]
    assert all(s == [50_000_000, 100_000_000, 150_000_000] for s in stamps)
    for (_, _, camera), (_, _, semantic), (bgra, tags) in zip(by_topic[CARLA_TOPICS['image']],
                                                              by_topic[CARLA_TOPICS['semantic']], written):
        assert camera.encoding == 'bgr8' and camera.header.frame_id == 'ego_vehicle/rgb_front'
        assert np.array_equal(image_array(camera), bgra[:, :, 2::-1])       # read back as RGB
        assert semantic.encoding == 'mono8' and np.array_equal(image_array(semantic), tags)
        truth = ground_truth(semantic, 'carla')
        assert truth[0, 0] == T['sky'] and truth[-1, 0] == T['road'] and truth[SPEC.height // 2, 30] == T['vehicle']
    _, msgtype, info = by_topic[CARLA_TOPICS['camera_info']][0]
    assert msgtype == 'sensor_msgs/msg/CameraInfo'
    assert (info.width, info.height) == (64, 48) and info.distortion_model == 'plumb_bob'
    assert info.k.tolist() == pytest.approx([32, 0, 32, 0, 32, 24, 0, 0, 1])     # 90 degrees: fx = width / 2


def test_metadata_is_standard_mcap_with_the_ground_truth_format(captured):
    path, _ = captured
    with open(path / 'metadata.yaml') as f:
        info = yaml.safe_load(f)['rosbag2_bagfile_information']
    assert info['storage_identifier'] == 'mcap' and info['message_count'] == 12
    assert info['custom_data'] == {'carla_gt_format': 'carla', 'carla_map': 'Town10HD'}
    topics = {t['topic_metadata']['name']: t['topic_metadata'] for t in info['topics_with_message_count']}
    assert topics[CARLA_TOPICS['image']]['type'] == 'sensor_msgs/msg/Image'
    assert topics[CARLA_TOPICS['image']]['offered_qos_profiles']


def test_eval_bag_runs_the_model_over_a_captured_bag(captured, tiny_model, tmp_path):
    path, _ = captured
    out = tmp_path / 'eval.json'
    assert main(['eval-bag', str(path), '--gt-topic', CARLA_TOPICS['semantic'], '--gt-format', 'carla',
                 '--image-topic', CARLA_TOPICS['image'], '--run', '--model', tiny_model, '--json', str(out)]) == 0
    report = json.loads(out.read_text())
    assert report['frames_with_ground_truth'] == 3 and report['frames_scored'] == 3
    assert report['dropped_share'] == 0 and report['hazards']['alarm_source'] == 'Segmenter (--run)'


def test_frames_that_do_not_pair_are_refused(tmp_path):
    (bgra, tags), = frames(1)
    with CaptureBag(str(tmp_path / 'bad'), SPEC) as bag:
        with pytest.raises(ValueError, match="semantic camera must have the RGB camera's size"):
            bag.write(1, SECOND, bgra, tags[:, :32])
        bag.write(1, SECOND, bgra, tags)
        with pytest.raises(ValueError, match='not after the previous'):
            bag.write(2, SECOND, bgra, tags)
        assert bag.frames == 1


@pytest.mark.parametrize('version, layout', [('0.9.16', 'carla'), ('0.9.14', 'carla'), ('0.9.13', 'carla_legacy'),
                                             ('0.9.10.1', 'carla_legacy'), ('0.9.15-2-gabc1234', 'carla'),
                                             ('0.10.0', 'carla')])
def test_tag_layout_follows_the_server_version(version, layout):
    assert tag_layout(version) == layout
    assert len({'carla': CARLA_TAGS, 'carla_legacy': CARLA_LEGACY_TAGS}[layout]) in (29, 23)


def test_a_missing_carla_package_is_named_with_how_to_install_it(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, 'carla', None)     # import carla raises ImportError
    with pytest.raises(ImportError, match='pip install carla=='):
        import_carla()
    assert main(['carla-capture', '-o', str(tmp_path / 'bag'), '--frames', '1']) == 2
    assert 'pip install carla==' in capsys.readouterr().err
    assert not (tmp_path / 'bag').exists()


# --- the client loop against a stand-in of the carla module ---------------------------------------------------

class _Blueprint:
    def __init__(self, blueprint_id, **attributes):
        self.id, self.attributes = blueprint_id, dict(attributes, role_name='')

    def has_attribute(self, name):
        return name in self.attributes

    def get_attribute(self, name):
        return self.attributes[name]

    def set_attribute(self, name, value):
        assert isinstance(value, str)
        self.attributes[name] = value


class _Actor:
    def __init__(self, world, blueprint):
        self.world, self.blueprint, self.callback, self.autopilot = world, blueprint, None, None

    def listen(self, callback):
        self.callback = callback

    def stop(self):
        self.callback = None

    def set_autopilot(self, enabled, port):
        self.autopilot = (enabled, port)

    def destroy(self):
        self.world.destroyed.append(self)


class _World:
    """Ticks send each listening camera a BGRA image; the third tick comes with a SIGINT."""

    def __init__(self):
        self.settings = types.SimpleNamespace(synchronous_mode=False, fixed_delta_seconds=None)
        self.applied, self.destroyed, self.sensors, self.frame = [], [], [], 1000
        self.lost_at = None         # the frame at which the connection is lost

    def get_settings(self):
        return copy.copy(self.settings)

    def apply_settings(self, settings):
        self.settings = copy.copy(settings)
        self.applied.append(self.get_settings())

    def get_blueprint_library(self):
        return types.SimpleNamespace(
            filter=lambda pattern: [_Blueprint('vehicle.bike', number_of_wheels='2'),
                                    _Blueprint('vehicle.car', number_of_wheels='4')],
            find=lambda blueprint_id: _Blueprint(blueprint_id, image_size_x='800', image_size_y='600', fov='90',
                                                 sensor_tick='0'))

    def get_map(self):
        return types.SimpleNamespace(name='Carla/Maps/Town10HD_Opt', get_spawn_points=lambda: ['a', 'b'])

    def try_spawn_actor(self, blueprint, transform):
        self.vehicle = _Actor(self, blueprint)
        return self.vehicle

    def spawn_actor(self, blueprint, transform, attach_to):
        assert attach_to is self.vehicle
        self.sensors.append(_Actor(self, blueprint))
        return self.sensors[-1]

    def tick(self):
        assert self.settings.synchronous_mode
        self.frame += 1
        if self.frame == self.lost_at:
            raise RuntimeError('time-out of 10000ms while waiting for the simulator')
        for sensor in self.sensors:
            width, height = (int(sensor.blueprint.attributes[k]) for k in ('image_size_x', 'image_size_y'))
            pixels = np.zeros((height, width, 4), np.uint8)
            pixels[:, :, 2] = CARLA_TAGS.index('road')      # the tag (red) of a semantic image
            sensor.callback(types.SimpleNamespace(frame=self.frame, timestamp=(self.frame - 1000) * 0.05,
                                                  width=width, height=height, raw_data=pixels.tobytes()))
        if self.frame == 1003:
            os.kill(os.getpid(), signal.SIGINT)
        return self.frame


def _stand_in():
    world = _World()
    traffic_manager = types.SimpleNamespace(synchronous=None, get_port=lambda: 8123,
                                            set_random_device_seed=lambda seed: None)
    traffic_manager.set_synchronous_mode = lambda on: setattr(traffic_manager, 'synchronous', on)
    client = types.SimpleNamespace(set_timeout=lambda s: None, get_world=lambda: world,
                                   get_server_version=lambda: '0.9.15', get_trafficmanager=lambda port: traffic_manager)
    module = types.ModuleType('carla')
    module.Client = lambda host, port: client
    module.Transform = module.Location = module.Rotation = lambda *args, **kwargs: (args, kwargs)
    return module, world, traffic_manager


def test_sigint_leaves_a_bag_that_opens_and_the_world_as_it_was(monkeypatch, tmp_path, capsys):
    module, world, traffic_manager = _stand_in()
    monkeypatch.setitem(sys.modules, 'carla', module)
    handler = signal.getsignal(signal.SIGINT)
    spec = CameraSpec(width=32, height=24)
    assert capture(str(tmp_path / 'drive'), fps=20.0, spec=spec, seed=3, quiet=True) == 0
    messages = read_bag(tmp_path / 'drive')
    assert len(messages) == 3 * 4       # the three ticks before the signal, each a full pair
    assert [m[2] for m in messages if m[0] == CARLA_TOPICS['image']] == [50_000_000, 100_000_000, 150_000_000]
    assert world.applied[0].synchronous_mode and world.applied[0].fixed_delta_seconds == 0.05
    assert world.settings.synchronous_mode is False and traffic_manager.synchronous is False
    assert world.destroyed == [*reversed(world.sensors), world.vehicle]
    assert world.vehicle.blueprint.id == 'vehicle.car' and world.vehicle.autopilot == (True, 8123)
    assert world.vehicle.blueprint.attributes['role_name'] == 'ego_vehicle'
    assert all(s.callback is None for s in world.sensors)
    assert signal.getsignal(signal.SIGINT) is handler
    assert '--gt-format carla --image-topic /carla/ego_vehicle/rgb_front/image' in capsys.readouterr().err


def test_the_stand_in_matches_the_real_client_where_it_is_installed():
    carla = pytest.importorskip('carla')
    for owner, names in ((carla.Client, ('set_timeout', 'get_world', 'load_world', 'get_server_version',
                                         'get_trafficmanager')),
                         (carla.World, ('get_settings', 'apply_settings', 'get_blueprint_library', 'get_map',
                                        'try_spawn_actor', 'spawn_actor', 'tick')),
                         (carla.WorldSettings, ('synchronous_mode', 'fixed_delta_seconds')),
                         (carla.TrafficManager, ('set_synchronous_mode', 'set_random_device_seed', 'get_port')),
                         (carla.ActorBlueprint, ('has_attribute', 'get_attribute', 'set_attribute')),
                         (carla.Sensor, ('listen', 'stop', 'destroy')), (carla.Vehicle, ('set_autopilot',)),
                         (carla.Image, ('frame', 'timestamp', 'width', 'height', 'raw_data'))):
        assert all(hasattr(owner, name) for name in names), owner


def test_capture_and_reading_it_back_need_no_rclpy(tmp_path):
    import subprocess

    script = ('import sys; sys.modules["rclpy"] = None\n'      # import rclpy raises ImportError
              'import numpy as np\n'
              'from seg_perception.bags.carla_capture import CameraSpec, CaptureBag, CARLA_TOPICS\n'
              'from seg_perception.bags.evaluate import ground_truth\n'
              'from seg_perception.bags.format import open_bag\n'
              'with CaptureBag(sys.argv[1], CameraSpec(width=8, height=6)) as bag:\n'
              '    bag.write(1, 10, np.zeros((6, 8, 4), np.uint8), np.full((6, 8), 1, np.uint8))\n'
              'with open_bag(sys.argv[1]) as reader:\n'
              '    gt = [c for c in reader.connections if c.topic == CARLA_TOPICS["semantic"]]\n'
              '    for c, _, data in reader.messages(connections=gt):\n'
              '        print(ground_truth(reader.deserialize(data, c.msgtype), "carla").sum())\n')
    done = subprocess.run([sys.executable, '-c', script, str(tmp_path / 'bag')], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == '0'     # tag 1, road: taxonomy id 0 everywhere


def test_a_lost_simulator_still_leaves_a_bag_that_opens_and_the_world_restored(monkeypatch, tmp_path, capsys):
    module, world, traffic_manager = _stand_in()
    world.lost_at = 1003
    monkeypatch.setitem(sys.modules, 'carla', module)
    assert main(['carla-capture', '-o', str(tmp_path / 'drive'), '--width', '32', '--height', '24', '-q']) == 2
    assert 'time-out' in capsys.readouterr().err
    assert len(read_bag(tmp_path / 'drive')) == 2 * 4
    assert world.settings.synchronous_mode is False and traffic_manager.synchronous is False
    assert len(world.destroyed) == 3

r"""Drive in CARLA and write the cameras straight into a bag: ``seg-perception carla-capture``.

For users without carla-ros-bridge: a CARLA client spawns an ego vehicle on autopilot with an RGB camera and a
semantic segmentation camera at the same pose, size and field of view, steps the simulator in synchronous mode
and writes each tick's pair of frames into a rosbag2 bag (MCAP, standard ``sensor_msgs/Image`` and
``CameraInfo``) on the topics carla-ros-bridge would publish them on (``CARLA_TOPICS``, the ones
``launch/carla.launch.py`` wires the node to), both stamped with the tick's simulation time. ``eval-bag`` reads it:

    seg-perception eval-bag BAG --gt-topic /carla/ego_vehicle/semantic_segmentation_front/image \
        --gt-format carla --image-topic /carla/ego_vehicle/rgb_front/image --run

The camera frames are ``bgr8`` (CARLA's BGRA without the alpha); the ground truth is the raw semantic tags as
``mono8`` (``--gt-format carla`` for CARLA 0.9.14 and later, ``carla_legacy`` before; the bag's metadata says
which under ``custom_data``). :class:`CaptureBag` takes plain frames (numpy arrays, frame number, stamp) and
holds all of the bag layout; :func:`capture` is the thin part that talks to the simulator.

No rclpy and no ROS installation needed; the ``carla`` client package is imported only by :func:`capture`.
"""

import math
import os
import queue
import signal
import sys
import time
from dataclasses import dataclass
from typing import Dict, List, Optional

import numpy as np
from rosbags.rosbag2.metadata import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime

from .format import TYPESTORE, bag_writer

ROLE_NAME = 'ego_vehicle'                       # carla-ros-bridge's example ego vehicle and sensor ids
CAMERA_ID = 'rgb_front'
SEMANTIC_ID = 'semantic_segmentation_front'


def carla_topics(role_name: str = ROLE_NAME, camera_id: str = CAMERA_ID,
                 semantic_id: str = SEMANTIC_ID) -> Dict[str, str]:
    """carla-ros-bridge's topics for a camera and a semantic camera: /carla/<role>/<sensor>/image, camera_info."""
    return {'image': f'/carla/{role_name}/{camera_id}/image',
            'camera_info': f'/carla/{role_name}/{camera_id}/camera_info',
            'semantic': f'/carla/{role_name}/{semantic_id}/image',
            'semantic_info': f'/carla/{role_name}/{semantic_id}/camera_info'}


CARLA_TOPICS = carla_topics()
_INFINITE = QosTime(9223372036, 854775807)      # as ros2 bag writes an infinite duration
SENSOR_QOS = Qos(QosHistory.KEEP_LAST, 10, QosReliability.RELIABLE, QosDurability.VOLATILE, _INFINITE, _INFINITE,
                 QosLiveliness.AUTOMATIC, _INFINITE, False)     # the bridge's camera publishers (depth 10)


@dataclass(frozen=True)
class CameraSpec:
    """Both cameras: image size, horizontal field of view, and mounting on the vehicle (CARLA's x forward, z up).

    The defaults are carla-ros-bridge's example ``rgb_front`` (800 x 600, 90 degrees, 2 m ahead, 2 m up).
    """

    width: int = 800
    height: int = 600
    fov_deg: float = 90.0
    x_m: float = 2.0
    z_m: float = 2.0
    pitch_deg: float = 0.0

    def intrinsics(self):
        """(fx, fy, cx, cy) of a CARLA pinhole camera, as carla-ros-bridge computes them."""
        fx = self.width / (2.0 * math.tan(math.radians(self.fov_deg) / 2.0))
        return fx, fx, self.width / 2.0, self.height / 2.0


def tag_layout(server_version: str) -> str:
    """'carla' (tags aligned with Cityscapes, 0.9.14 and later) or 'carla_legacy' for a CARLA version string."""
    numbers = []
    for part in server_version.split('-')[0].split('.')[:3]:
        digits = ''.join(ch for ch in part if ch.isdigit())
        numbers.append(int(digits or 0))
    return 'carla' if tuple(numbers) >= (0, 9, 14) else 'carla_legacy'


class CaptureBag:
    """A bag of synchronised camera and semantic frames, in the layout ``eval-bag`` reads.

    ``write`` takes one tick's frames: both messages of a pair carry the same header stamp, and the bag's
    receive time is that stamp too (simulation time; there is no transport to measure).
    """

    def __init__(self, out: str, spec: CameraSpec = CameraSpec(), *, topics: Dict[str, str] = CARLA_TOPICS,
                 layout: str = 'carla', role_name: str = ROLE_NAME, custom_data: Optional[Dict[str, str]] = None):
        """Create the bag at ``out`` (must not exist)."""
        self.spec = spec
        self.topics = dict(topics)
        self.frames = 0
        self._last_stamp_ns = -1
        camera, semantic = (t.split('/')[-2] for t in (topics['image'], topics['semantic']))
        self._frame_ids = {'image': f'{role_name}/{camera}', 'semantic': f'{role_name}/{semantic}'}
        self._writer = bag_writer(out)
        for key, value in {'carla_gt_format': layout, **(custom_data or {})}.items():
            self._writer.set_custom_data(key, str(value))
        self._connections = {
            key: self._writer.add_connection(topic, 'sensor_msgs/msg/CameraInfo' if key.endswith('info')
                                             else 'sensor_msgs/msg/Image', typestore=TYPESTORE,
                                             offered_qos_profiles=[SENSOR_QOS])
            for key, topic in self.topics.items()}

    def write(self, frame: int, stamp_ns: int, camera_bgra: np.ndarray, tags: np.ndarray) -> None:
        """Write one tick: ``camera_bgra`` H x W x 4 (CARLA's raw BGRA) or x 3 (BGR), ``tags`` H x W uint8.

        ``tags`` H x W x 4 or x 3 instead: the semantic image in CARLA's CityScapesPalette as BGRA or BGR (what
        carla-ros-bridge publishes; ``layout='carla_palette'``), written as bgra8 or bgr8.
        """
        h, w = self.spec.height, self.spec.width
        if camera_bgra.shape[:2] != (h, w) or camera_bgra.ndim != 3 or camera_bgra.shape[2] not in (3, 4):
            raise ValueError(f'frame {frame}: camera image {camera_bgra.shape}, expected ({h}, {w}, 4) BGRA')
        if tags.shape[:2] != (h, w) or not (tags.ndim == 2 or tags.ndim == 3 and tags.shape[2] in (3, 4)):
            raise ValueError(f'frame {frame}: semantic image {tags.shape}, expected ({h}, {w}) tags or ({h}, {w}, '
                             f'4) palette BGRA: the semantic camera must have the RGB camera\'s size')
        if stamp_ns <= self._last_stamp_ns:
            raise ValueError(f'frame {frame}: stamp {stamp_ns} ns is not after the previous {self._last_stamp_ns}')
        self._last_stamp_ns = stamp_ns
        bgr = np.ascontiguousarray(camera_bgra[:, :, :3], np.uint8)
        messages = {
            'image': self._image(stamp_ns, 'image', bgr, 'bgr8'),
            'camera_info': self._camera_info(stamp_ns, 'image'),
            'semantic': self._image(stamp_ns, 'semantic', np.ascontiguousarray(tags, np.uint8),
                                    'mono8' if tags.ndim == 2 else ('bgr8', 'bgra8')[tags.shape[2] == 4]),
            'semantic_info': self._camera_info(stamp_ns, 'semantic'),
        }
        for key, msg in messages.items():
            self._writer.write(self._connections[key], stamp_ns, TYPESTORE.serialize_cdr(msg, msg.__msgtype__))
        self.frames += 1

    def _header(self, stamp_ns: int, sensor: str):
        header_type = TYPESTORE.types['std_msgs/msg/Header']
        time_type = TYPESTORE.types['builtin_interfaces/msg/Time']
        return header_type(stamp=time_type(sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000),
                           frame_id=self._frame_ids[sensor])

    def _image(self, stamp_ns: int, sensor: str, pixels: np.ndarray, encoding: str):
        channels = 1 if pixels.ndim == 2 else pixels.shape[2]
        return TYPESTORE.types['sensor_msgs/msg/Image'](
            header=self._header(stamp_ns, sensor), height=pixels.shape[0], width=pixels.shape[1],
            encoding=encoding, is_bigendian=0, step=pixels.shape[1] * channels, data=pixels.reshape(-1))

    def _camera_info(self, stamp_ns: int, sensor: str):
        fx, fy, cx, cy = self.spec.intrinsics()
        roi = TYPESTORE.types['sensor_msgs/msg/RegionOfInterest'](x_offset=0, y_offset=0, height=0, width=0,
                                                                  do_rectify=False)
        return TYPESTORE.types['sensor_msgs/msg/CameraInfo'](
            header=self._header(stamp_ns, sensor), height=self.spec.height, width=self.spec.width,
            distortion_model='plumb_bob', d=np.zeros(5), k=np.array([fx, 0, cx, 0, fy, cy, 0, 0, 1], float),
            r=np.eye(3).reshape(-1), p=np.array([fx, 0, cx, 0, 0, fy, cy, 0, 0, 0, 1, 0], float),
            binning_x=0, binning_y=0, roi=roi)

    def close(self) -> None:
        """Finish the bag and its metadata.yaml."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self):
        """Use as a context manager: closed on leaving, also on an error."""
        return self

    def __exit__(self, *exc):
        """Close the bag."""
        self.close()


def import_carla():
    """The ``carla`` client module, or an ImportError that says how to install it."""
    try:
        import carla
    except ImportError as e:
        raise ImportError('carla-capture needs the CARLA Python client: pip install carla==<the server\'s '
                          'version> (or the wheel in the simulator\'s PythonAPI/carla/dist); '
                          'pip install seg_perception[carla] installs the latest') from e
    return carla


def _take(sensor_queue: queue.Queue, frame: int, timeout_s: float):
    """The sensor's image of ``frame``, skipping older ones."""
    end = time.monotonic() + timeout_s
    while True:
        try:
            image = sensor_queue.get(timeout=max(end - time.monotonic(), 0.001))
        except queue.Empty:
            raise RuntimeError(f'no image of frame {frame} from a camera within {timeout_s} s') from None
        if image.frame == frame:
            return image
        if image.frame > frame:
            raise RuntimeError(f'sensor skipped frame {frame} (got {image.frame}); is another client ticking?')


def _bgra(image) -> np.ndarray:
    return np.frombuffer(image.raw_data, np.uint8).reshape(image.height, image.width, 4)


def capture(out: str, *, host: str = 'localhost', port: int = 2000, tm_port: int = 8000, frames: int = 0,
            fps: float = 20.0, spec: CameraSpec = CameraSpec(), town: str = '', seed: Optional[int] = None,
            role_name: str = ROLE_NAME, timeout_s: float = 10.0, quiet: bool = False) -> int:
    """Drive until ``frames`` ticks are written (0: until SIGINT/SIGTERM); restore the world and return 0.

    Synchronous mode at ``fps`` while capturing; on the way out (normal end, signal or error) the sensors stop,
    the world's previous settings and the traffic manager's asynchronous mode come back, and every actor spawned
    here is destroyed.
    """
    if os.path.exists(out):
        raise FileExistsError(f'carla-capture: output {out} exists; choose a new -o folder')
    carla = import_carla()
    client = carla.Client(host, port)
    client.set_timeout(timeout_s)
    world = client.load_world(town) if town else client.get_world()
    server_version = client.get_server_version()
    original_settings = world.get_settings()
    traffic_manager = client.get_trafficmanager(tm_port)
    actors, sensors = [], []
    rng = np.random.default_rng(seed)
    stop: List[int] = []
    # our own handlers: a KeyboardInterrupt inside the client's calls could leave the world in synchronous mode
    previous = {s: signal.signal(s, lambda signum, _: stop.append(signum)) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        settings = world.get_settings()
        settings.synchronous_mode = True
        settings.fixed_delta_seconds = 1.0 / fps
        world.apply_settings(settings)
        traffic_manager.set_synchronous_mode(True)
        if seed is not None:
            traffic_manager.set_random_device_seed(seed)
        library = world.get_blueprint_library()
        vehicles = [bp for bp in library.filter('vehicle.*') if not bp.has_attribute('number_of_wheels')
                    or int(bp.get_attribute('number_of_wheels')) == 4]     # cars, vans, trucks: no bikes
        vehicle_bp = vehicles[int(rng.integers(len(vehicles)))]
        if vehicle_bp.has_attribute('role_name'):
            vehicle_bp.set_attribute('role_name', role_name)
        spawn_points = list(world.get_map().get_spawn_points())
        vehicle = None
        for index in rng.permutation(len(spawn_points)):
            vehicle = world.try_spawn_actor(vehicle_bp, spawn_points[index])
            if vehicle is not None:
                break
        if vehicle is None:
            raise RuntimeError(f'no free spawn point for the ego vehicle among {len(spawn_points)}')
        actors.append(vehicle)
        vehicle.set_autopilot(True, traffic_manager.get_port())
        mount = carla.Transform(carla.Location(x=spec.x_m, z=spec.z_m), carla.Rotation(pitch=spec.pitch_deg))
        queues = []
        for blueprint_id, sensor_id in (('sensor.camera.rgb', CAMERA_ID),
                                        ('sensor.camera.semantic_segmentation', SEMANTIC_ID)):
            bp = library.find(blueprint_id)
            for name, value in (('image_size_x', spec.width), ('image_size_y', spec.height),
                                ('fov', spec.fov_deg), ('sensor_tick', 0.0), ('role_name', sensor_id)):
                if bp.has_attribute(name):
                    bp.set_attribute(name, str(value))
            sensor = world.spawn_actor(bp, mount, attach_to=vehicle)
            actors.append(sensor)
            sensors.append(sensor)
            queues.append(queue.Queue())
            sensor.listen(queues[-1].put)
        layout = tag_layout(server_version)
        topics = carla_topics(role_name)
        custom = {'carla_server_version': server_version, 'carla_map': world.get_map().name, 'fps': f'{fps:g}'}
        with CaptureBag(out, spec, topics=topics, layout=layout, role_name=role_name, custom_data=custom) as bag:
            while not stop and (frames <= 0 or bag.frames < frames):
                frame = world.tick()
                camera, semantic = (_take(q, frame, timeout_s) for q in queues)
                stamp_ns = int(round(camera.timestamp * 1e9))
                bag.write(frame, stamp_ns, _bgra(camera), _bgra(semantic)[:, :, 2])     # the tag: red, of BGRA
                if not quiet and bag.frames % 20 == 0:
                    print(f'{bag.frames} frames, simulation time {camera.timestamp:.1f} s', file=sys.stderr)
        print(f'wrote {bag.frames} frames into {out}\nevaluate with:\n  seg-perception eval-bag {out} --gt-topic '
              f'{topics["semantic"]} --gt-format {layout} --image-topic {topics["image"]} --run', file=sys.stderr)
    finally:
        # every step even if one fails (a lost connection): a world left in synchronous mode hangs other clients
        steps = [sensor.stop for sensor in sensors]
        steps += [lambda: world.apply_settings(original_settings),
                  lambda: traffic_manager.set_synchronous_mode(False)]
        steps += [actor.destroy for actor in reversed(actors)]     # sensors before the vehicle they ride on
        failed = []
        for step in steps:
            try:
                step()
            except RuntimeError as e:
                failed.append(e)
        for s, handler in previous.items():
            signal.signal(s, handler)
        if failed and sys.exc_info()[0] is None:
            raise RuntimeError(f'carla-capture: cleaning up failed: {failed[0]}')
    return 0

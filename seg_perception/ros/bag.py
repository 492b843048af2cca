"""Record and play rosbag2 bags without a ROS installation: ``seg-perception record`` and ``seg-perception play``.

Bags are written by the ``rosbags`` library in the rosbag2 format (metadata version 9) with MCAP storage and the
standard message definitions of ROS 2 Kilted, so they open in ``ros2 bag`` and Foxglove. Messages are recorded
as the serialized CDR bytes that arrive (no deserialization), stamped with their receive time, as
``ros2 bag record`` does.

Splitting (``--max-bag-size`` / ``--max-bag-duration``) writes ``DIR/part_000``, ``DIR/part_001``, ...: each part
is a complete bag of its own (the ``rosbags`` writer has no multi-file bags); ``play`` takes either layout.
"""

import importlib
import os
import signal
import sys
import time
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rosbags.rosbag2 import Writer
from rosbags.rosbag2.metadata import (Qos, QosDurability, QosHistory, QosLiveliness, QosReliability,
                                      QosTime)

from ..bags.format import TYPESTORE, bag_writer, is_bag, open_bag
from ..bags.messages import IMAGE_TYPES

RECORD_DEPTH = 100      # deep enough that a burst of camera frames is not dropped while a file is written
PLAYED_TYPES = (*IMAGE_TYPES, 'sensor_msgs/msg/CameraInfo')
DEFAULT_CAMERA_TOPIC = '/image'     # seg_node's input in the root namespace


def absolute(topic: str) -> str:
    """``topic`` with a leading slash, the form rosbag2 stores."""
    return topic if topic.startswith('/') else '/' + topic


def _qos_time(duration) -> QosTime:
    # an infinite duration stays 9223372036 s 854775807 ns, as ros2 bag writes it
    return QosTime(*divmod(max(int(duration.nanoseconds), 0), 1_000_000_000))


def offered_qos(endpoint_qos: QoSProfile) -> Qos:
    """A publisher's QoS (from graph discovery) as rosbag2 metadata stores it (the enums share their values)."""
    return Qos(QosHistory(int(endpoint_qos.history)), int(endpoint_qos.depth),
               QosReliability(int(endpoint_qos.reliability)), QosDurability(int(endpoint_qos.durability)),
               _qos_time(endpoint_qos.deadline), _qos_time(endpoint_qos.lifespan),
               QosLiveliness(int(endpoint_qos.liveliness)), _qos_time(endpoint_qos.liveliness_lease_duration),
               bool(endpoint_qos.avoid_ros_namespace_conventions))


def matching_qos(publisher_qos: Sequence[QoSProfile]) -> QoSProfile:
    """The subscription QoS that hears every publisher: reliable and transient-local only if all of them are."""
    reliable = all(q.reliability == ReliabilityPolicy.RELIABLE for q in publisher_qos)
    latched = all(q.durability == DurabilityPolicy.TRANSIENT_LOCAL for q in publisher_qos)
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=RECORD_DEPTH,
                      reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE)


class BagRecorder(Node):
    """Subscribes to the listed topics once their publishers appear and writes what arrives into an MCAP bag.

    Callbacks write straight into the bag: the recorder is spun by one thread, so ``close`` after the last spin
    leaves every received message in a bag that opens.
    """

    def __init__(self, out: str, topics: Sequence[str], *, max_bag_size_mb: float = 0.0,
                 max_bag_duration_s: float = 0.0, context=None):
        """Open the bag at ``out`` (must not exist); a split limit of 0 means no split."""
        super().__init__('seg_perception_recorder', context=context)
        if os.path.exists(out):
            raise FileExistsError(f'record: output {out} exists; choose a new -o folder (rosbag2 bags are not '
                                  f'appended to)')
        self.out = out
        self.topics = [absolute(t) for t in topics]
        self.max_bytes = int(max_bag_size_mb * 1e6)
        self.max_duration_ns = int(max_bag_duration_s * 1e9)
        self.split = bool(self.max_bytes or self.max_duration_ns)
        self.types: Dict[str, str] = {}
        self.qos: Dict[str, List[Qos]] = {}
        self.counts: Dict[str, int] = {t: 0 for t in self.topics}
        self.total_bytes = 0
        self.paths: List[str] = []
        self._recorded = []
        self._writer: Optional[Writer] = None
        self._connections = {}
        self._part_bytes = 0
        self._part_start_ns = 0
        if self.split:
            os.makedirs(out)
        self._open_part()
        self._discover()
        self._discovery_timer = self.create_timer(0.2, self._discover)

    def _open_part(self) -> None:
        path = os.path.join(self.out, f'part_{len(self.paths):03d}') if self.split else self.out
        self._writer = bag_writer(path)
        self.paths.append(path)
        self._connections = {topic: self._add_connection(topic) for topic, msgtype in self.types.items() if msgtype}
        self._part_bytes = 0
        self._part_start_ns = 0

    def _add_connection(self, topic: str):
        return self._writer.add_connection(topic, self.types[topic], typestore=TYPESTORE,
                                           offered_qos_profiles=self.qos[topic])

    def _discover(self) -> None:
        for topic in self.topics:
            if topic in self.types:
                continue
            publishers = self.get_publishers_info_by_topic(topic)
            if not publishers:
                continue
            msgtype = publishers[0].topic_type
            if msgtype not in TYPESTORE.fielddefs:
                self.get_logger().error(f'record: {topic} has type {msgtype}, which has no standard definition in '
                                        f'the ROS 2 Kilted type store; not recorded')
                self.types[topic] = ''
                continue
            msg_class = _message_class(msgtype)
            self.types[topic] = msgtype
            self.qos[topic] = [offered_qos(p.qos_profile) for p in publishers]
            self._connections[topic] = self._add_connection(topic)
            self._recorded.append(self.create_subscription(
                msg_class, topic, lambda data, t=topic: self._write(t, data),
                matching_qos([p.qos_profile for p in publishers]), raw=True))
            self.get_logger().info(f'recording {topic} ({msgtype})')

    def _write(self, topic: str, data: bytes) -> None:
        now_ns = self.get_clock().now().nanoseconds
        if self.split and self._part_bytes and (
                (self.max_bytes and self._part_bytes + len(data) > self.max_bytes)
                or (self.max_duration_ns and now_ns - self._part_start_ns >= self.max_duration_ns)):
            self._writer.close()
            self._open_part()
        if not self._part_bytes:
            self._part_start_ns = now_ns
        self._writer.write(self._connections[topic], now_ns, data)
        self._part_bytes += len(data)
        self.total_bytes += len(data)
        self.counts[topic] += 1

    def progress(self, elapsed_s: float) -> str:
        """One line: messages, MB and mean rate per topic."""
        per_topic = ', '.join(f'{t} {n} ({n / max(elapsed_s, 1e-9):.1f} Hz)' for t, n in self.counts.items())
        return (f'{sum(self.counts.values())} msgs, {self.total_bytes / 1e6:.1f} MB, {elapsed_s:.0f} s: '
                f'{per_topic}')

    def close(self) -> None:
        """Finish the current bag file and its metadata.yaml."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def record(out: str, topics: Sequence[str], *, max_bag_size_mb: float = 0.0, max_bag_duration_s: float = 0.0,
           quiet: bool = False, args=None) -> int:
    """Record ``topics`` into ``out`` until SIGINT or SIGTERM; then close the bag and return 0."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.signals import SignalHandlerOptions

    stop = []
    # our own handlers: rclpy's would shut the context down before the bag is closed
    previous = {s: signal.signal(s, lambda signum, frame: stop.append(signum))
                for s in (signal.SIGINT, signal.SIGTERM)}
    context = rclpy.Context()
    rclpy.init(args=args or [], context=context, signal_handler_options=SignalHandlerOptions.NO)
    try:
        recorder = BagRecorder(out, topics, max_bag_size_mb=max_bag_size_mb,
                               max_bag_duration_s=max_bag_duration_s, context=context)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(recorder)
        start = last = time.monotonic()
        tty = sys.stderr.isatty()
        try:
            while not stop:
                executor.spin_once(timeout_sec=0.1)
                if not quiet and time.monotonic() - last >= 1.0:
                    last = time.monotonic()
                    print(('\r' if tty else '') + recorder.progress(last - start), end='' if tty else '\n',
                          file=sys.stderr, flush=True)
            drain_until = time.monotonic() + 0.1   # take what the middleware already holds for us
            while time.monotonic() < drain_until:
                executor.spin_once(timeout_sec=0.02)
        finally:
            recorder.close()
        print(('\n' if tty and not quiet else '') + f'recorded {recorder.progress(time.monotonic() - start)} '
              f'into {", ".join(recorder.paths)}', file=sys.stderr)
        executor.shutdown(timeout_sec=1.0)
        recorder.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 0


def parse_remaps(remaps: Sequence[str]) -> Dict[str, str]:
    """``FROM:=TO`` strings as {absolute FROM: absolute TO}."""
    table = {}
    for item in remaps:
        source, sep, target = item.partition(':=')
        if not sep or not source or not target:
            raise ValueError(f'--remap {item!r}: expected FROM:=TO, e.g. /camera/image_raw:=/image')
        table[absolute(source)] = absolute(target)
    return table


def bag_topics(path: str) -> Dict[str, str]:
    """{topic: msgtype} of the image and camera_info topics a bag holds (what ``play`` publishes)."""
    with open_bag(path) as reader:
        topics = {c.topic: c.msgtype for c in reader.connections if c.msgtype in PLAYED_TYPES}
        if not topics:
            found = sorted({f'{c.topic} ({c.msgtype})' for c in reader.connections})
            raise ValueError(f'{path} has no image topics to play ({", ".join(PLAYED_TYPES)}); it holds: '
                             f'{", ".join(found) or "nothing"}')
    return topics


def bag_messages(path: str) -> Iterator[Tuple[str, str, int, bytes]]:
    """(topic, msgtype, receive time ns, CDR bytes) of a bag's image and camera_info messages, in time order."""
    with open_bag(path) as reader:
        connections = [c for c in reader.connections if c.msgtype in PLAYED_TYPES]
        for connection, timestamp, data in reader.messages(connections=connections):
            yield connection.topic, connection.msgtype, timestamp, bytes(data)


def _message_class(msgtype: str):
    module, _, name = msgtype.rpartition('/')
    return getattr(importlib.import_module(module.replace('/', '.')), name)


def frame_messages(source: str, topic: str, fps: float) -> Iterator[Tuple[str, str, int, object]]:
    """A video file or a folder of images as (topic, 'sensor_msgs/msg/Image', time ns, rgb8 Image) at ``fps``."""
    from std_msgs.msg import Header

    from ..image_files import read_frames
    from .conversions import array_to_image

    for index, (_, rgb) in enumerate(read_frames(source)):
        yield topic, 'sensor_msgs/msg/Image', int(index * 1e9 / fps), array_to_image(rgb, Header(frame_id='camera'))


def play(source: str, *, remaps: Sequence[str] = (), rate: float = 1.0, loop: bool = False, delay_s: float = 3.0,
         camera_topic: str = DEFAULT_CAMERA_TOPIC, fps: float = 10.0, args=None) -> int:
    """Publish a bag's image topics (or a video / folder of images on ``camera_topic``) with their timing / rate."""
    import rclpy
    from rclpy.executors import ExternalShutdownException

    if rate <= 0 or fps <= 0:
        raise ValueError(f'play: --rate and --fps must be > 0, got {rate} and {fps}')
    table = parse_remaps(remaps)
    if is_bag(source):
        topics = bag_topics(source)
        messages = lambda: bag_messages(source)  # noqa: E731
    else:
        topics = {absolute(camera_topic): 'sensor_msgs/msg/Image'}
        messages = lambda: frame_messages(source, absolute(camera_topic), fps)  # noqa: E731
    try:
        rclpy.init(args=args or [])     # not `with rclpy.init()`: that exists from Kilted on, not on Jazzy
        try:
            node = Node('seg_perception_player')
            publishers = {topic: node.create_publisher(_message_class(msgtype), table.get(topic, topic), 10)
                          for topic, msgtype in topics.items()}
            played = 0
            try:
                # give subscribers time to discover the new publishers (DDS discovery takes a second or two)
                end = time.monotonic() + delay_s
                while time.monotonic() < end and not all(p.get_subscription_count() for p in publishers.values()):
                    time.sleep(0.05)
                time.sleep(min(0.2, delay_s))
                first = True
                while first or loop:
                    first = False
                    start_ns = None
                    for topic, _, stamp_ns, data in messages():
                        if start_ns is None:
                            start_ns, wall_start = stamp_ns, time.monotonic()
                        wait_s = wall_start + (stamp_ns - start_ns) / 1e9 / rate - time.monotonic()
                        if wait_s > 0:
                            time.sleep(wait_s)
                        if not isinstance(data, bytes):
                            data.header.stamp = node.get_clock().now().to_msg()
                        publishers[topic].publish(data)
                        played += 1
                time.sleep(0.2)     # let the last messages leave before the publishers go
            finally:
                targets = sorted(p.topic_name for p in publishers.values())
                print(f'played {played} messages on {", ".join(targets)}', file=sys.stderr)
                node.destroy_node()
        finally:
            rclpy.try_shutdown()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    return 0

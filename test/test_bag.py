"""Bag recording and playback over real DDS: what a publisher sends is in the bag, and a bag plays back in time.

Each module picks its own ROS domain so that parallel test runs do not hear each other; the recorder and player
also run as processes (``seg-perception record`` / ``play``) on that domain.
"""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.serialization import serialize_message
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import StoragePlugin, Writer
from sensor_msgs.msg import CompressedImage, Image

from seg_perception.bags.format import TYPESTORE, bag_paths
from seg_perception.ros.bag import BagRecorder, parse_remaps

pytestmark = pytest.mark.ros

DOMAIN_ID = random.randint(50, 200)


def stop(executor, recorder, sender):
    """Take the recorder and the sender off the executor, close the recorder's bag, destroy both nodes."""
    executor.remove_node(recorder)
    executor.remove_node(sender)
    recorder.close()
    recorder.destroy_node()
    sender.destroy_node()


def wait_until(predicate, timeout_s):
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def image(index, width=8, height=4):
    """A small mono8 frame whose stamp and first pixel carry ``index``."""
    msg = Image(height=height, width=width, encoding='mono8', step=width)
    msg.header.stamp.sec = 100 + index
    msg.header.frame_id = 'camera_front'
    msg.data = bytes([index % 256]) + bytes(width * height - 1)
    return msg


def read_bag(path):
    """[(topic, receive time ns, message)] of every message in the bag (or split bags) at ``path``."""
    with AnyReader([Path(p) for p in bag_paths(str(path))], default_typestore=TYPESTORE) as reader:
        return [(c.topic, t, reader.deserialize(data, c.msgtype)) for c, t, data in reader.messages()]


def process_env():
    return dict(os.environ, ROS_DOMAIN_ID=str(DOMAIN_ID), PYTHONUNBUFFERED='1')


def test_recorded_messages_are_read_back_in_order_with_standard_metadata(ros, tmp_path):
    context, executor = ros
    sender = Node('bag_sender', context=context)
    publisher = sender.create_publisher(Image, '/record_me', QoSProfile(depth=10,
                                        reliability=ReliabilityPolicy.BEST_EFFORT))
    recorder = BagRecorder(str(tmp_path / 'bag'), ['record_me'], context=context)
    executor.add_node(sender)
    executor.add_node(recorder)
    try:
        assert wait_until(lambda: publisher.get_subscription_count() > 0, 10.0), 'recorder never subscribed'
        for i in range(5):
            publisher.publish(image(i))
            time.sleep(0.02)
        assert wait_until(lambda: recorder.counts['/record_me'] == 5, 5.0), recorder.counts
    finally:
        stop(executor, recorder, sender)
    messages = read_bag(tmp_path / 'bag')
    assert [m.header.stamp.sec for _, _, m in messages] == [100, 101, 102, 103, 104]
    assert [m.data[0] for _, _, m in messages] == [0, 1, 2, 3, 4]
    assert {topic for topic, _, _ in messages} == {'/record_me'}
    assert [t for _, t, _ in messages] == sorted(t for _, t, _ in messages)
    metadata = (tmp_path / 'bag' / 'metadata.yaml').read_text()
    assert 'storage_identifier: mcap' in metadata and 'sensor_msgs/msg/Image' in metadata
    assert 'reliability: best_effort' in metadata     # the publisher's best-effort QoS, as offered
    assert list((tmp_path / 'bag').glob('*.mcap'))


def test_recording_splits_into_complete_bags_by_size(ros, tmp_path):
    context, executor = ros
    sender = Node('bag_split_sender', context=context)
    publisher = sender.create_publisher(Image, '/split_me', 10)
    recorder = BagRecorder(str(tmp_path / 'split'), ['/split_me'], max_bag_size_mb=0.0005, context=context)
    executor.add_node(sender)
    executor.add_node(recorder)
    try:
        assert wait_until(lambda: publisher.get_subscription_count() > 0, 10.0)
        for i in range(6):
            publisher.publish(image(i, width=16, height=16))    # ~330 bytes serialized: two per 500-byte part
            time.sleep(0.02)
        assert wait_until(lambda: recorder.counts['/split_me'] == 6, 5.0), recorder.counts
    finally:
        stop(executor, recorder, sender)
    assert len(bag_paths(str(tmp_path / 'split'))) >= 3
    assert [m.data[0] for _, _, m in read_bag(tmp_path / 'split')] == list(range(6))


@pytest.mark.parametrize('signum', [signal.SIGINT, signal.SIGTERM], ids=['SIGINT', 'SIGTERM'])
def test_signal_leaves_a_bag_that_opens_with_every_message_received(ros, tmp_path, signum):
    context, executor = ros
    topic = f'/signal_{int(signum)}'
    sender = Node(f'bag_signal_sender_{int(signum)}', context=context)
    publisher = sender.create_publisher(Image, topic, 10)
    executor.add_node(sender)
    out = tmp_path / 'bag'
    process = subprocess.Popen([sys.executable, '-m', 'seg_perception.cli', 'record', '-o', str(out), topic],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=process_env())
    try:
        assert wait_until(lambda: publisher.get_subscription_count() > 0, 30.0), 'recorder never subscribed'
        for i in range(20):
            publisher.publish(image(i))
            time.sleep(0.01)
        time.sleep(1.0)
        process.send_signal(signum)
        output, _ = process.communicate(timeout=10)
    finally:
        process.kill()
        executor.remove_node(sender)
        sender.destroy_node()
    assert process.returncode == 0, output
    assert 'Traceback' not in output
    assert 'recorded 20 msgs' in output and f'{topic} 20 (' in output     # the closing progress line
    assert [m.data[0] for _, _, m in read_bag(out)] == list(range(20))


def write_bag(path, frames):
    """A bag of (topic, receive time ns, message) written the way the recorder writes them."""
    writer = Writer(path, version=9, storage_plugin=StoragePlugin.MCAP)
    writer.open()
    connections = {}
    for topic, stamp_ns, msg in frames:
        if topic not in connections:
            msgtype = 'sensor_msgs/msg/' + type(msg).__name__
            connections[topic] = writer.add_connection(topic, msgtype, typestore=TYPESTORE)
        writer.write(connections[topic], stamp_ns, serialize_message(msg))
    writer.close()


class Listener:
    """Keeps (receive time, message) of whatever arrives on some topics."""

    def __init__(self, ros, topics):
        context, self.executor = ros
        self.node = Node(f'bag_listener_{random.randint(0, 1 << 30)}', context=context)
        self.received = []
        for topic, msg_class in topics.items():
            self.node.create_subscription(msg_class, topic, lambda msg, t=topic: self.received.append(
                (t, time.monotonic(), msg)), 10)
        self.executor.add_node(self.node)

    def close(self):
        self.executor.remove_node(self.node)
        self.node.destroy_node()


def test_play_publishes_raw_and_compressed_images_in_order_paced_by_the_scaled_rate(ros, tmp_path):
    compressed = CompressedImage(format='jpeg', data=bytes(cv2.imencode('.jpg', np.zeros((4, 8, 3), np.uint8))[1]))
    frames = []
    for i in range(5):
        frames.append(('/camera/image_raw', 1_000_000_000 + i * 200_000_000, image(i)))
        compressed.header.stamp.sec = 100 + i
        frames.append(('/camera/image_raw/compressed', 1_000_000_000 + i * 200_000_000 + 1000, compressed))
    write_bag(tmp_path / 'bag', frames)
    listener = Listener(ros, {'/image': Image, '/camera/image_raw/compressed': CompressedImage})
    try:
        result = subprocess.run([sys.executable, '-m', 'seg_perception.cli', 'play', str(tmp_path / 'bag'),
                                 '--remap', '/camera/image_raw:=/image', '--rate', '2', '--delay', '20'],
                                capture_output=True, text=True, env=process_env(), timeout=60)
        assert result.returncode == 0, result.stderr
        assert wait_until(lambda: len(listener.received) == 10, 5.0), (len(listener.received), result.stderr)
    finally:
        listener.close()
    raw = [(t, m) for topic, t, m in listener.received if topic == '/image']
    assert [m.header.stamp.sec for _, m in raw] == [100, 101, 102, 103, 104]
    assert [m.data[0] for _, m in raw] == [0, 1, 2, 3, 4]
    assert len([1 for topic, _, _ in listener.received if topic == '/camera/image_raw/compressed']) == 5
    span_s = raw[-1][0] - raw[0][0]
    print(f'\n5 frames 0.2 s apart at rate 2: received over {span_s:.3f} s (expected 0.4 s)')
    # paced, not sent at once; a busy machine only stretches the span, so no upper bound is asserted
    assert span_s > 0.2


def test_play_publishes_a_folder_of_images_as_a_camera(ros, tmp_path):
    for i in range(3):
        cv2.imwrite(str(tmp_path / f'frame_{i}.png'), np.full((6, 10, 3), 10 * i, np.uint8))
    listener = Listener(ros, {'/folder_camera': Image})
    try:
        result = subprocess.run([sys.executable, '-m', 'seg_perception.cli', 'play', str(tmp_path),
                                 '--topic', 'folder_camera', '--fps', '20', '--delay', '20'],
                                capture_output=True, text=True, env=process_env(), timeout=60)
        assert result.returncode == 0, result.stderr
        assert wait_until(lambda: len(listener.received) == 3, 5.0), result.stderr
    finally:
        listener.close()
    msgs = [m for _, _, m in listener.received]
    assert [(m.width, m.height, m.encoding) for m in msgs] == [(10, 6, 'rgb8')] * 3
    assert [m.data[0] for m in msgs] == [0, 10, 20]


def test_remaps_must_name_both_topics():
    assert parse_remaps(['camera/image_raw:=/image']) == {'/camera/image_raw': '/image'}
    with pytest.raises(ValueError, match='FROM:=TO'):
        parse_remaps(['/camera/image_raw'])

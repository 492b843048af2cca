"""seg_node over real DDS: a probe node publishes camera frames and keeps what the node publishes.

The node runs in-process on a background executor (and, for start-up failures and signals, as its own
process), on a ROS domain of its own so that parallel test runs do not hear each other.
"""

import array
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rcl_interfaces.msg import Log
from rclpy.exceptions import ParameterException
from rclpy.node import Node
from rclpy.parameter_client import AsyncParameterClient
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2
from std_msgs.msg import Header
from std_srvs.srv import Trigger

from seg_perception.ros.conversions import cloud_to_freespace
from seg_perception.bags.messages import stamp_ns
from seg_perception.status_keys import parse_alarm_stamps
from seg_perception.ros.fuzz import compressed, image, jpeg_claiming, png_claiming
from seg_perception.ros.parameters import MAX_INPUT_PIXELS, parameter_declarations
from seg_perception.ros.seg_node import (AMBIGUOUS_TOPIC, CAMERA_INFO_TOPIC, COLOR_TOPIC, COMPRESSED_TOPIC,
                                         CONFIDENCE_TOPIC, DIAGNOSTICS_TOPIC, DRIVABLE_TOPIC, FREESPACE_TOPIC,
                                         IMAGE_TOPIC, LABELS_TOPIC, SegNode)
from seg_perception import crf
from seg_perception.model_files import ModelFiles, default_model, sha256_file
from seg_perception import backends
from seg_perception.safety_config import SafetyConfig
from seg_perception.segmenter import Segmentation, Segmenter
from seg_perception.taxonomy import CAMVID_CLASSES, TAXONOMY_CLASSES, class_palette, taxonomy_lut

from conftest import NO_STRETCH

pytestmark = pytest.mark.ros

DOMAIN_ID = random.randint(50, 200)
OUTPUTS = {'labels': LABELS_TOPIC, 'color': COLOR_TOPIC, 'confidence': CONFIDENCE_TOPIC, 'drivable': DRIVABLE_TOPIC,
           'ambiguous': AMBIGUOUS_TOPIC, 'freespace': FREESPACE_TOPIC}


class Probe:
    """A camera and a viewer for one seg_node: publishes frames to it and keeps what it publishes."""

    def __init__(self, context, executor, namespace='', reliability=ReliabilityPolicy.RELIABLE, outputs=OUTPUTS):
        self.node = Node('probe', namespace=namespace, context=context)
        camera_qos = QoSProfile(depth=1, reliability=reliability)
        self.image_pub = self.node.create_publisher(Image, IMAGE_TOPIC, camera_qos)
        self.compressed_pub = self.node.create_publisher(CompressedImage, COMPRESSED_TOPIC, camera_qos)
        self.answers = {kind: [] for kind in OUTPUTS}       # ``outputs``: the kinds subscribed to
        self.statuses = []
        self.camera_info_pub = self.node.create_publisher(CameraInfo, CAMERA_INFO_TOPIC, 10)
        self.subscriptions = {}
        for kind, topic in outputs.items():
            msg_type = PointCloud2 if topic == FREESPACE_TOPIC else Image
            self.subscriptions[kind] = self.node.create_subscription(msg_type, topic, self.answers[kind].append, 100)
        self.node.create_subscription(DiagnosticArray, DIAGNOSTICS_TOPIC, self._keep_status, 100)
        self.status_name = f'{namespace.strip("/")}/seg_node: segmentation'.lstrip('/')
        self._last_ns = 0
        executor.add_node(self.node)

    def _keep_status(self, msg):
        self.statuses += [s for s in msg.status if s.name == self.status_name]

    def header(self, frame_id='camera_front'):
        """A header stamped now, never twice with the same stamp."""
        self._last_ns = max(time.time_ns(), self._last_ns + 1)
        header = Header(frame_id=frame_id)
        header.stamp.sec, header.stamp.nanosec = divmod(self._last_ns, 10 ** 9)
        return header

    def send(self, msg):
        """Publish an Image or CompressedImage; returns its header."""
        (self.compressed_pub if isinstance(msg, CompressedImage) else self.image_pub).publish(msg)
        return msg.header

    def answer(self, header, kind='labels'):
        """The output of ``kind`` stamped like ``header``, or None."""
        return next((m for m in self.answers[kind] if m.header.stamp == header.stamp), None)

    def wait_for_answer(self, header, kinds=('labels',), timeout_s=5.0):
        """Wait (bounded) until every output of ``kinds`` for ``header`` arrived; returns them."""
        assert wait_until(lambda: all(self.answer(header, k) for k in kinds), timeout_s), \
            f'no {"/".join(kinds)} answer for the frame stamped {header.stamp} within {timeout_s} s'
        return [self.answer(header, k) for k in kinds]

    def wait_for_status(self, predicate, timeout_s=5.0, since=None):
        """The first diagnostics status (as level, message, values) arriving from now on that satisfies it.

        ``since``: a ``len(statuses)`` taken earlier, to look at the statuses that arrived after that too.
        """
        start = len(self.statuses) if since is None else since
        found = []

        def check():
            for status in self.statuses[start:]:
                values = {kv.key: kv.value for kv in status.values}
                if predicate(status.level, values):
                    found.append((status.level, status.message, values))
                    return True
            return False
        assert wait_until(check, timeout_s), f'no such diagnostics status within {timeout_s} s; last: ' \
                                             f'{self.statuses[-1] if self.statuses else None}'
        return found[0]

    def counts(self):
        """Frame counts from the next diagnostics status."""
        _, _, values = self.wait_for_status(lambda level, values: True)
        return {k[len('frames '):]: int(v) for k, v in values.items() if k.startswith('frames ')}


def wait_until(predicate, timeout_s):
    """Poll ``predicate`` while the background executor spins; False if it did not hold within the time."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def rgb_image(rgb, header, encoding='rgb8'):
    """An Image of an RGB array in ``encoding``."""
    pixels = {'rgb8': rgb, 'bgr8': rgb[..., ::-1], 'mono8': rgb[..., 0],
              'rgba8': np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]),
              'bgra8': np.dstack([rgb[..., ::-1], np.full(rgb.shape[:2], 255, np.uint8)])}[encoding]
    pixels = np.ascontiguousarray(pixels)
    msg = Image(header=header, height=rgb.shape[0], width=rgb.shape[1], encoding=encoding,
                step=pixels.strides[0])
    msg.data = array.array('B', pixels.tobytes())
    return msg


def compressed_image(rgb, header, kind):
    """A CompressedImage of an RGB array as image_transport would publish it."""
    ok, payload = cv2.imencode('.' + kind, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    msg = CompressedImage(header=header, format=f'rgb8; {kind} compressed bgr8')
    msg.data = array.array('B', payload.tobytes())
    return msg


def start_node(ros, tiny_model, namespace='', **parameters):
    """A SegNode with the tiny model on the background executor.

    Backend onnxruntime unless ``parameters`` name one: the tests compare the node's labels with a Segmenter's on
    onnxruntime pixel for pixel (the node's default, auto, takes openvino where it is installed: 99.9% equal).
    """
    context, executor = ros
    overrides = [Parameter(name, value=value) for name, value in
                 {'model': tiny_model, 'diagnostics_period_s': 0.2, 'label_ids': 'model', 'backend': 'onnxruntime',
                  **parameters}.items()]
    node = SegNode(context=context, namespace=namespace, parameter_overrides=overrides)
    executor.add_node(node)
    return node


def stop_nodes(ros, *nodes):
    """Take ``nodes`` off the background executor and destroy them."""
    for node in nodes:
        ros[1].remove_node(node)
        node.destroy_node()


@pytest.fixture(scope='module')
def seg_node(ros, tiny_model):
    """The node under test, reliable subscriptions (so that the probe's frames are never lost)."""
    node = start_node(ros, tiny_model, reliability='reliable')
    yield node
    stop_nodes(ros, node)


@pytest.fixture(scope='module')
def probe(ros, seg_node):
    """A probe that the node has answered once on every output (so discovery is complete)."""
    probe = Probe(*ros)
    assert wait_until(lambda: probe.image_pub.get_subscription_count() and
                      probe.compressed_pub.get_subscription_count(), 15.0), 'seg_node never subscribed'
    grey = np.full((120, 160, 3), 100, np.uint8)

    def answered_all():
        header = probe.send(rgb_image(grey, probe.header()))
        return wait_until(lambda: all(probe.answer(header, k) for k in OUTPUTS), 0.5)
    assert wait_until(answered_all, 15.0), 'seg_node never answered on all of its outputs'
    yield probe
    stop_nodes(ros, probe.node)


@pytest.fixture(scope='module')
def reference(tiny_model):
    """The segmenter the node wraps, run directly."""
    return Segmenter.from_model(tiny_model)


# --- outputs -------------------------------------------------------------------------------------------

def test_outputs_have_the_input_resolution_encoding_and_header(probe, rgb_frame, reference):
    header = probe.send(rgb_image(rgb_frame, probe.header('camera_front_left')))
    labels, color, drivable = probe.wait_for_answer(header, ('labels', 'color', 'drivable'))
    for msg, encoding, channels in ((labels, 'mono8', 1), (color, 'rgb8', 3), (drivable, 'mono8', 1)):
        assert (msg.encoding, msg.width, msg.height, msg.step) == (encoding, 160, 120, 160 * channels)
        assert msg.header == header
    expected = reference.segment(rgb_frame)
    np.testing.assert_array_equal(np.frombuffer(labels.data, np.uint8).reshape(120, 160), expected.labels)
    np.testing.assert_array_equal(np.frombuffer(drivable.data, np.uint8).reshape(120, 160), expected.drivable)
    np.testing.assert_array_equal(np.frombuffer(color.data, np.uint8).reshape(120, 160, 3),
                                  expected.overlay(rgb_frame, 0.5))


@pytest.mark.parametrize('encoding', ['rgb8', 'bgr8', 'rgba8', 'bgra8', 'mono8', 'jpeg', 'png'])
def test_every_supported_input_encoding_is_answered(probe, rgb_frame, reference, encoding):
    if encoding in ('jpeg', 'png'):
        header = probe.send(compressed_image(rgb_frame, probe.header(), encoding))
    else:
        header = probe.send(rgb_image(rgb_frame, probe.header(), encoding))
    labels, = probe.wait_for_answer(header)
    assert (labels.width, labels.height) == (160, 120)
    if encoding != 'jpeg':      # lossless: the same labels as segmenting the RGB the message encodes
        rgb = np.dstack([rgb_frame[..., 0]] * 3) if encoding == 'mono8' else rgb_frame
        np.testing.assert_array_equal(np.frombuffer(labels.data, np.uint8).reshape(120, 160),
                                      reference.segment(rgb).labels)


def test_color_is_not_published_when_disabled(probe, seg_node, rgb_frame):
    seg_node.set_parameters([Parameter('publish_color', value=False)])
    try:
        header = probe.send(rgb_image(rgb_frame, probe.header()))
        probe.wait_for_answer(header, ('labels', 'drivable'))
        time.sleep(0.1)
        assert probe.answer(header, 'color') is None
    finally:
        seg_node.set_parameters([Parameter('publish_color', value=True)])


def test_confidence_is_computed_and_published_only_while_subscribed(ros, tiny_model, rgb_frame, monkeypatch):
    node = start_node(ros, tiny_model, namespace='/confidence', reliability='reliable')
    probe = Probe(*ros, namespace='/confidence', outputs={k: t for k, t in OUTPUTS.items() if k != 'confidence'})
    topic = f'/confidence/{CONFIDENCE_TOPIC}'
    publisher = next(p for p in node.publishers if p.topic_name == topic)
    computed = []
    confidence = Segmentation.confidence

    def recording_confidence(result):
        computed.append(result.labels.shape)
        return confidence(result)
    monkeypatch.setattr(Segmentation, 'confidence', recording_confidence)

    def segment_one():      # send a frame and wait until the node is done with it (counted after publishing)
        processed = probe.counts()['processed']
        header = probe.send(rgb_image(rgb_frame, probe.header()))
        probe.wait_for_status(lambda level, values: int(values['frames processed']) > processed)
        return header
    try:
        assert wait_until(lambda: probe.image_pub.get_subscription_count(), 15.0), 'seg_node never subscribed'
        assert probe.answer(segment_one(), 'labels') and publisher.get_subscription_count() == 0
        assert computed == []                           # no subscriber: not even computed
        subscription = probe.node.create_subscription(Image, CONFIDENCE_TOPIC, probe.answers['confidence'].append,
                                                      10)
        assert wait_until(lambda: publisher.get_subscription_count() == 1, 10.0)
        header = segment_one()
        answer, = probe.wait_for_answer(header, ('confidence',))
        assert answer.header == header and computed == [(120, 160)]
        probe.node.destroy_subscription(subscription)
        assert wait_until(lambda: publisher.get_subscription_count() == 0, 10.0)
        segment_one()
        assert computed == [(120, 160)]                 # the subscriber left: computing stops
    finally:
        stop_nodes(ros, node, probe.node)


def test_same_frame_on_both_transports_is_segmented_once(probe, rgb_frame):
    before = probe.counts()
    header = probe.send(rgb_image(rgb_frame, probe.header()))
    probe.send(compressed_image(rgb_frame, header, 'png'))
    probe.wait_for_answer(header)
    after = probe.wait_for_status(lambda level, values: int(values['frames duplicate']) > before['duplicate'])
    time.sleep(0.1)
    assert len([m for m in probe.answers['labels'] if m.header.stamp == header.stamp]) == 1
    assert after[2]['frames duplicate'] == str(before['duplicate'] + 1)


# --- bad input -----------------------------------------------------------------------------------------

def edited(msg, **fields):
    """``msg`` with some fields replaced."""
    for name, value in fields.items():
        setattr(msg, name, value)
    return msg


def truncated(msg, size):
    """``msg`` with only the first ``size`` bytes of its data."""
    return edited(msg, data=msg.data[:size])


# kind -> (bad message from (rgb, header), words that the node's last error must contain)
BAD_INPUTS = {
    'unknown encoding': (lambda rgb, h: edited(rgb_image(rgb, h), encoding='yuv422'),
                         "unsupported encoding 'yuv422'; supported: rgb8"),
    'step too small': (lambda rgb, h: edited(rgb_image(rgb, h), step=100), 'step 100 < width*3 = 480'),
    'size not step*height': (lambda rgb, h: truncated(rgb_image(rgb, h), 1000),
                             'data has 1000 bytes, expected step*height = 57600'),
    'zero size': (lambda rgb, h: edited(rgb_image(rgb, h), width=0, height=0, step=0, data=array.array('B')),
                  'width and height must be positive'),
    'corrupt jpeg': (lambda rgb, h: edited(compressed_image(rgb, h, 'jpeg'),
                                           data=array.array('B', bytes(range(256)) * 8 + b'\xff\xd9')),
                     'cannot decode jpeg payload of 2050 bytes'),
    'truncated jpeg': (lambda rgb, h: truncated(compressed_image(rgb, h, 'jpeg'), 500),
                       'cannot decode jpeg payload of 500 bytes'),
    'unsupported format': (lambda rgb, h: edited(compressed_image(rgb, h, 'jpeg'), format='tiff'),
                           "unsupported format 'tiff'"),
    'one row': (lambda rgb, h: rgb_image(rgb[:1], h), 'image too small to segment: 160 x 1'),
}


@pytest.mark.parametrize('kind', list(BAD_INPUTS))
def test_bad_input_is_rejected_and_the_next_good_frame_answered(probe, rgb_frame, kind):
    make_bad, words = BAD_INPUTS[kind]
    before = probe.counts()
    bad = probe.send(make_bad(rgb_frame, probe.header()))
    level, message, values = probe.wait_for_status(
        lambda level, values: int(values['frames rejected']) > before['rejected'])
    assert values['frames rejected'] == str(before['rejected'] + 1)
    assert words in values['last error'] and values['last error'].startswith('/image')
    assert level in (DiagnosticStatus.WARN, DiagnosticStatus.ERROR), message

    good = probe.send(rgb_image(rgb_frame, probe.header()))
    probe.wait_for_answer(good)
    assert probe.answer(bad) is None


# --- limits and header checks -------------------------------------------------------------------------

def claiming_60000_squared(kind, header):
    """A small file of ``kind`` ('raw', 'jpeg', 'png') that claims 60000 x 60000 pixels."""
    if kind == 'raw':
        return image(header, 60000, 60000, 'rgb8', 180000, bytes(1000))
    payload = jpeg_claiming(60000, 60000) if kind == 'jpeg' else png_claiming(60000, 60000)
    return compressed(header, payload, kind)


@pytest.mark.parametrize('kind', ['raw', 'jpeg', 'png'])
def test_input_over_max_input_pixels_is_refused_naming_the_limit_and_the_parameter(probe, rgb_frame, kind):
    before = probe.counts()
    probe.send(claiming_60000_squared(kind, probe.header()))
    _, _, values = probe.wait_for_status(lambda level, values: int(values['frames rejected']) >
                                         before['rejected'])
    assert ('60000x60000 = 3600000000 pixels is more than the limit of 8847360; raise the parameter '
            'max_input_pixels') in values['last error']
    probe.wait_for_answer(probe.send(rgb_image(rgb_frame, probe.header())))


def test_max_input_pixels_changes_at_run_time_and_refuses_zero(probe, seg_node, rgb_frame):
    try:
        assert seg_node.set_parameters([Parameter('max_input_pixels', value=160 * 120 - 1)])[0].successful
        before = probe.counts()
        probe.send(rgb_image(rgb_frame, probe.header()))
        _, _, values = probe.wait_for_status(lambda level, values: int(values['frames rejected']) >
                                             before['rejected'])
        assert '160x120 = 19200 pixels is more than the limit of 19199' in values['last error']
        result, = seg_node.set_parameters([Parameter('max_input_pixels', value=0)])
        assert not result.successful and 'out of range' in result.reason
    finally:
        seg_node.set_parameters([Parameter('max_input_pixels', value=MAX_INPUT_PIXELS)])
    probe.wait_for_answer(probe.send(rgb_image(rgb_frame, probe.header())))


def shifted(header, offset_s):
    """``header`` with its stamp moved by ``offset_s``."""
    ns = header.stamp.sec * 10 ** 9 + header.stamp.nanosec + int(offset_s * 1e9)
    header.stamp.sec, header.stamp.nanosec = divmod(ns, 10 ** 9)
    return header


def test_frames_arriving_out_of_order_are_segmented_and_counted(probe, rgb_frame):
    older, newer = probe.header(), probe.header()
    before = probe.counts()
    for header in (newer, older):
        probe.wait_for_answer(probe.send(rgb_image(rgb_frame, header)))
    _, _, values = probe.wait_for_status(lambda level, values: int(values['frames processed']) >=
                                         before['processed'] + 2)
    assert values['frames out of order'] == str(before['out of order'] + 1)


@pytest.mark.parametrize('offset_s, count', [(-3600.0, 'past stamp'), (-0.5, None), (3600.0, 'future stamp')])
def test_stamps_far_from_the_clock_are_segmented_and_counted(probe, rgb_frame, offset_s, count):
    before = probe.counts()
    probe.wait_for_answer(probe.send(rgb_image(rgb_frame, shifted(probe.header(), offset_s))))
    _, _, values = probe.wait_for_status(lambda level, values: int(values['frames processed']) >
                                         before['processed'])
    for kind in ('past stamp', 'future stamp'):
        assert values[f'frames {kind}'] == str(before[kind] + (kind == count))


def test_a_frame_id_change_is_counted_and_logged_once(ros, tiny_model, rgb_frame):
    node = start_node(ros, tiny_model, namespace='/frame_id', reliability='reliable')
    probe = Probe(*ros, namespace='/frame_id')
    logs = []
    probe.node.create_subscription(Log, '/rosout', logs.append, 100)
    try:
        assert wait_until(lambda: probe.image_pub.get_subscription_count(), 15.0)
        time.sleep(0.5)     # /rosout discovery
        for frame_id in ('camera_front', 'camera_rear', 'camera_rear', 'camera_side', 'camera_front'):
            header = probe.header(frame_id)
            assert wait_until(lambda: probe.send(rgb_image(rgb_frame, header)) and
                              wait_until(lambda: probe.answer(header) is not None, 0.5), 10.0)
        _, _, values = probe.wait_for_status(lambda level, values: int(values['frames processed']) >= 5)
        assert values['frames frame_id change'] == '3'
        assert values['last frame_id change'] == "'camera_side' -> 'camera_front'"
        time.sleep(0.3)
        changes = [m.msg for m in logs if m.name == 'frame_id.seg_node' and 'frame_id changed' in m.msg]
        assert changes == ["/frame_id/image: frame_id changed 'camera_front' -> 'camera_rear'; further changes "
                           "are counted in diagnostics only"], [m.msg for m in logs]
    finally:
        stop_nodes(ros, node, probe.node)


# --- load and QoS --------------------------------------------------------------------------------------

def test_fast_publisher_gets_the_latest_frame_answered_without_a_backlog(probe):
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 255, (480, 640, 3), np.uint8) for _ in range(4)]
    before = probe.counts()
    messages = [rgb_image(frames[i % 4], probe.header()) for i in range(60)]
    for msg in messages:        # a 500 Hz camera: ten times faster than the node segments VGA here
        probe.send(msg)
        time.sleep(0.002)
    last, = probe.wait_for_answer(messages[-1].header, timeout_s=15.0)
    after = probe.wait_for_status(lambda level, values: int(values['frames processed']) >
                                  before['processed'])[2]
    time.sleep(0.3)
    stamps = [m.header.stamp for m in messages]
    answered = [m for m in probe.answers['labels'] if m.header.stamp in stamps]
    dropped = int(after['frames dropped']) - before['dropped']
    print(f'\n60 frames of 640x480 at 500 Hz: {len(answered)} answered, {dropped} dropped by the node, '
          f'{60 - len(answered) - dropped} never reached it (keep-last 1 in DDS)')
    assert (last.width, last.height) == (640, 480)
    assert len(answered) <= 30
    assert dropped > 0


def test_a_noisy_frame_is_denoised_and_counted_a_clean_one_is_not(probe):
    clean = np.zeros((120, 160, 3), np.uint8)
    clean[:50], clean[50:] = (200, 215, 240), (30, 30, 35)       # a camera's contrast: not stretched either
    noise = np.random.default_rng(3).normal(0, 1, clean.shape)
    noisy = np.clip(clean + 25 * noise, 0, 255).astype(np.uint8)
    clean = np.clip(clean + 1.5 * noise, 0, 255).astype(np.uint8)     # a camera's own noise: not pixelated
    before = probe.counts()
    probe.wait_for_answer(probe.send(rgb_image(clean, probe.header())))
    probe.wait_for_answer(probe.send(rgb_image(noisy, probe.header())))
    after = probe.wait_for_status(lambda level, values: int(values['frames processed']) >=
                                  before['processed'] + 2)[2]
    assert int(after['frames denoised']) == before['denoised'] + 1


@pytest.mark.parametrize('pipeline', [True, False], ids=['pipeline', 'one at a time'])
def test_a_burst_is_answered_in_order_up_to_its_last_frame(seg_node, probe, reference, pipeline):
    rng = np.random.default_rng(2)
    frames = [rng.integers(0, 255, (240, 320, 3), np.uint8) for _ in range(3)]
    try:
        assert seg_node.set_parameters([Parameter('pipeline', value=pipeline)])[0].successful
        messages = [rgb_image(frames[i % 3], probe.header()) for i in range(30)]
        for msg in messages:        # a 200 Hz camera: faster than the node segments
            probe.send(msg)
            time.sleep(0.005)
        last, = probe.wait_for_answer(messages[-1].header, timeout_s=15.0)
        time.sleep(0.3)
        sent = [stamp_ns(m.header) for m in messages]
        answered = [stamp_ns(m.header) for m in probe.answers['labels'] if stamp_ns(m.header) in sent]
        assert len(answered) >= 2 and answered == sorted(answered) and len(set(answered)) == len(answered)
        expected = reference.segment(frames[29 % 3])
        np.testing.assert_array_equal(np.frombuffer(last.data, np.uint8).reshape(240, 320), expected.labels)
    finally:
        seg_node.set_parameters([Parameter('pipeline', value=True)])


def test_auto_reliability_connects_to_a_best_effort_publisher(ros, tiny_model, rgb_frame):
    node = start_node(ros, tiny_model, namespace='/best_effort_camera')    # reliability: auto (default)
    probe = Probe(*ros, namespace='/best_effort_camera', reliability=ReliabilityPolicy.BEST_EFFORT)
    try:
        def answered():
            header = probe.send(rgb_image(rgb_frame, probe.header()))
            return wait_until(lambda: probe.answer(header) is not None, 0.3)
        assert wait_until(answered, 10.0), 'reliability=auto never received from a best-effort publisher'
    finally:
        stop_nodes(ros, node, probe.node)


# --- parameters ----------------------------------------------------------------------------------------

@pytest.mark.parametrize('name, value, reason', [
    ('color_alpha', 1.5, 'out of range'),
    ('diagnostics_period_s', 0.0, 'out of range'),
    ('error_throttle_s', 61.0, 'out of range'),
    ('publish_color', 'yes', 'Wrong parameter type'),
    ('reliability', 'best_effort', 'read-only'),
    ('backend', 'torch', 'read-only'),
    ('model', 'other.json', 'keeps serving'),
])
def test_invalid_parameter_values_are_refused_with_a_reason(seg_node, name, value, reason):
    before = seg_node.get_parameter(name).value
    result, = seg_node.set_parameters([Parameter(name, value=value)])
    assert not result.successful and reason in result.reason
    assert seg_node.get_parameter(name).value == before


def test_valid_parameter_values_are_accepted(seg_node):
    try:
        results = seg_node.set_parameters([Parameter('color_alpha', value=0.25),
                                           Parameter('error_throttle_s', value=0.0)])
        assert all(r.successful for r in results)
        assert seg_node.get_parameter('color_alpha').value == 0.25
    finally:
        seg_node.set_parameters([Parameter('color_alpha', value=0.5),
                                 Parameter('error_throttle_s', value=5.0)])


def test_ego_mask_set_at_run_time_publishes_the_vehicle_as_outside_and_a_bad_one_is_refused(seg_node, probe,
                                                                                            rgb_frame):
    result, = seg_node.set_parameters([Parameter('ego_mask', value='bottom:2')])
    assert not result.successful and "ego_mask 'bottom:2'" in result.reason and 'between 0 and 1' in result.reason
    try:
        assert seg_node.set_parameters([Parameter('ego_mask', value='bottom:0.5')])[0].successful
        header = probe.send(rgb_image(rgb_frame, probe.header()))
        labels, drivable = probe.wait_for_answer(header, ('labels', 'drivable'))
        labels = np.frombuffer(labels.data, np.uint8).reshape(120, 160)
        # the mask's edge may rise over vehicle labels up to drivable_ego_edge_px (8) rows above it
        assert (labels[60:] == 255).all() and (labels[:52] != 255).all()
        assert not np.frombuffer(drivable.data, np.uint8).reshape(120, 160)[60:].any()
        probe.wait_for_status(lambda level, values: values.get('ego mask') == 'bottom:0.5')
    finally:
        seg_node.set_parameters([Parameter('ego_mask', value='')])


def test_diagnostics_period_can_change_at_run_time(seg_node, probe):
    try:
        assert seg_node.set_parameters([Parameter('diagnostics_period_s', value=0.1)])[0].successful
        probe.wait_for_status(lambda level, values: True)
        start = len(probe.statuses)
        time.sleep(1.0)
        assert len(probe.statuses) - start >= 6         # about 10 at 0.1 s; 5 at the module's 0.2 s
    finally:
        seg_node.set_parameters([Parameter('diagnostics_period_s', value=0.2)])


@pytest.mark.parametrize('name, value, words', [
    ('reliability', 'sometimes', 'reliability must be one of auto, reliable, best_effort'),
    ('backend', 'openvx', 'backend must be one of auto, onnxruntime, openvino, tensorrt, torch'),
    ('openvino_precision', 'fp16', 'openvino_precision must be one of auto, f32, bf16, int8'),
    ('threads', 100, 'threads'),
])
def test_invalid_start_values_fail_naming_the_parameter(ros, tiny_model, name, value, words):
    with pytest.raises(ParameterException, match=words):
        start_node(ros, tiny_model, namespace='/invalid', **{name: value})


# --- the process ---------------------------------------------------------------------------------------

def node_process(*ros_args):
    """seg_node as its own process, on this module's domain."""
    env = dict(os.environ, ROS_DOMAIN_ID=str(DOMAIN_ID), RCUTILS_LOGGING_BUFFERED_STREAM='0',
               PYTHONUNBUFFERED='1')
    return subprocess.Popen([sys.executable, '-m', 'seg_perception.ros.seg_node', '--ros-args', *ros_args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def test_missing_model_exits_non_zero_naming_the_file(tmp_path):
    missing = str(tmp_path / 'no_such_model.json')
    process = node_process('-p', f'model:={missing}', '-r', '__ns:=/missing_model')
    output, _ = process.communicate(timeout=30)
    assert process.returncode != 0
    assert missing in output and 'cannot start' in output
    assert 'Traceback' not in output


@pytest.mark.parametrize('signum', [signal.SIGTERM, signal.SIGINT], ids=['SIGTERM', 'SIGINT'])
def test_signal_ends_the_node_cleanly(tiny_model, signum):
    process = node_process('-p', f'model:={tiny_model}', '-r', f'__ns:=/signal_{int(signum)}')
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
    reader.start()
    try:
        assert wait_until(lambda: any('segmenting' in line for line in lines), 30.0), ''.join(lines)
        time.sleep(0.3)     # into the executor's spin
        sent = time.monotonic()
        process.send_signal(signum)
        returncode = process.wait(timeout=10)
        elapsed_s = time.monotonic() - sent
    finally:
        process.kill()
    reader.join(timeout=2)
    process.stdout.close()
    print(f'\n{signal.Signals(signum).name}: exit code {returncode} after {elapsed_s:.2f} s')
    assert returncode == 0, ''.join(lines)
    assert 'Traceback' not in ''.join(lines)


# --- faults -------------------------------------------------------------------------------------------

def test_parameters_set_through_the_parameter_services_take_effect_or_are_refused(probe, rgb_frame):
    client = AsyncParameterClient(probe.node, '/seg_node')
    assert client.wait_for_services(timeout_sec=10.0)

    def set_remotely(*parameters):
        future = client.set_parameters(list(parameters))
        assert wait_until(future.done, 10.0)
        return future.result().results
    try:
        valid, invalid, read_only = set_remotely(Parameter('max_input_pixels', value=160 * 120 - 1),
                                                 Parameter('color_alpha', value=2.0),
                                                 Parameter('backend', value='torch'))
        assert valid.successful
        assert not invalid.successful and 'out of range' in invalid.reason
        assert not read_only.successful and 'read-only' in read_only.reason
        before = probe.counts()
        probe.send(rgb_image(rgb_frame, probe.header()))       # the next frame already meets the new limit
        _, _, values = probe.wait_for_status(lambda level, values: int(values['frames rejected']) >
                                             before['rejected'])
        assert 'more than the limit of 19199' in values['last error']
    finally:
        assert set_remotely(Parameter('max_input_pixels', value=MAX_INPUT_PIXELS))[0].successful
    probe.wait_for_answer(probe.send(rgb_image(rgb_frame, probe.header())))


def copy_model(manifest, folder):
    """The manifest and files of a model copied into ``folder``; returns the new manifest path."""
    source = os.path.dirname(manifest)
    names = json.loads(Path(manifest).read_text())['files'].values()
    for name in [os.path.basename(manifest), *names]:
        shutil.copy(os.path.join(source, name), folder / name)
    return str(folder / os.path.basename(manifest))


def test_model_replaced_or_deleted_on_disk_changes_nothing_until_a_reload_and_a_broken_reload_is_refused(
        ros, tiny_model, palette_model, painted_frames, tmp_path):
    model = copy_model(tiny_model, tmp_path)
    onnx_file = tmp_path / json.loads(Path(model).read_text())['files']['onnx']
    node = start_node(ros, model, namespace='/reload', reliability='reliable')
    probe = Probe(*ros, namespace='/reload')
    reload = probe.node.create_client(Trigger, '/reload/seg_node/reload_model')
    parameters = AsyncParameterClient(probe.node, '/reload/seg_node')
    frame = painted_frames['clear']
    tiny_labels = Segmenter.from_model(tiny_model).segment(frame).labels
    palette_labels = Segmenter.from_model(palette_model).segment(frame).labels
    assert (tiny_labels != palette_labels).mean() > 0.2       # the two models tell themselves apart

    def served_labels():
        return mono(probe.wait_for_answer(probe.send(rgb_image(frame, probe.header())), timeout_s=10.0)[0])

    def call_reload():
        future = reload.call_async(Trigger.Request())
        assert wait_until(future.done, 30.0)
        return future.result()

    def set_model(path):
        future = parameters.set_parameters([Parameter('model', value=path)])
        assert wait_until(future.done, 30.0)
        return future.result().results[0]
    try:
        assert reload.wait_for_service(timeout_sec=10.0) and parameters.wait_for_services(timeout_sec=10.0)
        assert wait_until(lambda: probe.image_pub.get_subscription_count(), 15.0)
        assert wait_until(lambda: probe.send(rgb_image(frame, probe.header())) and
                          wait_until(lambda: probe.answers['labels'], 0.5), 15.0)
        assert np.array_equal(served_labels(), tiny_labels)

        onnx_file.unlink()                                      # deleted under the running node
        assert np.array_equal(served_labels(), tiny_labels)     # nothing changes until a reload is asked for
        refused = call_reload()
        assert not refused.success
        assert 'not loaded' in refused.message and 'keeps serving' in refused.message
        assert str(onnx_file) in refused.message or 'tiny.onnx' in refused.message
        assert np.array_equal(served_labels(), tiny_labels)

        onnx_file.write_bytes(b'not an onnx graph')             # replaced by a broken file: stale by sha256
        refused = call_reload()
        assert not refused.success and 'sha256' in refused.message
        assert np.array_equal(served_labels(), tiny_labels)

        broken = copy_model(palette_model, tmp_path)            # a manifest that matches a corrupt graph
        broken_onnx = tmp_path / json.loads(Path(broken).read_text())['files']['onnx']
        broken_onnx.write_bytes(b'\x08\x07' + os.urandom(200))
        manifest = json.loads(Path(broken).read_text())
        manifest['sha256']['onnx'] = sha256_file(str(broken_onnx))
        Path(broken).write_text(json.dumps(manifest))
        result = set_model(broken)
        assert not result.successful and 'keeps serving' in result.reason
        assert node.get_parameter('model').value == model
        assert np.array_equal(served_labels(), tiny_labels)
        _, _, values = probe.wait_for_status(lambda level, values: 'keeps serving' in values['last reload refused'])
        assert values['model reloads'] == '0' and values['model'].startswith('tiny')

        assert set_model(palette_model).successful              # a good model: served from the next frame
        assert np.array_equal(served_labels(), palette_labels)
        _, _, values = probe.wait_for_status(lambda level, values: values['model reloads'] == '1')
        assert values['model'].startswith('palette')
        assert call_reload().success                            # the same files again
        assert np.array_equal(served_labels(), palette_labels)
    finally:
        stop_nodes(ros, node, probe.node)


def test_camera_changing_resolution_mid_stream_is_answered_at_each_size(probe):
    rng = np.random.default_rng(3)
    for height, width in ((120, 160), (240, 320), (48, 64), (121, 161), (120, 160)):
        rgb = rng.integers(0, 255, (height, width, 3), np.uint8)
        labels, drivable = probe.wait_for_answer(probe.send(rgb_image(rgb, probe.header())), ('labels', 'drivable'))
        assert (labels.width, labels.height) == (drivable.width, drivable.height) == (width, height)


def test_a_publisher_that_disappears_and_comes_back_is_answered(ros, seg_node, probe, rgb_frame):
    for _ in range(2):
        camera = Node('camera_driver', context=ros[0])
        publisher = camera.create_publisher(Image, IMAGE_TOPIC, QoSProfile(depth=1))
        ros[1].add_node(camera)
        try:
            assert wait_until(lambda: publisher.get_subscription_count() > 0, 10.0)
            header = probe.header()
            assert wait_until(lambda: publisher.publish(rgb_image(rgb_frame, header)) or
                              wait_until(lambda: probe.answer(header) is not None, 0.5), 10.0)
        finally:
            stop_nodes(ros, camera)
        topic = seg_node._streams[''].inputs[IMAGE_TOPIC].topic_name
        assert wait_until(lambda: seg_node.count_publishers(topic) == 1, 10.0)


def test_a_second_publisher_with_other_qos_is_heard_with_the_first(ros, tiny_model, rgb_frame):
    node = start_node(ros, tiny_model, namespace='/two_cameras')    # reliability: auto
    reliable = Probe(*ros, namespace='/two_cameras')
    best_effort = Probe(*ros, namespace='/two_cameras', reliability=ReliabilityPolicy.BEST_EFFORT)
    try:
        for sender in (reliable, best_effort, reliable):
            def answered():
                header = sender.send(rgb_image(rgb_frame, sender.header()))
                return wait_until(lambda: sender.answer(header) is not None, 0.3)
            assert wait_until(answered, 10.0), f'no answer to the {sender.image_pub.qos_profile.reliability.name} ' \
                                               f'publisher'
    finally:
        stop_nodes(ros, node, reliable.node, best_effort.node)


@pytest.mark.parametrize('signum', [signal.SIGTERM, signal.SIGINT], ids=['SIGTERM', 'SIGINT'])
def test_a_signal_under_full_load_ends_the_node_cleanly(ros, tiny_model, signum):
    namespace = f'/loaded_{int(signum)}'
    process = node_process('-p', f'model:={tiny_model}', '-p', 'reliability:=reliable', '-r', f'__ns:={namespace}')
    probe = Probe(*ros, namespace=namespace)
    frames = [np.random.default_rng(i).integers(0, 255, (480, 640, 3), np.uint8) for i in range(4)]
    stop = threading.Event()

    def camera():       # 100 Hz of VGA: more than the node segments
        i = 0
        while not stop.is_set():
            probe.send(rgb_image(frames[i % 4], probe.header()))
            i += 1
            time.sleep(0.01)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
    reader.start()
    publisher = threading.Thread(target=camera, daemon=True)
    publisher.start()
    try:
        assert wait_until(lambda: len(probe.answers['labels']) >= 5, 30.0), ''.join(lines)
        sent = time.monotonic()
        process.send_signal(signum)
        returncode = process.wait(timeout=10)
        elapsed_s = time.monotonic() - sent
    finally:
        stop.set()
        process.kill()
        publisher.join(timeout=2)
        stop_nodes(ros, probe.node)
    reader.join(timeout=2)
    process.stdout.close()
    print(f'\n{signal.Signals(signum).name} under load: exit code {returncode} after {elapsed_s:.2f} s')
    assert returncode == 0, ''.join(lines)
    assert 'Traceback' not in ''.join(lines)


# --- the safe drivable area, free space and the ambiguity alarm ------------------------------------------------
# A model that labels each pixel by its nearest palette colour (conftest.palette_model) segments painted frames
# exactly as painted: the checks then run on real labels, through the node's real path.

def mono(msg):
    """H x W uint8 array of a mono8 Image."""
    return np.frombuffer(msg.data, np.uint8).reshape(msg.height, msg.width)


@pytest.fixture(scope='module')
def palette_node(ros, palette_model):
    """A node with the palette model on its own namespace."""
    node = start_node(ros, palette_model, namespace='/palette', reliability='reliable', **NO_STRETCH)
    yield node
    stop_nodes(ros, node)


@pytest.fixture(scope='module')
def palette_probe(ros, palette_node, painted_frames):
    """A probe for the palette node, answered once on every output."""
    probe = Probe(*ros, namespace='/palette')
    assert wait_until(lambda: probe.image_pub.get_subscription_count(), 15.0), 'seg_node never subscribed'

    def answered_all():
        header = probe.send(rgb_image(painted_frames['clear'], probe.header()))
        return wait_until(lambda: all(probe.answer(header, k) for k in OUTPUTS), 0.5)
    assert wait_until(answered_all, 15.0), 'seg_node never answered on all of its outputs'
    yield probe
    stop_nodes(ros, probe.node)


def test_ambiguous_and_freespace_are_published_with_the_input_header(probe, rgb_frame, reference):
    header = probe.send(rgb_image(rgb_frame, probe.header('camera_front_left')))
    ambiguous, freespace, drivable = probe.wait_for_answer(header, ('ambiguous', 'freespace', 'drivable'))
    assert ambiguous.header == header and freespace.header == header
    assert (ambiguous.encoding, ambiguous.width, ambiguous.height) == ('mono8', 160, 120)
    expected = reference.segment(rgb_frame)
    np.testing.assert_array_equal(mono(ambiguous), expected.ambiguous)
    cloud = cloud_to_freespace(freespace)
    assert (freespace.height, freespace.width) == (1, 160) and not freespace.is_dense
    np.testing.assert_array_equal(cloud[:, 0], np.arange(160))
    np.testing.assert_array_equal(cloud[:, 1], expected.freespace)
    assert np.isnan(cloud[:, 2:]).all()                  # no camera_info: no metric points
    rows = np.arange(120)[:, None]
    assert not (mono(drivable).astype(bool) & (rows <= cloud[None, :, 1])).any()


def test_confidence_carries_the_input_header_and_the_margin_times_255(palette_probe, palette_model, painted_frames):
    road, sidewalk = (np.array(c, np.float32) for c in class_palette(['road', 'sidewalk']))
    frame = painted_frames['clear'].copy()
    frame[90:110, 40:120] = (road + sidewalk) / 2           # as near the road's colour as the sidewalk's: a tie
    header = palette_probe.send(rgb_image(frame, palette_probe.header('camera_front')))
    confidence, = palette_probe.wait_for_answer(header, ('confidence',))
    assert confidence.header == header
    assert (confidence.encoding, confidence.width, confidence.height, confidence.step) == ('mono8', 160, 120, 160)
    values = mono(confidence)
    margin = Segmenter.from_model(palette_model, safety=SafetyConfig.from_flat(NO_STRETCH)).segment(frame).margin
    np.testing.assert_allclose(values, np.clip(np.rint(margin * 255), 0, 255), atol=1)
    assert values[90:110, 40:120].max() < 20                # the tie: hardly any margin
    assert values[:50, 30:130].min() > 240 and values[60:85, 30:130].min() > 240   # sky, road painted exactly


def test_hazard_frame_raises_the_alarm_as_an_error_with_reasons_and_region(palette_probe, painted_frames):
    probe = palette_probe
    header = probe.send(rgb_image(painted_frames['clear'], probe.header()))
    probe.wait_for_answer(header)
    level, _, values = probe.wait_for_status(lambda level, values: values['alarm'] == 'false')
    assert level != DiagnosticStatus.ERROR

    header = probe.send(rgb_image(painted_frames['hazard'], probe.header()))
    drivable, ambiguous = probe.wait_for_answer(header, ('drivable', 'ambiguous'))
    level, message, values = probe.wait_for_status(lambda level, values: values['alarm'] == 'true')
    assert level == DiagnosticStatus.ERROR and message.startswith('ALARM')
    assert 'sky_below_horizon' in values['alarm reasons'] and 'sky_below_horizon' in message
    x0, y0, x1, y1 = (int(v) for v in values['alarm region'].split(','))
    assert x0 < 80 < x1 and y0 <= 62 and 85 < y1         # the trailer's band below the horizon, on the path
    assert int(values['alarm frames']) >= 1 and values['horizon'] == '60.0 (default)'
    assert mono(ambiguous)[60:88, 20:140].all()          # the trailer's side, called sky, is distrusted
    assert not mono(drivable).any()                      # and everything beneath it, to the bumper

    header = probe.send(rgb_image(painted_frames['clear'], probe.header()))
    drivable, = probe.wait_for_answer(header, ('drivable',))
    level, _, values = probe.wait_for_status(lambda level, values: values['alarm'] == 'false')
    assert level != DiagnosticStatus.ERROR
    assert mono(drivable)[60:, 20:140].all()


def test_camera_info_sets_the_horizon_and_gives_freespace_points_in_metres(palette_probe, palette_node,
                                                                           painted_frames):
    probe = palette_probe
    info = CameraInfo(width=320, height=240)             # calibrated at twice the frames' resolution
    info.k = [200.0, 0.0, 160.0, 0.0, 200.0, 108.0, 0.0, 0.0, 1.0]
    try:
        def horizon_from_camera():
            probe.camera_info_pub.publish(info)
            header = probe.send(rgb_image(painted_frames['clear'], probe.header()))
            probe.wait_for_answer(header, ('freespace',))
            values = probe.wait_for_status(lambda level, values: True)[2]
            return values['horizon'] == '54.0 (camera)'
        assert wait_until(horizon_from_camera, 10.0)
        header = probe.send(rgb_image(painted_frames['clear'], probe.header()))
        cloud = cloud_to_freespace(probe.wait_for_answer(header, ('freespace',))[0])
        road = cloud[30:130]                              # columns of road: free up to the horizon, row 53
        assert (road[:, 1] == 53).all() and np.isnan(road[:, 2:]).all()   # at the horizon: infinitely far
        kerb = cloud[:5]                                  # pavement from the bottom row: 1.5 m down, 6 m ahead
        np.testing.assert_allclose(kerb[:, 3], 1.5, rtol=1e-4)
        np.testing.assert_allclose(kerb[:, 4], 100 * 1.5 / (119 - 54), rtol=1e-4)
    finally:
        palette_node.set_parameters([Parameter('use_camera_info', value=False)])


@pytest.mark.parametrize('name, value, reason', [
    ('sky_below_horizon_margin_px', 500.0, 'out of range'),
    ('drivable_safety_margin_px', -1, 'out of range'),
    ('camera_height_m', 1, 'Wrong parameter type'),
    ('temporal_min_flips', 6, 'temporal_min_flips (6) must be less than temporal_window (6)'),
])
def test_invalid_check_settings_are_refused_with_a_reason(palette_node, name, value, reason):
    before = palette_node.get_parameter(name).value
    result, = palette_node.set_parameters([Parameter(name, value=value)])
    assert not result.successful and reason in result.reason
    assert palette_node.get_parameter(name).value == before


def test_check_settings_change_at_run_time(palette_probe, palette_node, painted_frames):
    probe = palette_probe
    checks = ('sky_below_horizon_enabled', 'sky_on_road_enabled', 'low_confidence_enabled', 'temporal_enabled')
    try:
        assert all(r.successful for r in palette_node.set_parameters([Parameter(n, value=False) for n in checks]))
        header = probe.send(rgb_image(painted_frames['hazard'], probe.header()))
        ambiguous, = probe.wait_for_answer(header, ('ambiguous',))
        assert not mono(ambiguous).any()                  # every check off: the trailer passes as sky
        _, _, values = probe.wait_for_status(lambda level, values: True)
        assert values['alarm'] == 'false'
    finally:
        palette_node.set_parameters([Parameter(n, value=True) for n in checks])


def test_a_region_flickering_between_sky_and_vehicle_raises_the_temporal_alarm(palette_probe, palette_node,
                                                                               painted_frames):
    probe = palette_probe
    others = ('sky_below_horizon_enabled', 'sky_on_road_enabled', 'low_confidence_enabled')
    car = np.array(class_palette(['car'])[0], np.uint8)   # what the palette model calls car
    flicker = []
    for i in range(4):
        frame = painted_frames['clear'].copy()
        frame[68:80, 30:130] = car if i % 2 else painted_frames['hazard'][60, 80]
        flicker.append(frame)
    try:
        assert all(r.successful for r in palette_node.set_parameters([Parameter(n, value=False) for n in others]))
        for frame in flicker:                               # in order, each answered before the next
            probe.wait_for_answer(probe.send(rgb_image(frame, probe.header())))
        level, message, values = probe.wait_for_status(lambda level, values: values['alarm'] == 'true')
        assert 'temporal' in values['alarm reasons'] and level == DiagnosticStatus.ERROR
    finally:
        palette_node.set_parameters([Parameter(n, value=True) for n in others])
        for _ in range(2):                                  # leave the history stable for other tests
            probe.wait_for_answer(probe.send(rgb_image(painted_frames['clear'], probe.header())))


def noisy(frame, sigma=40.0, seed=1):
    """``frame`` with strong Gaussian sensor noise: the trust check's ``noise`` holds on it, whatever the model."""
    rng = np.random.default_rng(seed)
    return np.clip(frame + rng.normal(0.0, sigma, frame.shape), 0, 255).astype(np.uint8)


def test_a_degraded_frame_is_an_error_naming_its_reasons_with_labels_no_drivable_area_and_unknown_free_space(
        palette_probe, painted_frames):
    probe = palette_probe
    since = len(probe.statuses)             # the node publishes a status at once when a frame turns degraded
    header = probe.send(rgb_image(noisy(painted_frames['clear']), probe.header()))
    labels, drivable, freespace = probe.wait_for_answer(header, ('labels', 'drivable', 'freespace'))
    stamp = header.stamp.sec * 10 ** 9 + header.stamp.nanosec
    level, message, values = probe.wait_for_status(
        lambda level, values: stamp in parse_alarm_stamps(values['degraded stamps']), since=since)
    # (the noise may raise an alarm too: the message then names both)
    assert level == DiagnosticStatus.ERROR and 'noise' in message[message.index('degraded: '):]
    assert values['degraded'] == 'true' and 'noise' in values['degraded reasons']
    assert int(values['degraded frames']) >= 1
    assert (labels.width, labels.height) == (160, 120)           # the labels are still published
    assert not mono(drivable).any()                              # no drivable area
    cloud = cloud_to_freespace(freespace)
    np.testing.assert_array_equal(cloud[:, 0], np.arange(160))
    assert np.isnan(cloud[:, 1:]).all()                          # the free space unknown: v, x, y, z NaN

    degraded_frames = int(values['degraded frames'])
    header = probe.send(rgb_image(painted_frames['clear'], probe.header()))
    drivable, = probe.wait_for_answer(header, ('drivable',))
    level, message, values = probe.wait_for_status(lambda level, values: values['degraded'] == 'false')
    # not an error for being degraded (the temporal check may still flag the change from the noisy frame)
    assert 'degraded: ' not in message and values['degraded frames'] == str(degraded_frames)
    assert level != DiagnosticStatus.ERROR or values['alarm'] == 'true'
    if values['alarm'] == 'false':                               # the drivable area is back
        assert mono(drivable)[60:, 20:140].all()
    else:
        assert mono(drivable).any()


def test_a_camera_repeating_one_frame_is_degraded_by_its_own_trust_monitor(palette_probe, palette_node,
                                                                           painted_frames):
    probe = palette_probe
    changed = painted_frames['clear'].copy()
    changed[100:120, 0:20] = 0                                   # not a repeat of the clear frame
    try:
        assert palette_node.set_parameters([Parameter('trust_frozen_frames', value=2)])[0].successful
        for frame in (changed, painted_frames['clear'], painted_frames['clear'], painted_frames['clear']):
            probe.wait_for_answer(probe.send(rgb_image(frame, probe.header())))
        level, message, values = probe.wait_for_status(lambda level, values: values['degraded'] == 'true')
        assert level == DiagnosticStatus.ERROR and values['degraded reasons'] == 'frozen' and 'frozen' in message
    finally:
        palette_node.set_parameters([Parameter('trust_frozen_frames', value=30)])
        for frame in (changed, painted_frames['clear']):        # leave the stream trusted for other tests
            probe.wait_for_answer(probe.send(rgb_image(frame, probe.header())))
        probe.wait_for_status(lambda level, values: values['degraded'] == 'false')


# --- the dense CRF, off the live path unless asked for ------------------------------------------------------

def test_crf_is_refused_without_the_torch_backend(seg_node):
    result, = seg_node.set_parameters([Parameter('crf', value='largefov')])
    assert not result.successful and 'only backend torch gives' in result.reason
    assert seg_node.get_parameter('crf').value == 'none'


def test_crf_on_the_torch_backend_refines_the_labels_and_reports_its_cost(ros, painted_frames, single_thread_torch):
    shipped = default_model().manifest_path        # it has torch weights; the test models have only ONNX graphs
    node = start_node(ros, shipped, namespace='/crf', reliability='reliable', backend='torch')
    probe = Probe(*ros, namespace='/crf')
    frame = painted_frames['hazard']
    try:
        assert wait_until(lambda: probe.image_pub.get_subscription_count(), 15.0)
        assert wait_until(lambda: probe.send(rgb_image(frame, probe.header())) and
                          wait_until(lambda: probe.answers['labels'], 0.5), 15.0)
        _, _, values = probe.wait_for_status(lambda level, values: values['latency inference p50 (ms)'] != '-')
        assert values['crf'] == 'none' and values['latency crf p50 (ms)'] == '-'
        assert node.set_parameters([Parameter('crf', value='largefov')])[0].successful
        labels = mono(probe.wait_for_answer(probe.send(rgb_image(frame, probe.header())), timeout_s=30.0)[0])
        expected = Segmenter.from_model(shipped, backend='torch').segment(frame, crf=crf.DEEPLAB_LARGEFOV)
        assert np.array_equal(labels, expected.labels)
        _, _, values = probe.wait_for_status(lambda level, values: values['latency crf p50 (ms)'] != '-')
        assert values['crf'] == 'largefov' and float(values['latency crf p50 (ms)']) > 0
    finally:
        stop_nodes(ros, node, probe.node)


# --- label ids, several cameras, the fallback backend -------------------------------------------------------

def parameter_defaults():
    """The node's declared defaults, by name."""
    return {name: default for name, default, _ in parameter_declarations()}


def test_labels_are_published_in_the_output_taxonomy_by_default(ros, palette_model, painted_frames):
    node = start_node(ros, palette_model, namespace='/taxonomy', reliability='reliable', label_ids='taxonomy',
                      **NO_STRETCH)
    probe = Probe(*ros, namespace='/taxonomy')
    frame = painted_frames['clear']
    try:
        assert node.get_parameter('label_ids').value == parameter_defaults()['label_ids'] == 'taxonomy'
        assert wait_until(lambda: probe.image_pub.get_subscription_count(), 15.0)
        assert wait_until(lambda: probe.send(rgb_image(frame, probe.header())) and
                          wait_until(lambda: probe.answers['labels'], 0.5), 15.0)
        labels = mono(probe.answers['labels'][-1])
        palette = Segmenter.from_model(palette_model, safety=SafetyConfig.from_flat(NO_STRETCH))
        model_labels = palette.segment(frame).labels
        assert np.array_equal(labels, taxonomy_lut(CAMVID_CLASSES)[model_labels])
        # painted sky and road come out as the taxonomy's sky (7) and road (0), not CamVid's 0 and 3
        assert labels[10, 80] == TAXONOMY_CLASSES.index('sky') and labels[110, 80] == TAXONOMY_CLASSES.index('road')
    finally:
        stop_nodes(ros, node, probe.node)


def test_several_cameras_are_segmented_in_one_batch_each_answered_under_its_name(ros, tiny_model, reference):
    node = start_node(ros, tiny_model, namespace='/rig', reliability='reliable', cameras=['front', 'rear/left'])
    probes = {name: Probe(*ros, namespace=f'/rig/{name}') for name in ('front', 'rear/left')}
    batches = []
    infer = node.segmenter.backend.infer

    def slow_recording_infer(images):      # the real backend, slowed so that both cameras' frames meet
        batches.append(len(images))
        time.sleep(0.05)
        return infer(images)
    node.segmenter.backend.infer = slow_recording_infer
    rng = np.random.default_rng(5)
    frames = {'front': rng.integers(0, 255, (120, 160, 3), np.uint8),
              'rear/left': rng.integers(0, 255, (96, 128, 3), np.uint8)}
    try:
        for probe in probes.values():
            assert wait_until(lambda: probe.image_pub.get_subscription_count(), 15.0)
        sent = {name: [] for name in probes}
        for _ in range(20):
            for name, probe in probes.items():
                sent[name].append(probe.send(rgb_image(frames[name], probe.header(frame_id=name))))
            time.sleep(0.02)
        for name, probe in probes.items():     # each camera's outputs: its own topics, header and labels
            assert wait_until(lambda: any(probe.answer(h) for h in sent[name]), 10.0), name
            answer = next(probe.answer(h) for h in sent[name] if probe.answer(h))
            assert answer.header.frame_id == name
            assert np.array_equal(mono(answer), reference.segment(frames[name]).labels)
            assert wait_until(lambda: probe.answer(answer.header, 'confidence'), 5.0), name
            confidence = probe.answer(answer.header, 'confidence')
            assert confidence.header == answer.header and mono(confidence).shape == frames[name].shape[:2]
        assert max(batches) == 2, batches
        # a camera that stalls does not stall the other
        answered = len(probes['front'].answers['labels'])
        for _ in range(5):
            probes['front'].send(rgb_image(frames['front'], probes['front'].header(frame_id='front')))
            time.sleep(0.1)
        assert wait_until(lambda: len(probes['front'].answers['labels']) >= answered + 3, 10.0)
    finally:
        node.segmenter.backend.infer = infer
        stop_nodes(ros, node, *(p.node for p in probes.values()))


@pytest.mark.parametrize('cameras', [['front', 'front'], ['/front'], ['']], ids=['twice', 'absolute', 'empty'])
def test_invalid_camera_names_fail_at_start(ros, tiny_model, cameras):
    with pytest.raises(ParameterException, match='camera names must be'):
        start_node(ros, tiny_model, namespace='/bad_cameras', cameras=cameras)


def test_the_openvino_backend_runs_in_the_node_at_the_precision_asked(ros, tiny_model, rgb_frame, tmp_path):
    pytest.importorskip('openvino')
    node = start_node(ros, tiny_model, namespace='/openvino', reliability='reliable', backend='openvino',
                      openvino_precision='f32', engine_dir=str(tmp_path), threads=1)
    probe = Probe(*ros, namespace='/openvino')
    try:
        assert node.segmenter.backend.describe().startswith('openvino cpu f32 (1 threads')
        assert os.listdir(tmp_path / 'openvino')
        assert wait_until(lambda: probe.image_pub.get_subscription_count(), 15.0)
        assert wait_until(lambda: probe.send(rgb_image(rgb_frame, probe.header())) and
                          wait_until(lambda: probe.answers['labels'], 0.5), 15.0)
        got = mono(probe.wait_for_answer(probe.send(rgb_image(rgb_frame, probe.header())), timeout_s=10.0)[0])
        expected = Segmenter.from_model(tiny_model, threads=1).segment(rgb_frame).labels
        assert (got == expected).mean() >= 0.999
    finally:
        for n in (node, probe.node):
            ros[1].remove_node(n)
            n.destroy_node()


def test_malformed_messages_on_both_transports_never_displace_a_good_frame_waiting_in_the_holder(ros, tiny_model):
    from seg_perception.ros.fuzz import storm, storm_pool
    from seg_perception.ros.probe import Probe as CameraProbe

    node = start_node(ros, tiny_model, namespace='/storm', reliability='reliable', trust_enabled=False,
                      error_throttle_s=60.0)
    infer = node.segmenter.backend.infer

    def slow_infer(images):     # the second good frame of a pair waits in the holder while garbage arrives
        time.sleep(0.3)
        return infer(images)

    node.segmenter.backend.infer = slow_infer
    camera = CameraProbe('storm_camera', '/storm', domain_id=DOMAIN_ID, depth=1, compressed=True)
    try:
        assert wait_until(camera.connected, 15.0)
        pool = storm_pool(range(400), MAX_INPUT_PIXELS)
        figures = storm(camera, rounds=4, seed=0, pool=pool, answer_timeout_s=10.0)
        assert figures['missed'] == [] and figures['answered'] == figures['good'] == 8
        assert figures['at_full_rate'] > 8      # malformed messages came while the second frame waited
        assert wait_until(lambda: node._counts['processed'] == 8, 5.0)     # counted just after it is published
        with node._lock:
            counts = node._counts.copy()
        assert counts['rejected'] > 8 and counts['processed'] == 8 and counts['dropped'] == 0
    finally:
        node.segmenter.backend.infer = infer
        camera.close()
        stop_nodes(ros, node)


def test_backend_auto_is_the_default_and_the_diagnostics_say_what_it_chose_and_why(ros, tiny_model, tmp_path):
    assert dict((name, default) for name, default, _ in parameter_declarations())['backend'] == 'auto'
    expected = backends.create('auto', ModelFiles.load(tiny_model), engine_dir=str(tmp_path), threads=1)
    node = start_node(ros, tiny_model, namespace='/auto', backend='auto', engine_dir=str(tmp_path), threads=1)
    probe = Probe(*ros, namespace='/auto')
    try:
        assert node.segmenter.backend.name == expected.name != 'tensorrt'      # no GPU engine for the tiny model
        _, _, values = probe.wait_for_status(lambda level, values: True, timeout_s=10.0)
        assert values['backend selection'] == expected.selection
        assert values['backend selection'].startswith(f'auto chose {expected.name}: ')
        assert 'passed over tensorrt: ' in values['backend selection']
        assert values['backend'] == node.segmenter.backend.describe()
    finally:
        stop_nodes(ros, node, probe.node)


def test_unavailable_backend_runs_on_the_fallback_with_a_warning_that_stays(ros, tiny_model, rgb_frame):
    import importlib.util

    if importlib.util.find_spec('tensorrt') is not None:
        pytest.skip('TensorRT is installed here: the fallback would not be taken')
    with pytest.raises(backends.BackendUnavailable, match='tensorrt'):
        start_node(ros, tiny_model, namespace='/no_fallback', backend='tensorrt')
    # the tiny model's frames are all degraded (low_margin): an ERROR that would hide the fallback's WARN
    node = start_node(ros, tiny_model, namespace='/fallback', reliability='reliable', backend='tensorrt',
                      fallback_backend='onnxruntime', trust_enabled=False)
    probe = Probe(*ros, namespace='/fallback')
    try:
        assert node.segmenter.backend.name == 'onnxruntime'
        assert wait_until(lambda: probe.image_pub.get_subscription_count(), 15.0)
        assert wait_until(lambda: probe.send(rgb_image(rgb_frame, probe.header())) and
                          wait_until(lambda: probe.answers['labels'], 0.5), 15.0)
        for _ in range(2):      # still WARN after frames were segmented fine
            level, message, values = probe.wait_for_status(lambda level, values: values['frames processed'] != '0')
            assert level == DiagnosticStatus.WARN
            assert 'backend tensorrt unavailable' in message and 'fallback' in values['backend fallback']
    finally:
        stop_nodes(ros, node, probe.node)

"""The node's intake without DDS (seg_perception.ros.streams): header checks, duplicates, one-slot holder, QoS."""

import threading
import time
from collections import Counter
from types import SimpleNamespace

from builtin_interfaces.msg import Time
from rclpy.qos import ReliabilityPolicy
from std_msgs.msg import Header

from seg_perception.ros.streams import (CameraStream, Handoff, LatestFrames, matching_reliability,
                                        reliability_mismatches)

NOW_NS = 1_000 * 10 ** 9


def header(sec: int, nanosec: int = 0, frame_id: str = 'camera') -> Header:
    return Header(stamp=Time(sec=sec, nanosec=nanosec), frame_id=frame_id)


def test_stamps_far_from_the_clock_are_counted_on_either_side_of_the_tolerance():
    stream, counts = CameraStream(''), Counter()
    for sec in (1_000, 1_002, 997, 990, 999):           # now, 2 s ahead, 3 s and 10 s behind, 1 s behind
        assert stream.check_header(header(sec), counts, NOW_NS, tolerance_s=1.5) is None
    assert counts == Counter({'future stamp': 1, 'past stamp': 2, 'out of order': 2})


def test_out_of_order_is_against_the_previous_input_and_unstamped_frames_are_not_compared():
    stream, counts = CameraStream(''), Counter()
    for sec in (1_000, 2_000_000, 1_001, 0, 1_002):     # one stamp from the far future is one count
        stream.check_header(header(sec), counts, NOW_NS, tolerance_s=1e9)
    assert counts == Counter({'out of order': 1})


def test_a_frame_id_change_is_counted_and_told_each_time():
    stream, counts = CameraStream('front'), Counter()
    changes = [stream.check_header(header(0, frame_id=f), counts, NOW_NS, 1.0) for f in ('a', 'a', 'b', 'a')]
    assert changes == [None, None, "'a' -> 'b'", "'b' -> 'a'"]
    assert counts == Counter({'frame_id change': 2})


def test_the_same_stamped_frame_on_the_other_transport_is_a_duplicate_and_unstamped_ones_never_are():
    stream = CameraStream('')
    assert not stream.is_duplicate(header(5, 7), 'image')
    assert stream.is_duplicate(header(5, 7), 'image/compressed')
    assert not stream.is_duplicate(header(5, 7), 'image')                   # the same transport again: a frame
    assert not stream.is_duplicate(header(5, 7, frame_id='other'), 'image/compressed')
    assert not stream.is_duplicate(header(0), 'image') and not stream.is_duplicate(header(0), 'image/compressed')


def test_latest_frames_keeps_the_newest_per_camera_and_tells_a_drop():
    latest = LatestFrames()
    assert not latest.put('front', 1) and latest.put('front', 2) and not latest.put('rear', 3)
    assert latest.take(timeout_s=0.0) == {'front': 2, 'rear': 3}
    assert latest.take(timeout_s=0.0) == {}
    assert not latest.put('front', 4)                   # taken: the next one drops nothing


def test_handoff_never_replaces_a_job_and_idle_waits_for_the_finisher():
    handoff, stopping = Handoff(), threading.Event()
    assert handoff.take(timeout_s=0.0) is None
    assert handoff.put('frame 1', stopping)
    placed = []
    second = threading.Thread(target=lambda: placed.append(handoff.put('frame 2', stopping)))
    second.start()
    time.sleep(0.2)
    assert not placed                                   # the slot is full: the worker waits, nothing is dropped
    assert handoff.take(timeout_s=0.0) == 'frame 1'
    second.join(timeout=2.0)
    assert placed == [True] and handoff.take(timeout_s=0.0) == 'frame 2'
    idle = []
    waiter = threading.Thread(target=lambda: idle.append(handoff.idle(stopping)))
    waiter.start()
    time.sleep(0.2)
    assert not idle                                     # the finisher is still on frame 2
    handoff.done()
    waiter.join(timeout=2.0)
    assert idle == [True] and handoff.idle(stopping)
    # stopping: a waiting put gives up and says so
    assert handoff.put('frame 3', stopping)
    stopping.set()
    assert not handoff.put('frame 4', stopping) and handoff.take(timeout_s=0.0) == 'frame 3'


def test_camera_topics_are_under_the_camera_name():
    assert CameraStream('').topic('image') == 'image' and CameraStream('').label == 'camera'
    assert CameraStream('rear/left').topic('segmentation/labels') == 'rear/left/segmentation/labels'


def endpoint(reliability):
    return SimpleNamespace(qos_profile=SimpleNamespace(reliability=reliability))


def test_one_best_effort_publisher_makes_the_match_best_effort():
    reliable, best_effort = ReliabilityPolicy.RELIABLE, ReliabilityPolicy.BEST_EFFORT
    assert matching_reliability([]) is None
    assert matching_reliability([endpoint(reliable)] * 2) == reliable
    assert matching_reliability([endpoint(reliable), endpoint(best_effort)]) == best_effort


def test_mismatches_name_the_inputs_to_resubscribe_and_leave_those_without_publishers():
    reliable, best_effort = ReliabilityPolicy.RELIABLE, ReliabilityPolicy.BEST_EFFORT
    stream = CameraStream('')
    for topic in ('image', 'image/compressed'):
        stream.inputs[topic] = SimpleNamespace(topic_name=f'/{topic}', qos_profile=SimpleNamespace(
            reliability=reliable))
    publishers = {'/image': [endpoint(best_effort)], '/image/compressed': []}
    assert reliability_mismatches([stream], publishers.get) == [(stream, 'image', stream.inputs['image'],
                                                                 best_effort)]
    publishers['/image'] = [endpoint(reliable)]
    assert reliability_mismatches([stream], publishers.get) == []

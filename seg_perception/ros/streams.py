"""The node's intake: one camera's topics and state, the one-slot holder of its newest frame, and QoS matching.

The subscription callbacks only hand each message to :class:`LatestFrames`, after the checks of its fields
(conversions.check_message: a malformed message never takes the slot of a good frame) and of
:class:`CameraStream` (the same frame on the other transport, stamps far from the clock or out of order, a
changed frame_id); the worker takes the newest frames from there, runs them through the network and hands them
to the finisher through :class:`Handoff`. Nothing here creates or spins a node: the
functions take what the node knows (its clock, its publishers' endpoint info), so they are tested without DDS.
"""

import threading
from collections import Counter, deque
from typing import Callable, Iterable, List, NamedTuple, Optional, Tuple

import numpy as np
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

from ..bags.messages import stamp_ns as header_stamp_ns
from ..segmenter import Segmenter

QOS_CHECK_PERIOD_S = 1.0
RECENT_FRAMES = 8               # frames remembered to skip the same frame arriving on the other transport


def input_qos(reliability: ReliabilityPolicy) -> QoSProfile:
    """A camera input's QoS: the newest message only, with ``reliability``."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=reliability)


def output_qos() -> QoSProfile:
    """The QoS of the node's image and cloud outputs: the newest message, reliable."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE)


def camera_info_qos() -> QoSProfile:
    """CameraInfo's QoS: best effort receives from reliable and best-effort camera drivers alike; it is small."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)


def matching_reliability(publishers: Iterable) -> Optional[ReliabilityPolicy]:
    """Reliability that receives well from all ``publishers`` (TopicEndpointInfo); None if there are none."""
    policies = [p.qos_profile.reliability for p in publishers]
    if not policies:
        return None
    return ReliabilityPolicy.BEST_EFFORT if ReliabilityPolicy.BEST_EFFORT in policies \
        else ReliabilityPolicy.RELIABLE


class LatestFrames:
    """One slot per camera for its newest message: put() replaces what the worker has not taken yet."""

    def __init__(self):
        """Start empty."""
        self._ready = threading.Condition()
        self._items = {}

    def put(self, camera: str, item) -> bool:
        """Store ``item`` as ``camera``'s newest; True if it replaced one that was never taken (a dropped frame)."""
        with self._ready:
            replaced = camera in self._items
            self._items[camera] = item
            self._ready.notify()
        return replaced

    def take(self, timeout_s: float) -> dict:
        """Remove and return every camera's newest item (camera -> item), waiting up to ``timeout_s`` for one."""
        with self._ready:
            if not self._items:
                self._ready.wait(timeout_s)
            items, self._items = self._items, {}
        return items


class Handoff:
    """One slot between the node's two threads: the worker's inferred frames to the finisher.

    The worker puts a frame it has run through the network; the finisher takes it to post-process and publish
    while the worker runs the next one.
    put() waits while the slot holds a job the finisher has not taken: a job is never replaced (every inferred
    frame is published, in order), and the worker takes its next frame only then, so that frame is the newest.
    idle() waits until the finisher has finished everything it was given (one frame at a time: pipeline off).
    """

    def __init__(self):
        """Start empty and idle."""
        self._cv = threading.Condition()
        self._job = None
        self._busy = False

    def put(self, job, stopping: threading.Event) -> bool:
        """Place ``job`` once the slot is free; False (not placed) if ``stopping`` is set first."""
        with self._cv:
            while self._job is not None:
                if stopping.is_set():
                    return False
                self._cv.wait(0.1)
            self._job = job
            self._cv.notify_all()
        return True

    def take(self, timeout_s: float):
        """The job in the slot (the finisher is busy with it until done()), or None after ``timeout_s``."""
        with self._cv:
            if self._job is None:
                self._cv.wait(timeout_s)
            job, self._job = self._job, None
            self._busy = job is not None
            self._cv.notify_all()
        return job

    def done(self):
        """The finisher has finished the job it took."""
        with self._cv:
            self._busy = False
            self._cv.notify_all()

    def idle(self, stopping: threading.Event) -> bool:
        """Wait until the slot is empty and the finisher done; False if ``stopping`` is set first."""
        with self._cv:
            while self._job is not None or self._busy:
                if stopping.is_set():
                    return False
                self._cv.wait(0.1)
        return True


class Served(NamedTuple):
    """What serves frames, replaced whole (one assignment) by a model reload."""

    segmenter: Segmenter
    temporals: dict                     # camera name -> its TemporalFlipCheck
    trusts: dict                        # camera name -> its TrustMonitor (frozen and unstable need the history)
    fallback_warning: str               # '' unless the backend is the fallback one
    label_lut: Optional[np.ndarray]     # model id -> taxonomy id, or None (label_ids: model)
    horizons: dict                      # camera name -> its HorizonTracker (the median horizon over its frames)


class CameraStream:
    """One camera's topics and the state that belongs to it alone (horizon, stamps, frame_id, counts)."""

    def __init__(self, name: str):
        """``name``: '' for the single unprefixed camera, else the prefix of its topics."""
        self.name = name
        self.label = name or 'camera'
        self.inputs = {}                    # IMAGE_TOPIC / COMPRESSED_TOPIC -> subscription
        self.outputs = {}                   # LABELS_TOPIC, ... -> publisher
        self.camera_info = None             # (K, width, height) of the newest CameraInfo
        self.camera_info_sub = None
        self.recent_frames = deque(maxlen=RECENT_FRAMES)
        self.previous_stamp_ns = 0          # of the last input received, to count those out of order
        self.frame_id = None                # of the first input; a change is logged once
        self.counts = Counter()             # received, processed
        self.alarm = False                  # on this camera's newest segmented frame
        self.degraded = ()                  # the trust check's reasons on that frame; () while it is trusted

    def topic(self, relative: str) -> str:
        """``relative`` under this camera's name."""
        return f'{self.name}/{relative}' if self.name else relative

    def is_duplicate(self, header, topic: str) -> bool:
        """True if this stamped frame (stamp, frame_id) came recently on the other transport; else remember it.

        A camera driver with image_transport publishes each frame raw and compressed: the node segments it once.
        Unstamped frames all look alike, so they are never taken for duplicates.
        """
        stamp = header.stamp
        frame = (stamp.sec, stamp.nanosec, header.frame_id)
        other_transport = any(f == frame and t != topic for f, t in self.recent_frames)
        if other_transport and (stamp.sec or stamp.nanosec):
            return True
        self.recent_frames.append((frame, topic))
        return False

    def check_header(self, header, counts: Counter, now_ns: int, tolerance_s: float) -> Optional[str]:
        """Count in ``counts`` stamps far from the clock (``now_ns``) or out of order and frame_id changes.

        Such frames are still segmented (a replayed bag or a camera with a drifting clock is not wrong input),
        but a planner fusing the outputs by stamp or frame should know. Returns the frame_id change as text
        ("'old' -> 'new'") when there is one, else None.
        """
        change = None
        if self.frame_id is not None and header.frame_id != self.frame_id:
            counts['frame_id change'] += 1
            change = f'{self.frame_id!r} -> {header.frame_id!r}'
        self.frame_id = header.frame_id
        stamp_ns = header_stamp_ns(header)
        if stamp_ns == 0:               # unstamped: nothing to compare
            return change
        age_s = (now_ns - stamp_ns) / 1e9
        if age_s < -tolerance_s:
            counts['future stamp'] += 1
        elif age_s > tolerance_s:
            counts['past stamp'] += 1
        # against the previous input, not the newest ever: one stamp from the far future is one count
        if stamp_ns < self.previous_stamp_ns:
            counts['out of order'] += 1
        self.previous_stamp_ns = stamp_ns
        return change


def reliability_mismatches(streams: Iterable[CameraStream],
                           publishers_of: Callable[[str], list]) -> List[Tuple[CameraStream, str, object,
                                                                               ReliabilityPolicy]]:
    """(stream, topic, subscription, wanted) for every input subscribed with another reliability than it wants.

    ``publishers_of``: topic name -> its publishers' TopicEndpointInfo (``Node.get_publishers_info_by_topic``).
    An input without publishers wants nothing: its subscription stays as it is.
    """
    mismatches = []
    for stream in streams:
        for topic, subscription in stream.inputs.items():
            wanted = matching_reliability(publishers_of(subscription.topic_name))
            if wanted is not None and wanted != subscription.qos_profile.reliability:
                mismatches.append((stream, topic, subscription, wanted))
    return mismatches

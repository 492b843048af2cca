"""The segmentation node: camera images in; class labels, a colour overlay, a safe drivable area and alarms out.

Topics are relative names (``image``, ``image/compressed`` and ``camera_info`` in; ``segmentation/*`` and
``/diagnostics`` out), each camera's under its name when ``cameras`` is set. The subscription callbacks only keep
the newest message of each camera in a one-slot holder; one worker thread converts the newest frames, segments
them in one batch through ``Segmenter.segment_cameras`` (one by one with the dense CRF) and publishes the
results with the input's header.

doc/node.md describes the topics, parameters, QoS, diagnostics, several cameras, model reload and limits;
config/seg_perception.yaml holds the parameters' defaults.
"""

import signal
import sys
import textwrap
import threading
import time
from collections import Counter, deque
from typing import Iterable, NamedTuple, Optional

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2
from std_srvs.srv import Trigger

try:
    from rclpy.event_handler import SubscriptionEventCallbacks
except ImportError:     # Humble
    from rclpy.qos_event import SubscriptionEventCallbacks

from .. import backends
from ..ambiguity import TemporalFlipCheck
from ..bags.messages import stamp_ns as header_stamp_ns
from ..camera import CameraModel
from ..crf import CRF_SETTINGS
from ..tensorrt.files import PRECISIONS, REBUILD_POLICIES
from ..model_files import ModelFileError, ModelFiles, default_model
from ..safety_config import SafetyConfig
from ..segmenter import InputError, Segmenter, check_rgb
from ..status_keys import ALARM_COUNT_KEY, ALARM_KEY, ALARM_STAMPS_KEY, format_alarm_stamps, frames_key, status_name
from ..taxonomy import TAXONOMY_CLASSES, taxonomy_lut
from .conversions import array_to_image, compressed_to_rgb, freespace_to_cloud, image_to_rgb

NODE_NAME = 'seg_node'
IMAGE_TOPIC = 'image'
COMPRESSED_TOPIC = 'image/compressed'
LABELS_TOPIC = 'segmentation/labels'
COLOR_TOPIC = 'segmentation/color'
CONFIDENCE_TOPIC = 'segmentation/confidence'
DRIVABLE_TOPIC = 'segmentation/drivable'
AMBIGUOUS_TOPIC = 'segmentation/ambiguous'
FREESPACE_TOPIC = 'segmentation/freespace'
CAMERA_INFO_TOPIC = 'camera_info'
DIAGNOSTICS_TOPIC = '/diagnostics'
RELOAD_SERVICE = '~/reload_model'
# what ``seg_node --help`` lists (doc/node.md has the same table with more words)
TOPICS = (
    ('in', IMAGE_TOPIC, 'sensor_msgs/Image', 'rgb8, bgr8, rgba8, bgra8 or mono8'),
    ('in', COMPRESSED_TOPIC, 'sensor_msgs/CompressedImage', 'jpeg or png'),
    ('in', CAMERA_INFO_TOPIC, 'sensor_msgs/CameraInfo', 'intrinsics for the horizon (remap it to the camera\'s)'),
    ('out', LABELS_TOPIC, 'sensor_msgs/Image mono8', 'class ids of the output taxonomy, or the model\'s (label_ids)'),
    ('out', COLOR_TOPIC, 'sensor_msgs/Image rgb8', 'the class colours blended over the image, while subscribed'),
    ('out', CONFIDENCE_TOPIC, 'sensor_msgs/Image mono8', 'top-1 minus top-2 probability x 255, while subscribed'),
    ('out', DRIVABLE_TOPIC, 'sensor_msgs/Image mono8', '255 where the vehicle may drive'),
    ('out', AMBIGUOUS_TOPIC, 'sensor_msgs/Image mono8', '255 where the ambiguity checks distrust the labels'),
    ('out', FREESPACE_TOPIC, 'sensor_msgs/PointCloud2', 'the free-space boundary, one point per image column'),
    ('out', DIAGNOSTICS_TOPIC, 'diagnostic_msgs/DiagnosticArray', 'every diagnostics_period_s, at once on an alarm'),
    ('service', RELOAD_SERVICE, 'std_srvs/Trigger', 'read the model parameter\'s files again'),
)

RELIABILITY = {'reliable': ReliabilityPolicy.RELIABLE, 'best_effort': ReliabilityPolicy.BEST_EFFORT}
CHOICES = {'backend': tuple(backends.names()), 'reliability': ('auto',) + tuple(RELIABILITY),
           'crf': ('none',) + tuple(CRF_SETTINGS), 'fallback_backend': ('none',) + tuple(backends.names()),
           'engine_precision': PRECISIONS, 'engine_rebuild': REBUILD_POLICIES, 'label_ids': ('taxonomy', 'model')}
LATENCY_STAGES = ('convert', 'preprocess', 'inference', 'crf', 'postprocess', 'checks', 'total', 'end_to_end')
SAFETY_PARAMETERS = {name for name, _, _, _ in SafetyConfig.declarations()}
LATENCY_SAMPLES = 300           # per stage: percentiles over about the last 10-30 s at camera rates
QOS_CHECK_PERIOD_S = 1.0
MAX_INPUT_PIXELS = 4096 * 2160  # DCI 4K; a 4K rgb8 frame is 26.5 MB, its float32 copies 4x that
RECENT_FRAMES = 8               # frames remembered to skip the same frame arriving on the other transport
_STARTUP_ERRORS = (ModelFileError, backends.BackendUnavailable, ParameterException)


def parameter_declarations():
    """(name, default, descriptor) of every parameter; config/seg_perception.yaml repeats the defaults."""
    def choice(description, name):
        return ParameterDescriptor(description=description, read_only=True,
                                   additional_constraints=f'one of {", ".join(CHOICES[name])}')

    return (
        ('model', '', ParameterDescriptor(
            description='model manifest (.json), model file (.onnx/.pt) or model name; empty: the shipped '
                        'default. Setting it (even to the same value) loads that model; if it cannot be '
                        'loaded the change is refused and the running model keeps serving')),
        ('backend', 'onnxruntime', choice('inference backend', 'backend')),
        ('fallback_backend', 'none', choice('backend to run on when backend cannot run here (no TensorRT, '
                                            'pycuda, GPU or PyTorch); none: refuse to start instead',
                                            'fallback_backend')),
        ('engine_precision', 'fp16', choice('tensorrt backend: precision of the engine to run', 'engine_precision')),
        ('engine_rebuild', 'never', choice('tensorrt backend: never: refuse a missing or stale engine with the '
                                           'reason; auto: build it then (once, not at every start)',
                                           'engine_rebuild')),
        ('engine_dir', '', ParameterDescriptor(
            description='tensorrt backend: folder of built engines; empty: engines/cache beside the model',
            read_only=True)),
        ('cameras', Parameter.Type.STRING_ARRAY, ParameterDescriptor(
            description='camera names, each with its own topics under its name (front/image -> '
                        'front/segmentation/labels), segmented together in one batch; unset: one camera, '
                        'the topics without a prefix', read_only=True)),
        ('threads', 0, ParameterDescriptor(
            description='CPU threads for inference; 0: the backend chooses (all cores, up to 8)',
            read_only=True, integer_range=[IntegerRange(from_value=0, to_value=64, step=1)])),
        ('reliability', 'auto', choice('input subscription reliability; auto: match the publishers',
                                       'reliability')),
        ('label_ids', 'taxonomy', choice(f'ids in segmentation/labels: taxonomy: the fixed output taxonomy '
                                         f'({", ".join(TAXONOMY_CLASSES)}; 255 outside it); model: the model\'s '
                                         f'own class ids', 'label_ids')),
        ('crf', 'none', ParameterDescriptor(
            description='refine the labels with the dense CRF before the checks (none on the live path: it costs '
                        'hundreds of milliseconds per frame; diagnostics report it as latency crf); largefov or '
                        'v2_resnet101: DeepLab\'s settings; needs backend torch (class probabilities)',
            additional_constraints=f'one of {", ".join(CHOICES["crf"])}')),
        ('publish_color', True, ParameterDescriptor(
            description='publish segmentation/color (computed only while it has subscribers)')),
        ('color_alpha', 0.5, ParameterDescriptor(
            description='weight of the class colours over the image in segmentation/color',
            floating_point_range=[FloatingPointRange(from_value=0.0, to_value=1.0, step=0.0)])),
        ('diagnostics_period_s', 1.0, ParameterDescriptor(
            description='period of the /diagnostics status',
            floating_point_range=[FloatingPointRange(from_value=0.1, to_value=10.0, step=0.0)])),
        ('error_throttle_s', 5.0, ParameterDescriptor(
            description='at most one error log per this many seconds about rejected frames; 0: log each',
            floating_point_range=[FloatingPointRange(from_value=0.0, to_value=60.0, step=0.0)])),
        ('use_camera_info', True, ParameterDescriptor(
            description='take the horizon from camera_info (with camera_pitch_deg) once it has arrived')),
        ('max_input_pixels', MAX_INPUT_PIXELS, ParameterDescriptor(
            description='refuse input images of more pixels (width x height, claimed by an Image or read from '
                        'a jpeg/png header) before allocating them; default: 4096 x 2160 (DCI 4K)',
            integer_range=[IntegerRange(from_value=1, to_value=2 ** 30, step=1)])),
        ('stamp_tolerance_s', 1.0, ParameterDescriptor(
            description='inputs stamped more than this ahead of or behind the node clock are counted in '
                        'diagnostics (frames future stamp / past stamp), and still segmented',
            floating_point_range=[FloatingPointRange(from_value=0.001, to_value=3600.0, step=0.0)])),
    ) + tuple(_safety_declaration(*d) for d in SafetyConfig.declarations())


def _safety_declaration(name, default, description, bounds):
    """(name, default, descriptor) of one setting of the ambiguity checks (seg_perception.ambiguity)."""
    if bounds is None or isinstance(default, bool):
        return name, default, ParameterDescriptor(description=description)
    low, high = bounds
    if isinstance(default, float):
        return name, default, ParameterDescriptor(description=description, floating_point_range=[
            FloatingPointRange(from_value=float(low), to_value=float(high), step=0.0)])
    return name, default, ParameterDescriptor(description=description, integer_range=[
        IntegerRange(from_value=int(low), to_value=int(high), step=1)])


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


class Served(NamedTuple):
    """What serves frames, replaced whole (one assignment) by a model reload."""

    segmenter: Segmenter
    temporals: dict                     # camera name -> its TemporalFlipCheck
    fallback_warning: str               # '' unless the backend is the fallback one
    label_lut: Optional[np.ndarray]     # model id -> taxonomy id, or None (label_ids: model)


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

    def topic(self, relative: str) -> str:
        """``relative`` under this camera's name."""
        return f'{self.name}/{relative}' if self.name else relative


class SegNode(Node):
    """Segments the newest camera frame; publishes labels, a colour overlay, confidence, drivable area, diagnostics."""

    def __init__(self, **kwargs):
        """Declare the parameters, load the model, then wire publishers, subscriptions, timers, worker.

        ``kwargs`` go to rclpy's Node (context, namespace, parameter_overrides, cli_args, ...). Raises
        ModelFileError, BackendUnavailable or a ParameterException when the node cannot run.
        """
        super().__init__(NODE_NAME, **kwargs)
        self._stopping = threading.Event()
        self._worker = None                   # started last, once everything it uses exists
        # registered before declaring, so that invalid start values (command line, YAML) are refused too
        self.add_on_set_parameters_callback(self._check_parameters)
        for name, default, descriptor in parameter_declarations():
            self.declare_parameter(name, default, descriptor)
        names = self.get_parameter_or('cameras', Parameter('cameras', value=None)).value
        if names is not None:
            bad = [n for n in names if not n or n.startswith(('/', '~')) or n.endswith('/')]
            if not names or bad or len(set(names)) != len(names):
                raise ParameterException(f'camera names must be one or more unique, non-empty relative names '
                                         f'(front, rear/left), got {list(names)}', 'cameras')
        names = names or ['']
        self._streams = {name: CameraStream(name) for name in names}
        # the serving model, its cameras' temporal checks and the backend warning, replaced together (one
        # assignment) by a reload
        self._served = self._load_model(self._param('model'))
        self._reloads = 0
        self._reload_error = 'none'

        self._lock = threading.Lock()         # counts, latencies, recent frames, error log state
        self._counts = Counter()              # received, processed, dropped, rejected, failed, duplicate
        self._reported = (Counter(), time.monotonic())  # counts at the last diagnostics, for rates
        self._latency_ms = {stage: deque(maxlen=LATENCY_SAMPLES) for stage in LATENCY_STAGES}
        self._frame_id_change = 'none'
        self._last_error = ''
        self._error_logged_at = -float('inf')
        self._errors_not_logged = 0
        self._alarm = {'latest': False, 'frames': 0, 'since_status': 0, 'reasons': 'none', 'region': 'none',
                       'stamps': []}
        self._horizon = '-'

        output_qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                                reliability=ReliabilityPolicy.RELIABLE)
        reliability = self._param('reliability')
        for stream in self._streams.values():
            for topic in (LABELS_TOPIC, COLOR_TOPIC, CONFIDENCE_TOPIC, DRIVABLE_TOPIC, AMBIGUOUS_TOPIC,
                          FREESPACE_TOPIC):
                msg_type = PointCloud2 if topic == FREESPACE_TOPIC else Image
                stream.outputs[topic] = self.create_publisher(msg_type, stream.topic(topic), output_qos)
            for topic, msg_type in ((IMAGE_TOPIC, Image), (COMPRESSED_TOPIC, CompressedImage)):
                self._subscribe(stream, topic, msg_type, RELIABILITY.get(reliability, ReliabilityPolicy.RELIABLE))
            # best effort receives from reliable and best-effort camera drivers alike; CameraInfo is small
            stream.camera_info_sub = self.create_subscription(
                CameraInfo, stream.topic(CAMERA_INFO_TOPIC), lambda msg, s=stream: self._on_camera_info(msg, s),
                QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.BEST_EFFORT))
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, DIAGNOSTICS_TOPIC, 10)
        if reliability == 'auto':
            self.create_timer(QOS_CHECK_PERIOD_S, self._match_publishers)
        self._diagnostics_timer = self.create_timer(self._param('diagnostics_period_s'),
                                                    self._publish_diagnostics)
        self._reload_service = self.create_service(Trigger, RELOAD_SERVICE, self._on_reload)

        # Inference takes longer than a frame period; run in the executor's callbacks it would stall
        # the subscriptions, timers and parameter services behind it. One worker thread segments instead.
        self._latest = LatestFrames()
        self._worker = threading.Thread(target=self._work, name='seg_worker', daemon=True)
        self._worker.start()
        model = self.segmenter.model
        topics = ', '.join(f'{sub.topic_name}' for stream in self._streams.values() for sub in stream.inputs.values())
        self.get_logger().info(f'segmenting {topics} with model {model.name} ({model.manifest_path}) on '
                               f'{self.segmenter.backend.describe()}')
        if self._served.fallback_warning:
            self.get_logger().warning(self._served.fallback_warning)

    def destroy_node(self):
        """Stop the worker, then destroy the node's publishers and subscriptions."""
        self._stopping.set()
        if self._worker is not None:    # None when __init__ failed (rclpy destroys such nodes at shutdown)
            self._worker.join(timeout=5.0)
        super().destroy_node()

    def _param(self, name: str):
        return self.get_parameter(name).value

    @property
    def segmenter(self) -> Segmenter:
        """The model serving now."""
        return self._served.segmenter

    def _load_model(self, model: str):
        """The Served (segmenter, temporal checks, fallback warning, label lookup) for ``model`` ('': shipped).

        The backend is ``backend``, or ``fallback_backend`` when that one cannot run here (the warning then says
        why; '' otherwise). Raises ModelFileError or BackendUnavailable (and whatever the runtime raises for a
        corrupt file).
        """
        files = default_model() if not model else ModelFiles.load(model)
        backend, warning = backends.create_with_fallback(
            self._param('backend'), files, fallback=self._param('fallback_backend'), threads=self._param('threads'),
            precision=self._param('engine_precision'), max_batch=len(self._streams),
            engine_rebuild=self._param('engine_rebuild'), engine_dir=self._param('engine_dir') or None,
            log=self.get_logger().info)
        segmenter = Segmenter(files, backend, self._safety_config())
        label_lut = None
        if self._param('label_ids') == 'taxonomy':
            try:
                label_lut = taxonomy_lut(segmenter.classes)
            except (KeyError, ValueError) as e:
                raise ModelFileError(f'model {files.name}: its classes do not map onto the output taxonomy ({e}); '
                                     f'set label_ids to model to publish its own ids') from None
        temporals = {name: TemporalFlipCheck(segmenter.safety.temporal) for name in self._streams}
        return Served(segmenter, temporals, warning, label_lut)

    def _reload(self, model: str) -> Optional[str]:
        """Load ``model`` beside the serving one and swap them; the reason as text if it cannot be loaded."""
        try:
            served = self._load_model(model)
        except Exception as e:  # noqa: BLE001 - whatever the file holds, the serving model stays
            reason = f'model {model or "(shipped default)"!r} not loaded, {self.segmenter.model.name} keeps ' \
                     f'serving: {type(e).__name__}: {e}'
            with self._lock:
                self._reload_error = reason
            self.get_logger().error(reason)
            return reason
        self._served = served
        with self._lock:
            self._reloads += 1
        model_files = served[0].model
        self.get_logger().info(f'reloaded: now serving {model_files.name} ({model_files.manifest_path}) on '
                               f'{served[0].backend.describe()}')
        return None

    def _on_reload(self, request, response):
        """~/reload_model: read the ``model`` parameter's files again and serve them if they load."""
        reason = self._reload(self._param('model'))
        response.success = reason is None
        response.message = reason or f'serving {self.segmenter.model.name} ({self.segmenter.model.manifest_path})'
        return response

    def _check_parameters(self, parameters) -> SetParametersResult:
        """Refuse values outside a parameter's choices (ranges and read-only are the descriptors' job).

        New settings of the checks take effect from the next frame: rclpy has checked the descriptors' ranges
        before calling this, and this is the last check, so the values are as good as set.
        """
        for parameter in parameters:
            choices = CHOICES.get(parameter.name)
            if choices and parameter.value not in choices:
                return SetParametersResult(successful=False, reason=f'{parameter.name} must be one of '
                                           f'{", ".join(choices)}; got {parameter.value!r}')
            if parameter.name == 'crf' and parameter.value != 'none' and self._param('backend') != 'torch':
                return SetParametersResult(successful=False, reason=f'crf {parameter.value} needs the class '
                                           f'probabilities, which only backend torch gives; backend is '
                                           f'{self._param("backend")}')
        started = hasattr(self, '_served')              # not while __init__ declares the parameters
        model = [p.value for p in parameters if p.name == 'model']
        if model and started:
            reason = self._reload(model[-1])
            if reason is not None:
                return SetParametersResult(successful=False, reason=reason)
        changed = {p.name: p.value for p in parameters if p.name in SAFETY_PARAMETERS}
        if changed and started:
            config = self._safety_config(changed)
            window, flips = config.temporal.window, config.temporal.min_flips
            if flips >= window:
                return SetParametersResult(successful=False, reason=f'temporal_min_flips ({flips}) must be less '
                                           f'than temporal_window ({window}): {window} frames have '
                                           f'{window - 1} changes')
            self.segmenter.safety = config
        return SetParametersResult(successful=True)

    def _safety_config(self, changed=None) -> SafetyConfig:
        """The checks' settings from the parameters, with ``changed`` (name -> value) instead where given."""
        values = {name: self._param(name) for name in SAFETY_PARAMETERS}
        values.update(changed or {})
        return SafetyConfig.from_flat(values)

    def _on_camera_info(self, msg: CameraInfo, stream: CameraStream):
        stream.camera_info = (tuple(msg.k), msg.width, msg.height)

    def _camera_model(self, stream: CameraStream, segmenter: Segmenter) -> Optional[CameraModel]:
        """The camera's calibration with the configured mounting, or None (no camera_info, or not to be used)."""
        info = stream.camera_info
        if info is None or not self._param('use_camera_info'):
            return None
        camera = segmenter.safety.camera
        try:
            return CameraModel.from_camera_info(*info, pitch_rad=np.radians(camera.pitch_deg),
                                                height_m=camera.height_m)
        except ValueError as e:
            self._record_error('rejected', f'{stream.camera_info_sub.topic_name}: {e}')
            stream.camera_info = None
            return None

    # --- input ------------------------------------------------------------------------------------------

    def _subscribe(self, stream: CameraStream, topic: str, msg_type, reliability: ReliabilityPolicy):
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=reliability)
        events = None
        if self._param('reliability') == 'auto':
            # rclpy's default handler warns that no messages will be received; _match_publishers
            # re-subscribes within QOS_CHECK_PERIOD_S instead
            events = SubscriptionEventCallbacks(incompatible_qos=lambda event: self.get_logger().debug(
                f'{topic}: a publisher with another reliability appeared; re-subscribing within '
                f'{QOS_CHECK_PERIOD_S:.0f} s'))
        stream.inputs[topic] = self.create_subscription(
            msg_type, stream.topic(topic), lambda msg: self._on_message(msg, stream, topic), qos,
            event_callbacks=events)

    def _on_message(self, msg, stream: CameraStream, topic: str):
        """Keep the newest message for the worker; runs on the executor, so it must stay this short."""
        stamp = msg.header.stamp
        frame = (stamp.sec, stamp.nanosec, msg.header.frame_id)
        topic_name = stream.inputs[topic].topic_name
        with self._lock:
            other_transport = any(f == frame and t != topic for f, t in stream.recent_frames)
            if other_transport and (stamp.sec or stamp.nanosec):
                self._counts['duplicate'] += 1
                return
            stream.recent_frames.append((frame, topic))
            self._counts['received'] += 1
            stream.counts['received'] += 1
            first_frame_id_change = self._check_header(msg.header, stream)
            if self._latest.put(stream.name, (msg, topic_name)):
                self._counts['dropped'] += 1
        if first_frame_id_change:
            self.get_logger().warning(f'{topic_name}: frame_id changed {first_frame_id_change}; further changes '
                                      f'are counted in diagnostics only')

    def _check_header(self, header, stream: CameraStream) -> Optional[str]:
        """Count stamps far from the clock or out of order and frame_id changes; with self._lock held.

        Such frames are still segmented (a replayed bag or a camera with a drifting clock is not wrong input),
        but a planner fusing the outputs by stamp or frame should know. Returns the first frame_id change as
        text, which the caller logs once outside the lock.
        """
        first_change = None
        if stream.frame_id is not None and header.frame_id != stream.frame_id:
            self._counts['frame_id change'] += 1
            self._frame_id_change = f'{stream.frame_id!r} -> {header.frame_id!r}'
            if self._counts['frame_id change'] == 1:
                first_change = self._frame_id_change
        stream.frame_id = header.frame_id
        stamp_ns = header_stamp_ns(header)
        if stamp_ns == 0:               # unstamped: nothing to compare
            return first_change
        age_s = (self.get_clock().now().nanoseconds - stamp_ns) / 1e9
        tolerance_s = self._param('stamp_tolerance_s')
        if age_s < -tolerance_s:
            self._counts['future stamp'] += 1
        elif age_s > tolerance_s:
            self._counts['past stamp'] += 1
        # against the previous input, not the newest ever: one stamp from the far future is one count
        if stamp_ns < stream.previous_stamp_ns:
            self._counts['out of order'] += 1
        stream.previous_stamp_ns = stamp_ns
        return first_change

    def _match_publishers(self):
        """reliability=auto: re-subscribe when the publishers' reliability differs from the subscription's."""
        for stream in self._streams.values():
            for topic, subscription in list(stream.inputs.items()):
                wanted = matching_reliability(self.get_publishers_info_by_topic(subscription.topic_name))
                if wanted is None or wanted == subscription.qos_profile.reliability:
                    continue
                self.get_logger().info(f'{subscription.topic_name}: re-subscribing {wanted.name.lower()} to '
                                       f'match its publishers')
                msg_type = subscription.msg_type
                self.destroy_subscription(subscription)
                self._subscribe(stream, topic, msg_type, wanted)

    # --- processing (worker thread) --------------------------------------------------------------------

    def _work(self):
        while not self._stopping.is_set():
            items = self._latest.take(timeout_s=0.1)
            if not items:
                continue
            try:
                self._process(items, self._served)
            except Exception as e:  # noqa: BLE001 - the worker must outlive any one frame
                if not self.context.ok():
                    return      # shutting down: the publishers are gone
                for _, topic_name in items.values():
                    self._record_error('failed', f'{topic_name}: {type(e).__name__}: {e}')

    def _process(self, items: dict, served: Served):
        """Segment the newest frame of each camera in ``items`` (camera -> (message, topic name)), one batch."""
        segmenter, temporals = served.segmenter, served.temporals
        frames = []     # (stream, message, topic name, rgb, convert ms, camera model)
        for name, (msg, topic_name) in items.items():
            t0 = time.perf_counter()
            try:
                convert = compressed_to_rgb if isinstance(msg, CompressedImage) else image_to_rgb
                # a valid message may still hold an image the network cannot take (one row): refused here, so
                # that it costs only its own camera's frame, not the batch
                rgb = check_rgb(convert(msg, max_pixels=self._param('max_input_pixels')))
            except InputError as e:
                self._record_error('rejected', f'{topic_name}: {e}')
                continue
            stream = self._streams[name]
            frames.append((stream, msg, topic_name, rgb, (time.perf_counter() - t0) * 1e3,
                           self._camera_model(stream, segmenter)))
        if not frames:
            return
        crf_settings = CRF_SETTINGS.get(self._param('crf'))
        if crf_settings is None:
            results = segmenter.segment_cameras([f[3] for f in frames], [f[5] for f in frames],
                                                [temporals[f[0].name] for f in frames])
        else:   # the CRF refines one image at a time
            results = [segmenter.segment(rgb, camera, temporals[stream.name], crf=crf_settings)
                       for stream, _, _, rgb, _, camera in frames]
        for (stream, msg, _, rgb, convert_ms, camera), result in zip(frames, results):
            self._publish(stream, msg.header, rgb, result, camera, served.label_lut)
            self._account(stream, msg.header, result, convert_ms)

    def _account(self, stream: CameraStream, header, result, convert_ms: float):
        """Count a segmented frame, keep its latencies and alarm, and announce a rising alarm at once."""
        latencies = dict(result.timings_ms, convert=convert_ms)
        stamp_ns = header_stamp_ns(header)
        if stamp_ns > 0:    # rclpy's Time refuses (ValueError) the negative seconds a broken driver may send
            latencies['end_to_end'] = (self.get_clock().now().nanoseconds - stamp_ns) / 1e6
        prefix = f'{stream.name}: ' if stream.name else ''
        with self._lock:
            self._counts['processed'] += 1
            stream.counts['processed'] += 1
            for stage, samples in self._latency_ms.items():
                if stage in latencies:
                    samples.append(latencies[stage])
            stream.alarm = result.alarm
            latest = any(s.alarm for s in self._streams.values())
            rising = latest and not self._alarm['latest']
            self._alarm['latest'] = latest
            self._horizon = f'{prefix}{result.horizon_row:.1f} ({result.horizon_source})'
            if result.alarm:
                self._alarm['stamps'].append(stamp_ns)
                self._alarm['frames'] += 1
                self._alarm['since_status'] += 1
                self._alarm['reasons'] = '; '.join(f'{prefix}{r}' for r in result.reasons)
                boxes = np.array([r.region for r in result.reasons])
                self._alarm['region'] = prefix + ','.join(
                    str(v) for v in (*boxes[:, :2].min(0), *boxes[:, 2:].max(0)))
        if rising:
            self.get_logger().warning(f'alarm: {self._alarm["reasons"]}')
            self._publish_diagnostics()     # a planner should not wait for the next period to hear of it

    def _publish(self, stream: CameraStream, header, rgb: np.ndarray, result, camera: Optional[CameraModel],
                 label_lut: Optional[np.ndarray]):
        out = stream.outputs
        labels = result.labels if label_lut is None else label_lut[result.labels]
        out[LABELS_TOPIC].publish(array_to_image(labels, header))
        out[DRIVABLE_TOPIC].publish(array_to_image(result.drivable, header))
        out[AMBIGUOUS_TOPIC].publish(array_to_image(result.ambiguous, header))
        if camera is not None:
            points = camera.ground_points(result.freespace, result.labels.shape)
        else:
            points = np.full((result.freespace.shape[0], 3), np.nan, np.float32)
        out[FREESPACE_TOPIC].publish(freespace_to_cloud(result.freespace, points, header))
        if self._param('publish_color') and out[COLOR_TOPIC].get_subscription_count() > 0:
            out[COLOR_TOPIC].publish(array_to_image(result.overlay(rgb, self._param('color_alpha')), header))
        if out[CONFIDENCE_TOPIC].get_subscription_count() > 0:
            out[CONFIDENCE_TOPIC].publish(array_to_image(result.confidence(), header))

    def _record_error(self, kind: str, text: str):
        """Count a frame that could not be segmented and log it, at most once per error_throttle_s."""
        # Throttled here rather than with the logger's throttle_duration_sec: rclpy refuses (ValueError) a
        # throttle that changes between calls at one call site, and error_throttle_s can change at run time.
        now = time.monotonic()
        with self._lock:
            self._counts[kind] += 1
            self._last_error = text
            if now - self._error_logged_at < self._param('error_throttle_s'):
                self._errors_not_logged += 1
                return
            not_logged, self._errors_not_logged, self._error_logged_at = self._errors_not_logged, 0, now
        more = f' ({not_logged} more since the last message)' if not_logged else ''
        self.get_logger().error(f'dropped a frame: {text}{more}')

    # --- diagnostics -----------------------------------------------------------------------------------

    def _publish_diagnostics(self):
        period_ns = int(self._param('diagnostics_period_s') * 1e9)
        if self._diagnostics_timer.timer_period_ns != period_ns:
            self._diagnostics_timer.timer_period_ns = period_ns
        diagnostics = DiagnosticArray(status=[self._diagnostic_status()])
        diagnostics.header.stamp = self.get_clock().now().to_msg()
        self._diagnostics_pub.publish(diagnostics)

    def _diagnostic_status(self) -> DiagnosticStatus:
        now = time.monotonic()
        with self._lock:
            counts = self._counts.copy()
            previous, since = self._reported
            self._reported = (counts, now)
            percentiles = {stage: np.percentile(list(samples), (50, 99)) if samples else None
                           for stage, samples in self._latency_ms.items()}
            last_error = self._last_error
            alarm = dict(self._alarm)
            self._alarm['since_status'] = 0
            self._alarm['stamps'] = []      # replaced, not cleared: ``alarm`` holds the list
            horizon = self._horizon
            frame_id_change = self._frame_id_change
            reloads, reload_error = self._reloads, self._reload_error
            per_camera = {stream.label: stream.counts.copy() for stream in self._streams.values()}
        fallback = self._served.fallback_warning
        recent = counts - previous
        elapsed_s = max(now - since, 1e-6)
        level, message = self._health(counts, recent, last_error)
        if alarm['latest']:
            level, message = DiagnosticStatus.ERROR, f'ALARM, ambiguity on the path ahead: {alarm["reasons"]}'
        elif alarm['since_status']:
            level = max(level, DiagnosticStatus.WARN)
            message = (f'alarm on {alarm["since_status"]} frame(s) since the last status, clear now '
                       f'(last: {alarm["reasons"]}); {message}')
        if fallback:        # WARN for as long as the node runs on the fallback backend
            level = max(level, DiagnosticStatus.WARN)
            message = f'{message}; {fallback}'
        model = self.segmenter.model
        values = [
            ('backend', self.segmenter.backend.describe()),
            ('backend fallback', fallback or 'none'),
            ('model', f'{model.name} ({model.manifest_path})'),
            ('model sha256', ', '.join(f'{role} {digest[:12]}' for role, digest in
                                       sorted(model.manifest['sha256'].items()))),
            ('model reloads', str(reloads)),
            ('crf', self._param('crf')),
            ('last reload refused', reload_error),
            ('input rate (Hz)', f'{recent["received"] / elapsed_s:.1f}'),
            ('output rate (Hz)', f'{recent["processed"] / elapsed_s:.1f}'),
        ]
        values += [(frames_key(kind), str(counts[kind]))
                   for kind in ('received', 'processed', 'dropped', 'rejected', 'failed', 'duplicate',
                                'future stamp', 'past stamp', 'out of order', 'frame_id change')]
        values.append(('last frame_id change', frame_id_change))
        if len(per_camera) > 1:
            for label, camera_counts in per_camera.items():
                values += [(f'camera {label} frames {kind}', str(camera_counts[kind]))
                           for kind in ('received', 'processed')]
        for stage, p in percentiles.items():
            values += [(f'latency {stage} p50 (ms)', '-' if p is None else f'{p[0]:.1f}'),
                       (f'latency {stage} p99 (ms)', '-' if p is None else f'{p[1]:.1f}')]
        values.append(('last error', last_error or 'none'))
        values += [(ALARM_KEY, 'true' if alarm['latest'] else 'false'), (ALARM_COUNT_KEY, str(alarm['frames'])),
                   ('alarm reasons', alarm['reasons']), ('alarm region', alarm['region']),
                   (ALARM_STAMPS_KEY, format_alarm_stamps(alarm['stamps'])), ('horizon', horizon)]
        return DiagnosticStatus(level=level, name=status_name(self.get_fully_qualified_name()), message=message,
                                hardware_id=self.segmenter.backend.describe(),
                                values=[KeyValue(key=k, value=v) for k, v in values])

    def _health(self, counts: Counter, recent: Counter, last_error: str):
        """(level, message) from the counts since the last status."""
        failed = recent['rejected'] + recent['failed']
        if failed and not recent['processed']:
            return DiagnosticStatus.ERROR, (f'no frame segmented: {failed} input(s) failed since the last '
                                            f'status; last error: {last_error}')
        if failed:
            return DiagnosticStatus.WARN, (f'{recent["rejected"]} input(s) rejected, {recent["failed"]} '
                                           f'failed since the last status')
        if recent['dropped']:
            return DiagnosticStatus.WARN, (f'dropping frames: {recent["dropped"]} of {recent["received"]} '
                                           f'since the last status (input faster than segmentation)')
        if not counts['received']:
            topics = ', '.join(sub.topic_name for stream in self._streams.values()
                               for sub in stream.inputs.values())
            return DiagnosticStatus.OK, f'waiting for images on {topics}'
        return DiagnosticStatus.OK, 'segmenting'


def _shut_down_on_sigterm():
    """Make SIGTERM end the node like SIGINT does.

    rclpy since Humble installs its own handler for both, which wakes the executor at once; an rclpy that only
    handles SIGINT gets SIGINT's Python handler (KeyboardInterrupt) for SIGTERM too, raised when the executor
    next wakes (the diagnostics timer bounds that wait).
    """
    try:
        from rclpy.signals import SignalHandlerOptions, get_current_signal_handlers_options
        if get_current_signal_handlers_options() in (SignalHandlerOptions.SIGTERM, SignalHandlerOptions.ALL):
            return
    except ImportError:
        pass
    signal.signal(signal.SIGTERM, signal.getsignal(signal.SIGINT))


def _shown(default) -> str:
    """A parameter's default as YAML would write it ('unset' for a parameter declared by its type alone)."""
    if isinstance(default, Parameter.Type):
        return 'unset'
    if isinstance(default, bool):
        return str(default).lower()
    return repr(default) if isinstance(default, str) else str(default)


def usage() -> str:
    """What ``seg_node --help`` prints: how to run it, the topics (TOPICS) and every parameter it declares."""
    lines = __doc__.splitlines()
    text = ['usage: seg_node [-h] [--ros-args [-p NAME:=VALUE ...] [--params-file FILE] [-r FROM:=TO ...]]', '',
            lines[0], '',
            'examples:',
            '  ros2 run seg_perception seg_node --ros-args -r image:=/camera/image_raw -p label_ids:=model',
            '  ros2 launch seg_perception seg_perception.launch.py image_topic:=/camera/image_raw', '',
            'topics (relative names, so that namespaces and remapping apply):']
    text += [f'  {kind:<8}{name:<26}{msg_type}: {meaning}' for kind, name, msg_type, meaning in TOPICS]
    text += ['', 'parameters (name, type, default, constraints; `ros2 param describe` gives the same):']
    for name, default, descriptor in parameter_declarations():
        kind = default if isinstance(default, Parameter.Type) else Parameter.Type.from_parameter_value(default)
        facts = [kind.name.lower().replace('_', ' '), f'default {_shown(default)}']
        facts += [descriptor.additional_constraints] if descriptor.additional_constraints else []
        facts += [f'{r.from_value:g} to {r.to_value:g}' for r in descriptor.floating_point_range]
        facts += [f'{r.from_value} to {r.to_value}' for r in descriptor.integer_range]
        facts += ['read-only: set at start'] if descriptor.read_only else []
        text.append(f'  {name} ({"; ".join(facts)})')
        text += textwrap.wrap(descriptor.description, 110, initial_indent=' ' * 6, subsequent_indent=' ' * 6)
    return '\n'.join(text)


def main(args=None) -> int:
    """Run the node until SIGINT or SIGTERM; exit status 1 when it cannot start.

    ``args``: the command line with the program name first (default ``sys.argv``); ``-h``/``--help`` prints
    :func:`usage` and exits 0 without starting ROS, any other argument outside ``--ros-args`` exits 2.
    """
    own = rclpy.utilities.remove_ros_args(args=sys.argv if args is None else list(args))[1:]
    if any(a in ('-h', '--help') for a in own):
        print(usage())
        return 0
    if own:
        print(f'seg_node: error: unrecognized argument {own[0]!r}; ROS arguments follow --ros-args '
              f'(seg_node --help lists the parameters)', file=sys.stderr)
        return 2
    rclpy.init(args=args)
    _shut_down_on_sigterm()
    node = None
    try:
        node = SegNode()
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except _STARTUP_ERRORS as e:
        rclpy.logging.get_logger(NODE_NAME).fatal(f'cannot start: {e}')
        return 1
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main())

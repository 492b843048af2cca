"""The segmentation node: camera images in; class labels, a colour overlay, a safe drivable area and alarms out.

Topics (relative names, so that namespaces and remapping apply):

====  ========================  =====================================================================
in    image                     sensor_msgs/Image: rgb8, bgr8, rgba8, bgra8 or mono8
in    image/compressed          sensor_msgs/CompressedImage: jpeg or png
in    camera_info               sensor_msgs/CameraInfo: intrinsics for the horizon (remap it to the camera's)
out   segmentation/labels       sensor_msgs/Image mono8: class ids (names and colours: the model manifest)
out   segmentation/color        sensor_msgs/Image rgb8: labels blended over the image, while subscribed
out   segmentation/drivable     sensor_msgs/Image mono8: 255 where the vehicle may drive (see below)
out   segmentation/ambiguous    sensor_msgs/Image mono8: 255 where the ambiguity checks distrust the labels
out   segmentation/freespace    sensor_msgs/PointCloud2: the free-space boundary, one point per image column
out   /diagnostics              diagnostic_msgs/DiagnosticArray every ``diagnostics_period_s``, and at once when
                                the alarm rises
====  ========================  =====================================================================

The drivable area, free space and alarm come from seg_perception.ambiguity through Segmenter.segment: road
connected to the vehicle, minus everything the checks distrust (sky below the horizon, sky resting on the road,
sky/obstacle hesitation, sky/obstacle flicker over frames, a vehicle floating above the road) and the road seen
beneath it, with a safety margin, cut above the first non-drivable pixel of each column. The horizon comes from
``camera_info`` with the ``camera_pitch_deg`` and ``camera_height_m`` parameters when it has arrived (and
``use_camera_info``), else from the road's vanishing point, else ``camera_horizon_default_frac``; without
camera_info the checks' margins grow by ``camera_horizon_uncertainty_px``. Every check has its thresholds as
parameters (``sky_below_horizon_*``, ``sky_on_road_*``, ``low_confidence_*``, ``temporal_*``,
``floating_vehicle_*``, ``drivable_*``), changeable at run time.

Free space as sensor_msgs/PointCloud2: an organised 1 x W cloud with float32 fields u, v (the boundary pixel:
column, and row of the nearest non-drivable pixel, -1 when the whole column is free) and x, y, z (where that
pixel meets a level road, in the image's optical frame, metres; NaN without camera_info or at/above the
horizon). A planner reads it without knowing the camera: Nav2's costmap obstacle layer and every PCL tool take
PointCloud2 and transform it through TF by the header's frame_id, clearing along each ray and marking its end
(NaN points, as in depth cameras' organised clouds, are skipped); image-space consumers keep u and v. An Image
or an array message would need the camera model on the planner's side, and std_msgs arrays carry no header.

Every output has the input's resolution and carries the input's header (stamp and frame_id) unchanged. When a
camera publishes both transports, a frame that already came through the other one (same stamp and frame_id)
is skipped.

QoS. Subscriptions keep the last message only. With ``reliability: auto`` they follow the publishers as
rosbag2 does: best effort if any publisher is best effort, else reliable; with no publisher yet, reliable, and
the choice is revisited every second, re-subscribing when publishers appear that do not match. (A best-effort
subscription reaches every publisher, but Fast DDS loses most large frames from a reliable one over best
effort.) Publishers are reliable, keep-last 1: reliable publishers reach reliable and best-effort subscribers
alike, and a stale segmentation is worth nothing, so nothing queues behind a slow subscriber.

Diagnostics: one status, '<node>: segmentation', with the backend as hardware_id; values for the model and its
sha256, input and output rates, frame counts (received, processed, dropped, rejected, failed, duplicate; and,
still segmented, future stamp, past stamp: more than ``stamp_tolerance_s`` off the node clock; out of order:
older than the input received before it; frame_id change, the first of which is also logged), p50/p99 latency
per stage (convert, preprocess, inference, crf when the ``crf`` parameter turns the dense CRF on, postprocess
with checks inside it, checks, total, and end_to_end from the input stamp to publishing), the last error, and
the alarm: on the newest frame or not, alarm frames, its reasons (check, pixels on the path, image region,
strength) and image region (x0,y0,x1,y1), and the horizon used. Level ERROR while the newest frame's alarm is
raised, WARN when an alarm was raised since the last status; otherwise WARN while inputs are rejected or
frames dropped, ERROR when frames arrive but none could be segmented since the last status.

Limits: an image of more than ``max_input_pixels`` pixels is refused before anything is allocated for it,
from the width and height an Image claims (checked against its data length too) or that a jpeg/png header
gives (a small file claiming 60000 x 60000 pixels is never decoded); the error names the parameter.

Model reload: the model is loaded once, at start; a model file replaced or deleted on disk changes nothing
until a reload is asked for, by calling the ``~/reload_model`` service (std_srvs/Trigger: the ``model``
parameter's files read again) or by setting the ``model`` parameter (even to its current value). The new model
is loaded and its sha256 checked beside the running one, which serves until the new one is ready; a reload that
fails (missing, stale or corrupt file) is refused with the reason, and the old model keeps serving. Diagnostics
count the reloads and show the last refusal.

Never a backlog: the subscription callbacks only put the newest message into a one-slot holder
(image_pipeline's BufferQueue pattern) and a single worker thread segments whatever is newest. A message
replaced before the worker took it is counted as dropped.
"""

import signal
import sys
import threading
import time
from collections import Counter, deque
from typing import Iterable, Optional

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2
from std_srvs.srv import Trigger

try:
    from rclpy.event_handler import SubscriptionEventCallbacks
except ImportError:     # Humble
    from rclpy.qos_event import SubscriptionEventCallbacks

from .. import backends, crf
from ..ambiguity import SafetyConfig, TemporalFlipCheck
from ..camera import CameraModel
from ..model_files import ModelFileError
from ..segmenter import InputError, Segmenter
from .conversions import array_to_image, compressed_to_rgb, freespace_to_cloud, image_to_rgb

NODE_NAME = 'seg_node'
IMAGE_TOPIC = 'image'
COMPRESSED_TOPIC = 'image/compressed'
LABELS_TOPIC = 'segmentation/labels'
COLOR_TOPIC = 'segmentation/color'
DRIVABLE_TOPIC = 'segmentation/drivable'
AMBIGUOUS_TOPIC = 'segmentation/ambiguous'
FREESPACE_TOPIC = 'segmentation/freespace'
CAMERA_INFO_TOPIC = 'camera_info'
DIAGNOSTICS_TOPIC = '/diagnostics'
RELOAD_SERVICE = '~/reload_model'

RELIABILITY = {'reliable': ReliabilityPolicy.RELIABLE, 'best_effort': ReliabilityPolicy.BEST_EFFORT}
CRF_SETTINGS = {'largefov': crf.DEEPLAB_LARGEFOV, 'v2_resnet101': crf.DEEPLAB_V2_RESNET101}
CHOICES = {'backend': tuple(backends.names()), 'reliability': ('auto',) + tuple(RELIABILITY),
           'crf': ('none',) + tuple(CRF_SETTINGS)}
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
        ('threads', 0, ParameterDescriptor(
            description='CPU threads for inference; 0: the backend chooses (all cores, up to 8)',
            read_only=True, integer_range=[IntegerRange(from_value=0, to_value=64, step=1)])),
        ('reliability', 'auto', choice('input subscription reliability; auto: match the publishers',
                                       'reliability')),
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


class LatestMessage:
    """A one-slot queue for the newest message: put() replaces what the worker has not taken yet."""

    def __init__(self):
        """Start empty."""
        self._ready = threading.Condition()
        self._item = None

    def put(self, item) -> bool:
        """Store ``item``; True if it replaced one that was never taken (a dropped frame)."""
        with self._ready:
            replaced = self._item is not None
            self._item = item
            self._ready.notify()
        return replaced

    def take(self, timeout_s: float):
        """Remove and return the newest item, waiting up to ``timeout_s``; None if none came."""
        with self._ready:
            if self._item is None:
                self._ready.wait(timeout_s)
            item, self._item = self._item, None
        return item


class SegNode(Node):
    """Segments the newest camera frame; publishes labels, a colour overlay, drivable area, diagnostics."""

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
        # the serving model and its temporal check, replaced together (one assignment) by a reload
        self._served = self._load_model(self._param('model'))
        self._reloads = 0
        self._reload_error = 'none'
        self._camera_info = None              # (K, width, height) of the newest CameraInfo

        self._lock = threading.Lock()         # counts, latencies, recent frames, error log state
        self._counts = Counter()              # received, processed, dropped, rejected, failed, duplicate
        self._reported = (Counter(), time.monotonic())  # counts at the last diagnostics, for rates
        self._latency_ms = {stage: deque(maxlen=LATENCY_SAMPLES) for stage in LATENCY_STAGES}
        self._recent_frames = deque(maxlen=RECENT_FRAMES)
        self._previous_stamp_ns = 0           # of the last input received, to count those out of order
        self._frame_id = None                 # of the first input; a change is logged once
        self._frame_id_change = 'none'
        self._last_error = ''
        self._error_logged_at = -float('inf')
        self._errors_not_logged = 0
        self._alarm = {'latest': False, 'frames': 0, 'since_status': 0, 'reasons': 'none', 'region': 'none'}
        self._horizon = '-'

        output_qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                                reliability=ReliabilityPolicy.RELIABLE)
        self._labels_pub = self.create_publisher(Image, LABELS_TOPIC, output_qos)
        self._color_pub = self.create_publisher(Image, COLOR_TOPIC, output_qos)
        self._drivable_pub = self.create_publisher(Image, DRIVABLE_TOPIC, output_qos)
        self._ambiguous_pub = self.create_publisher(Image, AMBIGUOUS_TOPIC, output_qos)
        self._freespace_pub = self.create_publisher(PointCloud2, FREESPACE_TOPIC, output_qos)
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, DIAGNOSTICS_TOPIC, 10)

        self._inputs = {}
        reliability = self._param('reliability')
        for topic, msg_type in ((IMAGE_TOPIC, Image), (COMPRESSED_TOPIC, CompressedImage)):
            self._subscribe(topic, msg_type, RELIABILITY.get(reliability, ReliabilityPolicy.RELIABLE))
        if reliability == 'auto':
            self.create_timer(QOS_CHECK_PERIOD_S, self._match_publishers)
        # best effort receives from reliable and best-effort camera drivers alike; CameraInfo is small
        self._camera_info_sub = self.create_subscription(
            CameraInfo, CAMERA_INFO_TOPIC, self._on_camera_info,
            QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.BEST_EFFORT))
        self._diagnostics_timer = self.create_timer(self._param('diagnostics_period_s'),
                                                    self._publish_diagnostics)
        self._reload_service = self.create_service(Trigger, RELOAD_SERVICE, self._on_reload)

        # Inference takes longer than a frame period; run in the executor's callbacks it would stall
        # the subscriptions, timers and parameter services behind it. One worker thread segments instead.
        self._latest = LatestMessage()
        self._worker = threading.Thread(target=self._work, name='seg_worker', daemon=True)
        self._worker.start()
        model = self.segmenter.model
        self.get_logger().info(f'segmenting {self._inputs[IMAGE_TOPIC].topic_name} and '
                               f'{self._inputs[COMPRESSED_TOPIC].topic_name} with model {model.name} '
                               f'({model.manifest_path}) on {self.segmenter.backend.describe()}')

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
        return self._served[0]

    def _load_model(self, model: str):
        """(Segmenter, TemporalFlipCheck) for ``model`` (a path or name; empty: the shipped default).

        Raises ModelFileError or BackendUnavailable (and whatever the runtime raises for a corrupt file).
        """
        segmenter = Segmenter.from_model(model or None, backend=self._param('backend'),
                                         threads=self._param('threads'), safety=self._safety_config())
        return segmenter, TemporalFlipCheck(segmenter.safety.temporal)

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

    def _on_camera_info(self, msg: CameraInfo):
        self._camera_info = (tuple(msg.k), msg.width, msg.height)

    def _camera_model(self) -> Optional[CameraModel]:
        """The calibrated camera with the configured mounting, or None (no camera_info, or not to be used)."""
        info = self._camera_info
        if info is None or not self._param('use_camera_info'):
            return None
        camera = self.segmenter.safety.camera
        try:
            return CameraModel.from_camera_info(*info, pitch_rad=np.radians(camera.pitch_deg),
                                                height_m=camera.height_m)
        except ValueError as e:
            self._record_error('rejected', f'{self._camera_info_sub.topic_name}: {e}')
            self._camera_info = None
            return None

    # --- input ------------------------------------------------------------------------------------------

    def _subscribe(self, topic: str, msg_type, reliability: ReliabilityPolicy):
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=reliability)
        events = None
        if self._param('reliability') == 'auto':
            # rclpy's default handler warns that no messages will be received; _match_publishers
            # re-subscribes within QOS_CHECK_PERIOD_S instead
            events = SubscriptionEventCallbacks(incompatible_qos=lambda event: self.get_logger().debug(
                f'{topic}: a publisher with another reliability appeared; re-subscribing within '
                f'{QOS_CHECK_PERIOD_S:.0f} s'))
        self._inputs[topic] = self.create_subscription(
            msg_type, topic, lambda msg: self._on_message(msg, topic), qos, event_callbacks=events)

    def _on_message(self, msg, topic: str):
        """Keep the newest message for the worker; runs on the executor, so it must stay this short."""
        stamp = msg.header.stamp
        frame = (stamp.sec, stamp.nanosec, msg.header.frame_id)
        with self._lock:
            other_transport = any(f == frame and t != topic for f, t in self._recent_frames)
            if other_transport and (stamp.sec or stamp.nanosec):
                self._counts['duplicate'] += 1
                return
            self._recent_frames.append((frame, topic))
            self._counts['received'] += 1
            first_frame_id_change = self._check_header(msg.header)
            if self._latest.put((msg, self._inputs[topic].topic_name)):
                self._counts['dropped'] += 1
        if first_frame_id_change:
            self.get_logger().warning(f'{self._inputs[topic].topic_name}: frame_id changed '
                                      f'{first_frame_id_change}; further changes are counted in diagnostics '
                                      f'only')

    def _check_header(self, header) -> Optional[str]:
        """Count stamps far from the clock or out of order and frame_id changes; with self._lock held.

        Such frames are still segmented (a replayed bag or a camera with a drifting clock is not wrong input),
        but a planner fusing the outputs by stamp or frame should know. Returns the first frame_id change as
        text, which the caller logs once outside the lock.
        """
        first_change = None
        if self._frame_id is not None and header.frame_id != self._frame_id:
            self._counts['frame_id change'] += 1
            self._frame_id_change = f'{self._frame_id!r} -> {header.frame_id!r}'
            if self._counts['frame_id change'] == 1:
                first_change = self._frame_id_change
        self._frame_id = header.frame_id
        stamp_ns = header.stamp.sec * 10 ** 9 + header.stamp.nanosec
        if stamp_ns == 0:               # unstamped: nothing to compare
            return first_change
        age_s = (self.get_clock().now().nanoseconds - stamp_ns) / 1e9
        tolerance_s = self._param('stamp_tolerance_s')
        if age_s < -tolerance_s:
            self._counts['future stamp'] += 1
        elif age_s > tolerance_s:
            self._counts['past stamp'] += 1
        # against the previous input, not the newest ever: one stamp from the far future is one count
        if stamp_ns < self._previous_stamp_ns:
            self._counts['out of order'] += 1
        self._previous_stamp_ns = stamp_ns
        return first_change

    def _match_publishers(self):
        """reliability=auto: re-subscribe when the publishers' reliability differs from the subscription's."""
        for topic, subscription in list(self._inputs.items()):
            wanted = matching_reliability(self.get_publishers_info_by_topic(subscription.topic_name))
            if wanted is None or wanted == subscription.qos_profile.reliability:
                continue
            self.get_logger().info(f'{subscription.topic_name}: re-subscribing {wanted.name.lower()} to '
                                   f'match its publishers')
            msg_type = subscription.msg_type
            self.destroy_subscription(subscription)
            self._subscribe(topic, msg_type, wanted)

    # --- processing (worker thread) --------------------------------------------------------------------

    def _work(self):
        while not self._stopping.is_set():
            item = self._latest.take(timeout_s=0.1)
            if item is None:
                continue
            msg, topic_name = item
            try:
                self._process(msg, topic_name, *self._served)
            except Exception as e:  # noqa: BLE001 - the worker must outlive any one frame
                if not self.context.ok():
                    return      # shutting down: the publishers are gone
                self._record_error('failed', f'{topic_name}: {type(e).__name__}: {e}')

    def _process(self, msg, topic_name: str, segmenter: Segmenter, temporal: TemporalFlipCheck):
        t0 = time.perf_counter()
        try:
            convert = compressed_to_rgb if isinstance(msg, CompressedImage) else image_to_rgb
            rgb = convert(msg, max_pixels=self._param('max_input_pixels'))
            convert_ms = (time.perf_counter() - t0) * 1e3
            camera = self._camera_model()
            result = segmenter.segment(rgb, camera=camera, temporal=temporal,
                                       crf=CRF_SETTINGS.get(self._param('crf')))
        except InputError as e:
            self._record_error('rejected', f'{topic_name}: {e}')
            return
        self._publish(msg.header, rgb, result, camera)
        latencies = dict(result.timings_ms, convert=convert_ms)
        stamp_ns = msg.header.stamp.sec * 10 ** 9 + msg.header.stamp.nanosec
        if stamp_ns > 0:    # rclpy's Time refuses (ValueError) the negative seconds a broken driver may send
            latencies['end_to_end'] = (self.get_clock().now().nanoseconds - stamp_ns) / 1e6
        with self._lock:
            self._counts['processed'] += 1
            for stage, samples in self._latency_ms.items():
                if stage in latencies:
                    samples.append(latencies[stage])
            rising = result.alarm and not self._alarm['latest']
            self._alarm['latest'] = result.alarm
            self._horizon = f'{result.horizon_row:.1f} ({result.horizon_source})'
            if result.alarm:
                self._alarm['frames'] += 1
                self._alarm['since_status'] += 1
                self._alarm['reasons'] = '; '.join(str(r) for r in result.reasons)
                boxes = np.array([r.region for r in result.reasons])
                self._alarm['region'] = ','.join(str(v) for v in (*boxes[:, :2].min(0), *boxes[:, 2:].max(0)))
        if rising:
            self.get_logger().warning(f'alarm: {self._alarm["reasons"]}')
            self._publish_diagnostics()     # a planner should not wait for the next period to hear of it

    def _publish(self, header, rgb: np.ndarray, result, camera: Optional[CameraModel]):
        self._labels_pub.publish(array_to_image(result.labels, header))
        self._drivable_pub.publish(array_to_image(result.drivable, header))
        self._ambiguous_pub.publish(array_to_image(result.ambiguous, header))
        if camera is not None:
            points = camera.ground_points(result.freespace, result.labels.shape)
        else:
            points = np.full((result.freespace.shape[0], 3), np.nan, np.float32)
        self._freespace_pub.publish(freespace_to_cloud(result.freespace, points, header))
        if self._param('publish_color') and self._color_pub.get_subscription_count() > 0:
            self._color_pub.publish(array_to_image(result.overlay(rgb, self._param('color_alpha')), header))

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
            horizon = self._horizon
            frame_id_change = self._frame_id_change
            reloads, reload_error = self._reloads, self._reload_error
        recent = counts - previous
        elapsed_s = max(now - since, 1e-6)
        level, message = self._health(counts, recent, last_error)
        if alarm['latest']:
            level, message = DiagnosticStatus.ERROR, f'ALARM, ambiguity on the path ahead: {alarm["reasons"]}'
        elif alarm['since_status']:
            level = max(level, DiagnosticStatus.WARN)
            message = (f'alarm on {alarm["since_status"]} frame(s) since the last status, clear now '
                       f'(last: {alarm["reasons"]}); {message}')
        model = self.segmenter.model
        values = [
            ('backend', self.segmenter.backend.describe()),
            ('model', f'{model.name} ({model.manifest_path})'),
            ('model sha256', ', '.join(f'{role} {digest[:12]}' for role, digest in
                                       sorted(model.manifest['sha256'].items()))),
            ('model reloads', str(reloads)),
            ('crf', self._param('crf')),
            ('last reload refused', reload_error),
            ('input rate (Hz)', f'{recent["received"] / elapsed_s:.1f}'),
            ('output rate (Hz)', f'{recent["processed"] / elapsed_s:.1f}'),
        ]
        values += [(f'frames {kind}', str(counts[kind]))
                   for kind in ('received', 'processed', 'dropped', 'rejected', 'failed', 'duplicate',
                                'future stamp', 'past stamp', 'out of order', 'frame_id change')]
        values.append(('last frame_id change', frame_id_change))
        for stage, p in percentiles.items():
            values += [(f'latency {stage} p50 (ms)', '-' if p is None else f'{p[0]:.1f}'),
                       (f'latency {stage} p99 (ms)', '-' if p is None else f'{p[1]:.1f}')]
        values.append(('last error', last_error or 'none'))
        values += [('alarm', 'true' if alarm['latest'] else 'false'), ('alarm frames', str(alarm['frames'])),
                   ('alarm reasons', alarm['reasons']), ('alarm region', alarm['region']), ('horizon', horizon)]
        name = f'{self.get_fully_qualified_name().lstrip("/")}: segmentation'
        return DiagnosticStatus(level=level, name=name, message=message,
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
            topics = ', '.join(s.topic_name for s in self._inputs.values())
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


def main(args=None) -> int:
    """Run the node until SIGINT or SIGTERM; exit status 1 when it cannot start."""
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

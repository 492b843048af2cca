"""The segmentation node: camera images in; class labels, a colour overlay, a safe drivable area and alarms out.

Topics are relative names (``image``, ``image/compressed`` and ``camera_info`` in; ``segmentation/*`` and
``/diagnostics`` out), each camera's under its name when ``cameras`` is set. The subscription callbacks only reject
what is malformed (the checks that need no decoding) and keep the newest other message of each camera in a
one-slot holder; one worker thread converts the newest frames and runs them in one batch through the network
(``Segmenter.infer_cameras``), and a finisher thread post-processes and checks them
(``Segmenter.finish_cameras``) and publishes the results with the input's header, while the worker runs the next
frames (``pipeline``; false: the worker waits for the finisher; the dense CRF segments one frame at a time).

This module wires the node; its parts are functions and classes that run without it: ``parameters`` (the
declarations and the checks of values), ``streams`` (the intake: one-slot holder, per-camera state, header checks,
QoS), ``conversions`` (messages <-> arrays) and ``diagnostics`` (the status from the node's counters).
doc/node.md describes the topics, parameters, QoS, diagnostics, several cameras, model reload and limits;
config/seg_perception.yaml holds the parameters' defaults.
"""

import signal
import sys
import threading
import time
from collections import Counter, deque
from typing import Optional

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rcl_interfaces.msg import SetParametersResult
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2
from std_srvs.srv import Trigger

try:
    from rclpy.event_handler import SubscriptionEventCallbacks
except ImportError:     # Humble
    from rclpy.qos_event import SubscriptionEventCallbacks

from .. import backends
from ..ambiguity import TemporalFlipCheck
from ..bags.messages import stamp_ns as header_stamp_ns
from ..camera import CameraModel, HorizonTracker
from ..crf import CRF_SETTINGS
from ..ego_mask import EgoMask
from ..model_files import ModelFileError, ModelFiles, default_model
from ..safety_config import SafetyConfig
from ..segmenter import InputError, Segmenter
from ..trust import TrustMonitor
from ..taxonomy import taxonomy_lut
from .conversions import array_to_image, check_message, freespace_to_cloud, message_to_rgb
from .diagnostics import (LATENCY_SAMPLES, LATENCY_STAGES, ErrorThrottle, Report, alarm_text, degraded_text,
                          diagnostic_status, no_alarm, not_degraded)
from .parameters import (RELIABILITY, SAFETY_PARAMETERS, camera_names, choice_refusal, crf_refusal,
                         ego_mask_refusal, help_lines, parameter_declarations, temporal_refusal)
from .streams import (QOS_CHECK_PERIOD_S, CameraStream, Handoff, LatestFrames, Served, camera_info_qos, input_qos,
                      output_qos, reliability_mismatches)

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
    ('out', DIAGNOSTICS_TOPIC, 'diagnostic_msgs/DiagnosticArray',
     'every diagnostics_period_s, at once on an alarm or a degraded frame'),
    ('service', RELOAD_SERVICE, 'std_srvs/Trigger', 'read the model parameter\'s files again'),
)

_STARTUP_ERRORS = (ModelFileError, backends.BackendUnavailable, ParameterException)


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
        self._finisher = None
        # registered before declaring, so that invalid start values (command line, YAML) are refused too
        self.add_on_set_parameters_callback(self._check_parameters)
        for name, default, descriptor in parameter_declarations():
            self.declare_parameter(name, default, descriptor)
        names = camera_names(self.get_parameter_or('cameras', Parameter('cameras', value=None)).value)
        self._streams = {name: CameraStream(name) for name in names}
        # camera name -> its ego mask (an auto one learns per camera), replaced whole when ego_mask changes
        self._ego_masks = self._make_ego_masks(self._param('ego_mask'))
        # the serving model, its cameras' temporal checks and trust monitors and the backend warning, replaced
        # together (one assignment) by a reload
        self._served = self._load_model(self._param('model'))
        self._reloads = 0
        self._reload_error = 'none'

        self._lock = threading.Lock()         # counts, latencies, recent frames, error log state
        self._counts = Counter()              # received, processed, dropped, rejected, failed, duplicate
        self._reported = (Counter(), time.monotonic())  # counts at the last diagnostics, for rates
        self._latency_ms = {stage: deque(maxlen=LATENCY_SAMPLES) for stage in LATENCY_STAGES}
        self._frame_id_change = 'none'
        self._last_error = ''
        self._error_throttle = ErrorThrottle()
        self._alarm = no_alarm()
        self._degraded = not_degraded()
        self._horizon = '-'

        reliability = self._param('reliability')
        for stream in self._streams.values():
            for topic in (LABELS_TOPIC, COLOR_TOPIC, CONFIDENCE_TOPIC, DRIVABLE_TOPIC, AMBIGUOUS_TOPIC,
                          FREESPACE_TOPIC):
                msg_type = PointCloud2 if topic == FREESPACE_TOPIC else Image
                stream.outputs[topic] = self.create_publisher(msg_type, stream.topic(topic), output_qos())
            for topic, msg_type in ((IMAGE_TOPIC, Image), (COMPRESSED_TOPIC, CompressedImage)):
                self._subscribe(stream, topic, msg_type, RELIABILITY.get(reliability, ReliabilityPolicy.RELIABLE))
            stream.camera_info_sub = self.create_subscription(
                CameraInfo, stream.topic(CAMERA_INFO_TOPIC), lambda msg, s=stream: self._on_camera_info(msg, s),
                camera_info_qos())
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, DIAGNOSTICS_TOPIC, 10)
        if reliability == 'auto':
            self.create_timer(QOS_CHECK_PERIOD_S, self._match_publishers)
        self._diagnostics_timer = self.create_timer(self._param('diagnostics_period_s'),
                                                    self._publish_diagnostics)
        self._reload_service = self.create_service(Trigger, RELOAD_SERVICE, self._on_reload)

        # Inference takes longer than a frame period; run in the executor's callbacks it would stall
        # the subscriptions, timers and parameter services behind it. A worker thread runs the network instead,
        # and a finisher thread post-processes and publishes what it ran.
        self._latest = LatestFrames()
        self._handoff = Handoff()
        self._finisher = threading.Thread(target=self._finish_work, name='seg_finisher', daemon=True)
        self._finisher.start()
        self._worker = threading.Thread(target=self._work, name='seg_worker', daemon=True)
        self._worker.start()
        model = self.segmenter.model
        self.get_logger().info(f'segmenting {", ".join(self._input_topics())} with model {model.name} '
                               f'({model.manifest_path}) on {self.segmenter.backend.describe()}')
        if self.segmenter.backend.selection:
            self.get_logger().info(self.segmenter.backend.selection)
        if self._served.fallback_warning:
            self.get_logger().warning(self._served.fallback_warning)

    def destroy_node(self):
        """Stop the worker, then destroy the node's publishers and subscriptions."""
        self._stopping.set()
        for thread in (self._worker, self._finisher):   # None when __init__ failed (rclpy destroys such nodes)
            if thread is not None:
                thread.join(timeout=5.0)
        super().destroy_node()

    def _param(self, name: str):
        return self.get_parameter(name).value

    def _input_topics(self) -> tuple:
        """The resolved names of every camera's image subscriptions."""
        return tuple(sub.topic_name for stream in self._streams.values() for sub in stream.inputs.values())

    @property
    def segmenter(self) -> Segmenter:
        """The model serving now."""
        return self._served.segmenter

    def _load_model(self, model: str):
        """The Served (segmenter, temporal checks, trust monitors, fallback warning, label lookup) for ``model``.

        ``model`` '': the shipped one. Each camera gets a new temporal check, trust monitor and horizon tracker:
        their history is of the model's labels. They take the settings with each frame (a change of their cell or
        thumbnail sizes restarts their history), so a change of the checks' parameters needs no new ones.

        The backend is ``backend``, or ``fallback_backend`` when that one cannot run here (the warning then says
        why; '' otherwise). Raises ModelFileError or BackendUnavailable (and whatever the runtime raises for a
        corrupt file).
        """
        files = default_model() if not model else ModelFiles.load(model)
        backend, warning = backends.create_with_fallback(
            self._param('backend'), files, fallback=self._param('fallback_backend'), threads=self._param('threads'),
            precision=self._param('engine_precision'), inference_precision=self._param('openvino_precision'),
            max_batch=len(self._streams),
            engine_rebuild=self._param('engine_rebuild'), engine_dir=self._param('engine_dir') or None,
            log=self.get_logger().info)
        segmenter = Segmenter(files, backend, self._safety_config(), aspect=self._param('aspect'))
        label_lut = None
        if self._param('label_ids') == 'taxonomy':
            try:
                label_lut = taxonomy_lut(segmenter.classes)
            except (KeyError, ValueError) as e:
                raise ModelFileError(f'model {files.name}: its classes do not map onto the output taxonomy ({e}); '
                                     f'set label_ids to model to publish its own ids') from None
        temporals = {name: TemporalFlipCheck(segmenter.safety.temporal) for name in self._streams}
        trusts = {name: TrustMonitor() for name in self._streams}
        horizons = {name: HorizonTracker() for name in self._streams}
        return Served(segmenter, temporals, trusts, warning, label_lut, horizons)

    def _make_ego_masks(self, value: str) -> dict:
        """Camera name -> its EgoMask for the ego_mask parameter's ``value`` (already checked)."""
        first = EgoMask(value)
        return {name: first.for_stream() for name in self._streams}

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
            reason = choice_refusal(parameter.name, parameter.value)
            if reason is None and parameter.name == 'crf':
                reason = crf_refusal(parameter.value, self._param('backend'))
            if reason is None and parameter.name == 'ego_mask':
                reason = ego_mask_refusal(parameter.value)
            if reason is not None:
                return SetParametersResult(successful=False, reason=reason)
        started = hasattr(self, '_served')              # not while __init__ declares the parameters
        model = [p.value for p in parameters if p.name == 'model']
        if model and started:
            reason = self._reload(model[-1])
            if reason is not None:
                return SetParametersResult(successful=False, reason=reason)
        ego = [p.value for p in parameters if p.name == 'ego_mask']
        if ego and hasattr(self, '_ego_masks'):
            self._ego_masks = self._make_ego_masks(ego[-1])     # learning again from the next frame
        aspect = [p.value for p in parameters if p.name == 'aspect']
        if aspect and started:
            self.segmenter.aspect = aspect[-1]         # one assignment: the next frame reads it whole
        changed = {p.name: p.value for p in parameters if p.name in SAFETY_PARAMETERS}
        if changed and started:
            config = self._safety_config(changed)
            reason = temporal_refusal(config)
            if reason is not None:
                return SetParametersResult(successful=False, reason=reason)
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
        events = None
        if self._param('reliability') == 'auto':
            # rclpy's default handler warns that no messages will be received; _match_publishers
            # re-subscribes within QOS_CHECK_PERIOD_S instead
            events = SubscriptionEventCallbacks(incompatible_qos=lambda event: self.get_logger().debug(
                f'{topic}: a publisher with another reliability appeared; re-subscribing within '
                f'{QOS_CHECK_PERIOD_S:.0f} s'))
        stream.inputs[topic] = self.create_subscription(
            msg_type, stream.topic(topic), lambda msg: self._on_message(msg, stream, topic), input_qos(reliability),
            event_callbacks=events)

    def _on_message(self, msg, stream: CameraStream, topic: str):
        """Keep the newest message for the worker; runs on the executor, so it must stay this short.

        A message that fails the checks needing no decoding (conversions.check_message, well under a millisecond)
        is rejected here, before it reaches the one-slot holder, the duplicate check or the stamp checks: garbage
        on one transport cannot replace the good frame of the other waiting there, nor pass for its duplicate.
        """
        topic_name = stream.inputs[topic].topic_name
        try:
            check_message(msg, max_pixels=self._param('max_input_pixels'))
        except InputError as e:
            with self._lock:
                self._counts['received'] += 1
                stream.counts['received'] += 1
            self._record_error('rejected', f'{topic_name}: {e}')
            return
        now_ns = self.get_clock().now().nanoseconds
        first_frame_id_change = None
        with self._lock:
            if stream.is_duplicate(msg.header, topic):
                self._counts['duplicate'] += 1
                return
            self._counts['received'] += 1
            stream.counts['received'] += 1
            change = stream.check_header(msg.header, self._counts, now_ns, self._param('stamp_tolerance_s'))
            if change is not None:
                self._frame_id_change = change
                if self._counts['frame_id change'] == 1:
                    first_frame_id_change = change
            if self._latest.put(stream.name, (msg, topic_name)):
                self._counts['dropped'] += 1
        if first_frame_id_change:
            self.get_logger().warning(f'{topic_name}: frame_id changed {first_frame_id_change}; further changes '
                                      f'are counted in diagnostics only')

    def _match_publishers(self):
        """reliability=auto: re-subscribe when the publishers' reliability differs from the subscription's."""
        for stream, topic, subscription, wanted in reliability_mismatches(self._streams.values(),
                                                                          self.get_publishers_info_by_topic):
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
                job = self._infer(items, self._served)
            except Exception as e:  # noqa: BLE001 - the worker must outlive any one frame
                if not self.context.ok():
                    return      # shutting down: the publishers are gone
                for _, topic_name in items.values():
                    self._record_error('failed', f'{topic_name}: {type(e).__name__}: {e}')
                continue
            if job is None or not self._handoff.put(job, self._stopping):
                continue
            if not self._param('pipeline'):
                self._handoff.idle(self._stopping)

    def _finish_work(self):
        while not self._stopping.is_set():
            job = self._handoff.take(timeout_s=0.1)
            if job is None:
                continue
            try:
                self._finish(*job)
            except Exception as e:  # noqa: BLE001 - the finisher must outlive any one frame
                if not self.context.ok():
                    return
                for _, _, topic_name, _, _, _ in job[1]:
                    self._record_error('failed', f'{topic_name}: {type(e).__name__}: {e}')
            finally:
                self._handoff.done()

    def _infer(self, items: dict, served: Served):
        """Convert the newest frame of each camera and run them through the network in one batch.

        ``items``: camera -> (message, topic name). Returns the job for :meth:`_finish`, or None when no frame
        was usable.
        """
        segmenter = served.segmenter
        frames = []     # (stream, message, topic name, rgb, convert ms, camera model)
        for name, (msg, topic_name) in items.items():
            t0 = time.perf_counter()
            try:
                rgb = message_to_rgb(msg, max_pixels=self._param('max_input_pixels'))
            except InputError as e:
                self._record_error('rejected', f'{topic_name}: {e}')
                continue
            stream = self._streams[name]
            frames.append((stream, msg, topic_name, rgb, (time.perf_counter() - t0) * 1e3,
                           self._camera_model(stream, segmenter)))
        if not frames:
            return None
        crf_settings = CRF_SETTINGS.get(self._param('crf'))
        if crf_settings is not None:    # the CRF refines one image at a time, all of it here
            ego_masks = self._ego_masks
            results = [segmenter.segment(rgb, camera, served.temporals[stream.name], crf=crf_settings,
                                         trust=served.trusts[stream.name], ego_mask=ego_masks[stream.name],
                                         horizon=served.horizons[stream.name])
                       for stream, _, _, rgb, _, camera in frames]
            return served, frames, None, results
        return served, frames, segmenter.infer_cameras([f[3] for f in frames]), None

    def _finish(self, served: Served, frames: list, inferred, results):
        """Post-process and check the inferred ``frames`` with their cameras' state, then publish and count them."""
        if results is None:
            ego_masks = self._ego_masks
            names = [f[0].name for f in frames]
            results = served.segmenter.finish_cameras(inferred, [f[5] for f in frames],
                                                      [served.temporals[n] for n in names],
                                                      [served.trusts[n] for n in names],
                                                      [ego_masks[n] for n in names],
                                                      [served.horizons[n] for n in names])
        for (stream, msg, _, rgb, convert_ms, camera), result in zip(frames, results):
            self._publish(stream, msg.header, rgb, result, camera, served.label_lut)
            self._account(stream, msg.header, result, convert_ms)

    def _account(self, stream: CameraStream, header, result, convert_ms: float):
        """Count a segmented frame, keep its latencies, alarm and trust, and announce a rising one of them at once."""
        latencies = dict(result.timings_ms, convert=convert_ms)
        stamp_ns = header_stamp_ns(header)
        if stamp_ns > 0:    # rclpy's Time refuses (ValueError) the negative seconds a broken driver may send
            latencies['end_to_end'] = (self.get_clock().now().nanoseconds - stamp_ns) / 1e6
        prefix = f'{stream.name}: ' if stream.name else ''
        with self._lock:
            self._counts['processed'] += 1
            stream.counts['processed'] += 1
            if result.denoised:         # filtered before the network (denoise_*)
                self._counts['denoised'] += 1
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
                self._alarm['reasons'], self._alarm['region'] = alarm_text(result.reasons, prefix)
            degraded_rising = self._count_degraded(stream, result.degraded_reasons if result.degraded else (),
                                                   stamp_ns)
            degraded_reasons = self._degraded['reasons']
        if rising:
            self.get_logger().warning(f'alarm: {self._alarm["reasons"]}')
        if degraded_rising:
            self.get_logger().warning(f'degraded: {degraded_reasons}; no drivable area, free space unknown')
        if rising or degraded_rising:
            self._publish_diagnostics()     # a planner should not wait for the next period to hear of it

    def _count_degraded(self, stream: CameraStream, reasons: tuple, stamp_ns: int) -> bool:
        """Keep one frame's trust verdict (``reasons``: () when trusted), under the lock; True if it rose."""
        stream.degraded = reasons
        degraded = [s for s in self._streams.values() if s.degraded]
        rising = bool(degraded) and not self._degraded['latest']
        self._degraded['latest'] = bool(degraded)
        if reasons:
            self._degraded['stamps'].append(stamp_ns)
            self._degraded['frames'] += 1
            self._degraded['since_status'] += 1
        if degraded:    # every camera degraded now; else the last degraded frame's reasons stay
            self._degraded['reasons'] = '; '.join(degraded_text(s.degraded, f'{s.name}: ' if s.name else '')
                                                  for s in degraded)
        return rising

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
            not_logged = self._error_throttle.admit(now, self._param('error_throttle_s'))
        if not_logged is None:
            return
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
        served, crf_setting, topics = self._served, self._param('crf'), self._input_topics()
        now = time.monotonic()
        with self._lock:
            counts = self._counts.copy()
            previous, since = self._reported
            self._reported = (counts, now)
            report = Report(
                node_name=self.get_fully_qualified_name(), backend=served.segmenter.backend.describe(),
                fallback=served.fallback_warning, model=served.segmenter.model, crf=crf_setting, input_topics=topics,
                counts=counts, recent=counts - previous, elapsed_s=max(now - since, 1e-6),
                latency_ms={stage: list(samples) for stage, samples in self._latency_ms.items()},
                last_error=self._last_error, alarm=dict(self._alarm), horizon=self._horizon,
                frame_id_change=self._frame_id_change, reloads=self._reloads, reload_error=self._reload_error,
                per_camera={stream.label: stream.counts.copy() for stream in self._streams.values()},
                degraded=dict(self._degraded), ego_mask=self._ego_text(),
                selection=served.segmenter.backend.selection)
            for state in (self._alarm, self._degraded):
                state['since_status'] = 0
                state['stamps'] = []        # replaced, not cleared: the report holds the list
        return diagnostic_status(report)

    def _ego_text(self) -> str:
        """The 'ego mask' diagnostics value: each camera's ego mask (EgoMask.describe)."""
        masks = self._ego_masks
        if len(masks) == 1:
            return next(iter(masks.values())).describe()
        return '; '.join(f'{name}: {mask.describe()}' for name, mask in masks.items())


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
    text += help_lines()
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
    except RuntimeError:
        if rclpy.ok():
            raise
        # a signal shut the context down while the executor made its wait set: rclpy raises RCLError (Jazzy)
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main())

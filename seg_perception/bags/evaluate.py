"""Judge the node from a recorded drive: ``seg-perception eval-bag``.

Ground truth comes from a label-image topic (CARLA's raw semantic tags in the red channel or its CityScapes
palette, Cityscapes label ids, or CamVid ids); predictions from the node's recorded ``segmentation/labels``
(matched to ground truth by header stamp) or, with ``run``, from ``Segmenter`` over the bag's camera frames. Both
are scored on the shared taxonomy (``seg_perception.taxonomy``). Latency is the labels message's receive time in
the bag minus its input's header stamp, so it is end-to-end only when the recorder and the camera share a clock.

Ambiguity alarms against hazards (the rule: :mod:`seg_perception.bags.hazards`). The alarm comes from
``Segmenter`` with ``run``; for a recorded node it comes from ``/diagnostics`` (the status's name and keys:
:mod:`seg_perception.status_keys`): exactly, by input stamp, when the statuses carry ``ALARM_STAMPS_KEY``;
otherwise from the growth of the status's 'alarm frames' count between two statuses, given to the labels
received in between (approximate: see :func:`alarms_from_counts`). The drivable area is ``Segmenter``'s, or the
recorded ``segmentation/drivable``.

Degraded frames (the frame-level trust check, seg_perception.trust) against ground-truth accuracy (the rule:
:mod:`seg_perception.bags.degraded`): ``degraded`` and its reasons come from ``Segmenter`` with ``run`` (one
trust monitor over the ground-truth frames in order), else from the same statuses as the alarm, by input stamp
(``DEGRADED_STAMPS_KEY``; the reasons of a status go to the frames it lists) or from the growth of 'degraded
frames' as above. A recording without the degraded keys gives no degraded verdict. The HTML report and its plots:
:mod:`seg_perception.bags.report`.

Reads bags with the ``rosbags`` library: no ROS installation and no rclpy needed.
"""

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from .. import metrics
from ..camera import HorizonTracker
from ..status_keys import (ALARM_COUNT_KEY, ALARM_KEY, ALARM_STAMPS_KEY, DEGRADED_COUNT_KEY, DEGRADED_KEY,
                           DEGRADED_REASONS_KEY, DEGRADED_STAMPS_KEY, STATUS_SUFFIX, parse_alarm_stamps,
                           parse_degraded_reasons)
from ..trust import TrustMonitor
from .degraded import degraded_report, pixel_accuracy
from ..taxonomy import (CAMVID_CLASSES, SOURCE_CLASSES, TAXONOMY_CLASSES, TAXONOMY_IGNORE, palette_to_taxonomy,
                        taxonomy_lut, to_taxonomy)
from .format import open_bag
from .hazards import HazardRule, drivable_violation_px, hazard, hazard_report
from .messages import as_rgb, image_array, stamp_ns

GT_FORMATS = ('carla', 'carla_legacy', 'carla_palette', 'cityscapes', 'camvid')


def ground_truth(msg, gt_format: str) -> np.ndarray:
    """Taxonomy ids of a ground-truth label image in ``gt_format`` (see GT_FORMATS)."""
    pixels = image_array(msg)
    if gt_format == 'carla_palette':
        if pixels.ndim != 3:
            raise ValueError('--gt-format carla_palette expects a colour image (CARLA\'s CityScapesPalette), got '
                             'a one-channel image; raw tags are --gt-format carla or carla_legacy')
        return palette_to_taxonomy(pixels)
    if pixels.ndim == 3:
        if not gt_format.startswith('carla'):
            raise ValueError(f'--gt-format {gt_format} expects a one-channel label-id image, got a colour image; '
                             f'colour palettes are decoded for CARLA only (--gt-format carla_palette)')
        pixels = pixels[:, :, 0]    # CARLA's raw semantic camera: the tag is the red channel
    if gt_format.startswith('carla') and pixels.max(initial=0) >= len(SOURCE_CLASSES[gt_format]):
        raise ValueError(f'--gt-format {gt_format}: tag {int(pixels.max())} is beyond the layout\'s '
                         f'{len(SOURCE_CLASSES[gt_format])} tags; a CityScapesPalette image (what carla-ros-bridge '
                         f'publishes) is --gt-format carla_palette')
    ids = np.where(pixels > 255, 255, pixels).astype(np.uint8)
    return to_taxonomy(ids, gt_format)


def alarms_from_counts(labels: Sequence[tuple], statuses: Sequence[tuple]) -> Dict[int, bool]:
    """{input stamp: alarm} from (receive ns, stamp) of labels and (receive ns, alarm count, alarm now) statuses.

    The count's growth between two statuses is given to the labels received in between: the first ones when the
    earlier status had the alarm up (a run of alarms going on), else the last ones (the node publishes a status
    at once when the alarm rises). Exact for runs that start or end at a status; labels after the last status
    get no verdict. The first status's count is taken as grown since the first labels: the recording is assumed
    to start with the node.
    """
    labels = sorted(labels)
    alarms: Dict[int, bool] = {}
    start, previous_count, previous_now = 0, None, False
    for receive_ns, count, now in sorted(statuses):
        end = start
        while end < len(labels) and labels[end][0] <= receive_ns:
            end += 1
        between = [stamp for _, stamp in labels[start:end]]
        grown = count if previous_count is None else count - previous_count
        grown = min(max(grown, 0), len(between))
        alarmed = set(between[:grown] if previous_now else between[len(between) - grown:])
        alarms.update({stamp: stamp in alarmed for stamp in between})
        start, previous_count, previous_now = end, count, now
    return alarms


@dataclass
class Frame:
    """One ground-truth frame and what is known about it."""

    stamp_ns: int
    truth: np.ndarray
    pred: Optional[np.ndarray] = None
    latency_ms: Optional[float] = None
    image: Optional[np.ndarray] = None
    confusion: Optional[np.ndarray] = None
    hazard: Optional[bool] = None           # see the module docstring; None: not scored
    alarm: Optional[bool] = None            # None: no verdict known for this frame
    violation_px: Optional[int] = None      # drivable pixels on ground-truth obstacles; None: no drivable area
    accuracy: Optional[float] = None        # pixel accuracy against the ground truth (0..1); None: not scored
    degraded: Optional[bool] = None         # the trust check's verdict; None: no verdict known for this frame
    degraded_reasons: Tuple[str, ...] = ()


@dataclass
class BagEvaluation:
    """Everything ``eval-bag`` reports, and what its plots are drawn from."""

    report: Dict
    confusion: np.ndarray
    frames: List[Frame] = field(default_factory=list)


@dataclass
class _Recorded:
    """One verdict's values (the alarm's, or degraded's) out of a recording's statuses."""

    count_key: str
    now_key: str
    stamps_key: str
    reasons_key: Optional[str] = None
    exact: List[int] = field(default_factory=list)         # stamps listed by the statuses
    counts: List[tuple] = field(default_factory=list)      # (receive ns, count, now, has stamps, reasons)
    reasons: Dict[int, Tuple[str, ...]] = field(default_factory=dict)     # listed stamp -> its status's reasons

    def add(self, values: Dict[str, str], receive_ns: int) -> None:
        """Take one status's values ({key: value}) received at ``receive_ns``."""
        if self.count_key not in values:
            return
        reasons = parse_degraded_reasons(values.get(self.reasons_key, '')) if self.reasons_key else ()
        if self.stamps_key in values:
            stamps = parse_alarm_stamps(values[self.stamps_key])
            self.exact.extend(stamps)
            self.reasons.update({stamp: reasons for stamp in stamps})
        self.counts.append((receive_ns, int(values[self.count_key]), values.get(self.now_key) == 'true',
                            self.stamps_key in values, reasons))


def _diagnostics(msg, receive_ns: int, recorded: Sequence[_Recorded]) -> None:
    """Collect the node's alarm and degraded values from one DiagnosticArray (statuses '<node>: segmentation')."""
    for status in msg.status:
        if status.name.endswith(STATUS_SUFFIX):
            values = {kv.key: kv.value for kv in status.values}
            for verdict in recorded:
                verdict.add(values, receive_ns)


def evaluate_bag(bag: str, gt_topic: str, gt_format: str, *, pred_topic: str = '/segmentation/labels',
                 image_topic: str = '/image', pred_classes: Sequence[str] = CAMVID_CLASSES, segmenter=None,
                 keep_images: bool = False, drivable_topic: str = '/segmentation/drivable',
                 diagnostics_topic: str = '/diagnostics', rule: HazardRule = HazardRule()) -> BagEvaluation:
    """Score a bag's predictions (or ``segmenter``'s over its image frames) against its ground truth."""
    if gt_format not in GT_FORMATS:
        raise ValueError(f'--gt-format {gt_format!r}: expected one of {", ".join(GT_FORMATS)}')
    truths, preds, images, inputs, drivables = {}, {}, {}, set(), {}
    recorded_alarm = _Recorded(ALARM_COUNT_KEY, ALARM_KEY, ALARM_STAMPS_KEY)
    recorded_degraded = _Recorded(DEGRADED_COUNT_KEY, DEGRADED_KEY, DEGRADED_STAMPS_KEY, DEGRADED_REASONS_KEY)
    with open_bag(bag) as reader:
        present = {c.topic: c.msgtype for c in reader.connections}
        needed = [gt_topic, image_topic if segmenter is not None else pred_topic]
        missing = [t for t in needed if t not in present]
        if missing:
            raise ValueError(f'{bag} has no topic {", ".join(missing)}; it holds: '
                             f'{", ".join(f"{t} ({m})" for t, m in sorted(present.items())) or "nothing"}')
        optional = {image_topic} if segmenter is not None else {image_topic, drivable_topic, diagnostics_topic}
        topics = set(needed) | (optional & set(present))
        connections = [c for c in reader.connections if c.topic in topics]
        for connection, receive_ns, data in reader.messages(connections=connections):
            msg = reader.deserialize(data, connection.msgtype)
            if connection.topic == diagnostics_topic:
                _diagnostics(msg, receive_ns, (recorded_alarm, recorded_degraded))
                continue
            stamp = stamp_ns(msg)
            if connection.topic == gt_topic:
                truths[stamp] = ground_truth(msg, gt_format)
            elif connection.topic == image_topic:
                inputs.add(stamp)   # the input frames, for the dropped share
                if segmenter is not None or keep_images:
                    images[stamp] = image_array(msg)
            elif connection.topic == drivable_topic:
                drivables[stamp] = image_array(msg)
            else:
                preds[stamp] = (image_array(msg), receive_ns)
    if not truths:
        raise ValueError(f'{bag}: no messages on the ground-truth topic {gt_topic}')
    alarms, alarm_source = _recorded_alarms(preds, recorded_alarm, diagnostics_topic)
    degradeds, degraded_source = _recorded_alarms(preds, recorded_degraded, diagnostics_topic)
    monitor = TrustMonitor()    # --run: the ground-truth frames in order are the stream
    lut = taxonomy_lut(segmenter.classes if segmenter is not None else pred_classes)
    n = len(TAXONOMY_CLASSES)
    confusion = np.zeros((n, n), np.int64)
    frames, inference_ms = [], []
    horizon = HorizonTracker()      # the drive is one camera's stream: its median horizon, as in the node
    for stamp in sorted(truths):
        frame = Frame(stamp, truths[stamp], image=images.get(stamp))
        if segmenter is not None:
            if frame.image is None:
                continue    # no camera frame for this ground truth: nothing to run on
            result = segmenter.segment(as_rgb(frame.image), trust=monitor, horizon=horizon)
            labels, drivable, frame.alarm = result.labels, result.drivable, bool(result.alarm)
            frame.degraded, frame.degraded_reasons = bool(result.degraded), tuple(result.degraded_reasons)
            inference_ms.append(result.timings_ms['total'])
        elif stamp in preds:
            labels, receive_ns = preds[stamp]
            frame.latency_ms = (receive_ns - stamp) / 1e6
            drivable, frame.alarm = drivables.get(stamp), alarms.get(stamp)
            frame.degraded, frame.degraded_reasons = degradeds.get(stamp, (None, ()))
        else:
            frames.append(frame)
            continue
        if labels.shape != frame.truth.shape:
            _check_aspect(labels.shape, frame.truth.shape, gt_topic)
            labels = cv2.resize(labels, frame.truth.shape[::-1], interpolation=cv2.INTER_NEAREST_EXACT)
        frame.pred = lut[labels]
        frame.confusion = metrics.confusion_matrix(frame.truth, frame.pred, n, TAXONOMY_IGNORE)
        frame.accuracy = pixel_accuracy(frame.confusion)
        frame.hazard = hazard(frame.truth, frame.pred, rule)
        if drivable is not None:
            frame.violation_px = drivable_violation_px(frame.truth, drivable)
        confusion += frame.confusion
        frames.append(frame)
    scored = [f for f in frames if f.confusion is not None]
    report = metrics.summary(confusion, TAXONOMY_CLASSES)
    road = TAXONOMY_CLASSES.index('road')
    drivable = metrics.iou_per_class(confusion)[road]
    expected = inputs or set(truths)
    answered = set(preds) if segmenter is None else {f.stamp_ns for f in scored}
    latencies = [f.latency_ms for f in scored if f.latency_ms is not None]
    report.update({
        'bag': bag, 'gt_topic': gt_topic, 'gt_format': gt_format, 'taxonomy': list(TAXONOMY_CLASSES),
        'predictions': 'Segmenter (--run)' if segmenter is not None else pred_topic,
        'frames_with_ground_truth': len(truths), 'frames_scored': len(scored),
        'drivable_iou': None if np.isnan(drivable) else round(float(drivable) * 100, 2),
        'input_frames': len(expected),
        'dropped_share': round(len(expected - answered) / max(len(expected), 1), 4),
        'latency_ms': _percentiles(latencies),
    })
    report['hazards'] = hazard_report(scored, rule, 'Segmenter (--run)' if segmenter is not None else alarm_source)
    report['degraded'] = degraded_report(scored, 'Segmenter (--run)' if segmenter is not None else degraded_source)
    if segmenter is not None:
        report['inference_ms'] = _percentiles(inference_ms)
    return BagEvaluation(report, confusion, frames)


def _check_aspect(pred_shape, truth_shape, gt_topic: str) -> None:
    (ph, pw), (th, tw) = pred_shape[:2], truth_shape[:2]
    if abs(ph / pw - th / tw) > 0.01 * th / tw:
        raise ValueError(f'predictions are {pw} x {ph} but the ground truth on {gt_topic} is {tw} x {th}: a '
                         f'different aspect ratio, so not the same view; give the semantic camera the RGB camera\'s '
                         f'image size and fov (config/carla_objects.json does for carla-ros-bridge)')


def _recorded_alarms(preds: Dict, recorded: _Recorded, topic: str):
    """({input stamp: verdict} for recorded labels, where the verdicts came from) out of the node's diagnostics.

    A verdict is a bool for the alarm, (bool, reasons) for degraded (``recorded.reasons_key`` set); with counts
    only, a degraded frame gets the reasons of the first status received after its labels.
    """
    counts = recorded.counts
    if not counts:
        return {}, None
    last_status_ns = max(receive_ns for receive_ns, *_ in counts)
    if any(has_stamps for _, _, _, has_stamps, _ in counts):
        alarmed = set(recorded.exact)
        verdicts = {stamp: stamp in alarmed for stamp, (_, receive_ns) in preds.items() if receive_ns <= last_status_ns}
        source = f'{topic} ({recorded.stamps_key!r}, by input stamp)'
        reasons = recorded.reasons
    else:
        labels = [(receive_ns, stamp) for stamp, (_, receive_ns) in preds.items()]
        verdicts = alarms_from_counts(labels, [(receive_ns, count, now) for receive_ns, count, now, _, _ in counts])
        source = f'{topic} ({recorded.count_key!r} per status, approximate)'
        statuses = sorted((receive_ns, status_reasons) for receive_ns, _, _, _, status_reasons in counts)
        reasons = {}
        for stamp, (_, receive_ns) in preds.items():
            later = [r for t, r in statuses if t >= receive_ns]
            reasons[stamp] = later[0] if later else ()
    if recorded.reasons_key is None:
        return verdicts, source
    return {stamp: (v, reasons.get(stamp, ()) if v else ()) for stamp, v in verdicts.items()}, source


def _percentiles(values: Sequence[float]) -> Optional[Dict[str, float]]:
    if not values:
        return None
    return {'p50': round(float(np.percentile(values, 50)), 3), 'p95': round(float(np.percentile(values, 95)), 3),
            'max': round(float(np.max(values)), 3), 'count': len(values)}

"""The node's /diagnostics status, built from a copy of its counters: health level, message and values.

The node copies what it counted (frames, latencies, the alarm, degraded frames, reloads) into a :class:`Report`
under its lock; :func:`diagnostic_status` turns that into the ``DiagnosticStatus`` it publishes. Everything here
is a function of those values, so each level and value is tested with hand-made counts, without a node or DDS.
The status name, the keys its readers look up and the stamps format are seg_perception.status_keys'.
"""

import math
from collections import Counter
from typing import Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

from ..status_keys import (ALARM_COUNT_KEY, ALARM_KEY, ALARM_STAMPS_KEY, DEGRADED_COUNT_KEY, DEGRADED_KEY,
                           DEGRADED_REASONS_KEY, DEGRADED_STAMPS_KEY, format_alarm_stamps, frames_key, status_name)

LATENCY_STAGES = ('convert', 'preprocess', 'inference', 'crf', 'postprocess', 'checks', 'total', 'end_to_end')
LATENCY_SAMPLES = 300           # per stage: percentiles over about the last 10-30 s at camera rates
FRAME_KINDS = ('received', 'processed', 'dropped', 'rejected', 'failed', 'duplicate', 'future stamp', 'past stamp',
               'out of order', 'frame_id change', 'denoised')


def no_alarm() -> dict:
    """The alarm state of a node that has not segmented a frame yet (what :class:`Report` ``alarm`` holds)."""
    return {'latest': False, 'frames': 0, 'since_status': 0, 'reasons': 'none', 'region': 'none', 'stamps': []}


def not_degraded() -> dict:
    """The trust state of a node that has not segmented a frame yet (what :class:`Report` ``degraded`` holds)."""
    return {'latest': False, 'frames': 0, 'since_status': 0, 'reasons': 'none', 'stamps': []}


class Report(NamedTuple):
    """What one status tells, copied from the node (its counters under its lock)."""

    node_name: str                  # fully qualified: the status is named after it
    backend: str                    # Backend.describe(): also the status's hardware_id
    fallback: str                   # the fallback backend's warning; '' while the chosen backend serves
    model: object                   # ModelFiles (name, manifest_path, manifest['sha256'])
    crf: str                        # the crf parameter
    input_topics: Sequence[str]     # resolved names of the image subscriptions
    counts: Counter                 # FRAME_KINDS since the node started
    recent: Counter                 # the same since the last status
    elapsed_s: float                # since the last status
    latency_ms: Dict[str, Iterable[float]]  # stage -> the newest samples
    last_error: str                 # '' if none yet
    alarm: dict                     # as no_alarm(): latest, frames, since_status, reasons, region, stamps (ns)
    horizon: str                    # the newest frame's horizon row and its source
    frame_id_change: str            # the last one ('old' -> 'new'), or 'none'
    reloads: int
    reload_error: str               # why the last reload was refused, or 'none'
    per_camera: Dict[str, Counter]  # camera label -> its received and processed counts
    degraded: dict                  # as not_degraded(): latest, frames, since_status, reasons, stamps (ns)
    ego_mask: str = 'none'          # the ego mask of each camera (EgoMask.describe), 'none' without one
    selection: str = ''             # backend auto: what it chose and why (Backend.selection); '' otherwise


def health(counts: Counter, recent: Counter, last_error: str, input_topics: Sequence[str]) -> Tuple[int, str]:
    """(level, message) from the frame counts: since the start (``counts``) and since the last status."""
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
        return DiagnosticStatus.OK, f'waiting for images on {", ".join(input_topics)}'
    return DiagnosticStatus.OK, 'segmenting'


def status_level(report: Report) -> Tuple[int, str]:
    """(level, message) of a status: the health, raised by an alarm or a degraded frame, or by a fallback.

    An alarm or a degraded frame (seg_perception.trust) on the newest frame is an ERROR whatever the counts say,
    naming its reasons; one that rose and cleared since the last status is at least a WARN; so is every status
    while the node runs on the fallback backend.
    """
    level, message = health(report.counts, report.recent, report.last_error, report.input_topics)
    alarm, degraded = report.alarm, report.degraded
    errors, warnings = [], []
    if alarm['latest']:
        errors.append(f'ALARM, ambiguity on the path ahead: {alarm["reasons"]}')
    elif alarm['since_status']:
        warnings.append(f'alarm on {alarm["since_status"]} frame(s) since the last status, clear now '
                        f'(last: {alarm["reasons"]})')
    if degraded['latest']:
        errors.append(f'degraded: {degraded["reasons"]}')
    elif degraded['since_status']:
        warnings.append(f'degraded on {degraded["since_status"]} frame(s) since the last status, trusted now '
                        f'(last: {degraded["reasons"]})')
    if errors:
        level, message = DiagnosticStatus.ERROR, '; '.join(errors)
    elif warnings:
        level, message = max(level, DiagnosticStatus.WARN), '; '.join(warnings + [message])
    if report.fallback:
        level = max(level, DiagnosticStatus.WARN)
        message = f'{message}; {report.fallback}'
    return level, message


def latency_percentiles(latency_ms: Dict[str, Iterable[float]]) -> Dict[str, Optional[np.ndarray]]:
    """Stage -> its (p50, p99) in ms, or None for a stage without samples."""
    percentiles = {}
    for stage, samples in latency_ms.items():
        samples = list(samples)
        percentiles[stage] = np.percentile(samples, (50, 99)) if samples else None
    return percentiles


def status_values(report: Report) -> List[Tuple[str, str]]:
    """The status's (key, value) pairs, in the order a reader of /diagnostics sees them."""
    model, fallback, recent, elapsed_s = report.model, report.fallback, report.recent, report.elapsed_s
    values = [
        ('backend', report.backend),
        ('backend fallback', fallback or 'none'),
        ('backend selection', report.selection or 'as set (backend parameter)'),
        ('model', f'{model.name} ({model.manifest_path})'),
        ('model sha256', ', '.join(f'{role} {digest[:12]}' for role, digest in
                                   sorted(model.manifest['sha256'].items()))),
        ('model reloads', str(report.reloads)),
        ('crf', report.crf),
        ('last reload refused', report.reload_error),
        ('input rate (Hz)', f'{recent["received"] / elapsed_s:.1f}'),
        ('output rate (Hz)', f'{recent["processed"] / elapsed_s:.1f}'),
    ]
    values += [(frames_key(kind), str(report.counts[kind])) for kind in FRAME_KINDS]
    values.append(('last frame_id change', report.frame_id_change))
    if len(report.per_camera) > 1:
        for label, camera_counts in report.per_camera.items():
            values += [(f'camera {label} frames {kind}', str(camera_counts[kind]))
                       for kind in ('received', 'processed')]
    for stage, p in latency_percentiles(report.latency_ms).items():
        values += [(f'latency {stage} p50 (ms)', '-' if p is None else f'{p[0]:.1f}'),
                   (f'latency {stage} p99 (ms)', '-' if p is None else f'{p[1]:.1f}')]
    alarm = report.alarm
    values.append(('last error', report.last_error or 'none'))
    values += [(ALARM_KEY, 'true' if alarm['latest'] else 'false'), (ALARM_COUNT_KEY, str(alarm['frames'])),
               ('alarm reasons', alarm['reasons']), ('alarm region', alarm['region']),
               (ALARM_STAMPS_KEY, format_alarm_stamps(alarm['stamps']))]
    degraded = report.degraded
    values += [(DEGRADED_KEY, 'true' if degraded['latest'] else 'false'),
               (DEGRADED_COUNT_KEY, str(degraded['frames'])), (DEGRADED_REASONS_KEY, degraded['reasons']),
               (DEGRADED_STAMPS_KEY, format_alarm_stamps(degraded['stamps'])), ('horizon', report.horizon),
               ('ego mask', report.ego_mask)]
    return values


def diagnostic_status(report: Report) -> DiagnosticStatus:
    """The DiagnosticStatus the node publishes for ``report``."""
    level, message = status_level(report)
    return DiagnosticStatus(level=level, name=status_name(report.node_name), message=message,
                            hardware_id=report.backend,
                            values=[KeyValue(key=k, value=v) for k, v in status_values(report)])


def alarm_text(reasons: Sequence, prefix: str = '') -> Tuple[str, str]:
    """('alarm reasons', 'alarm region') values of one frame's alarm reasons, each with the camera ``prefix``.

    The region is the box around every reason's region: 'x0,y0,x1,y1' in pixels.
    """
    boxes = np.array([r.region for r in reasons])
    region = prefix + ','.join(str(v) for v in (*boxes[:, :2].min(0), *boxes[:, 2:].max(0)))
    return '; '.join(f'{prefix}{r}' for r in reasons), region


def degraded_text(reasons: Sequence[str], prefix: str = '') -> str:
    """The 'degraded reasons' value of one frame's trust reasons ('noise, low_margin'), after the camera ``prefix``."""
    return prefix + (', '.join(reasons) or 'none')


class ErrorThrottle:
    """Lets one error message out per period and counts those held back, for a period that may change."""

    def __init__(self):
        """Let the first message out at once."""
        self._logged_at = -math.inf
        self._held_back = 0

    def admit(self, now_s: float, period_s: float) -> Optional[int]:
        """How many were held back since the last admitted one if a message may go out at ``now_s``, else None."""
        if now_s - self._logged_at < period_s:
            self._held_back += 1
            return None
        held_back, self._held_back, self._logged_at = self._held_back, 0, now_s
        return held_back

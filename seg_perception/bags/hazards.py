"""When a recorded frame is a hazard, and when its drivable area violates the ground truth: ``eval-bag``'s rule.

A frame is a *hazard* when, in its ground truth, a person, cyclist or vehicle covers at least
``HazardRule.min_obstacle_share`` of the image inside the path ahead, and the prediction calls at least
``HazardRule.misread_share`` of those pixels sky or road: the misreading the alarm exists for. The path ahead is
the central ``path_width_frac`` of the columns below the row at ``horizon_frac`` of the height (CARLA's level
front cameras put the horizon at mid-height). Every other scored frame is *hazard-free*. The report gives the
alarm recall on hazard frames and the false-alarm rate on hazard-free frames. A *drivable-area violation* is a
frame whose drivable area covers ground-truth obstacles (``VIOLATION_CLASSES``) on more than
``HazardRule.violation_share`` of the image.

The frames judged are :class:`seg_perception.bags.evaluate.Frame` records (their ``truth``, ``hazard``, ``alarm``,
``violation_px`` and ``stamp_ns``); label maps are taxonomy ids.
"""

from dataclasses import asdict, dataclass
from typing import Dict, Optional, Sequence

import cv2
import numpy as np

from ..taxonomy import TAXONOMY_CLASSES

HAZARD_CLASSES = ('person', 'cyclist', 'vehicle')       # obstacles on the path that make a hazard
VIOLATION_CLASSES = ('building', 'fence', 'pole', 'sign', 'vegetation', 'person', 'cyclist', 'vehicle')


@dataclass(frozen=True)
class HazardRule:
    """When a frame is a hazard and when its drivable area violates the ground truth (see the module docstring)."""

    path_width_frac: float = 1 / 3      # the path ahead: the central third of the columns ...
    horizon_frac: float = 0.5           # ... below this row, as a share of the height
    min_obstacle_share: float = 0.002   # obstacle pixels in the path, share of the image, for an obstacle to count
    misread_share: float = 0.2          # share of them predicted sky or road that makes the frame a hazard
    violation_share: float = 0.001      # drivable pixels on ground-truth obstacles, share of the image

    def __post_init__(self):
        """Refuse shares outside 0..1."""
        for name, value in asdict(self).items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f'hazard rule: {name} must be a share between 0 and 1, got {value}')


def path_ahead(shape, rule: HazardRule = HazardRule()) -> np.ndarray:
    """H x W bool mask of the path ahead: the central ``path_width_frac`` columns below the horizon row."""
    h, w = shape
    half = rule.path_width_frac * w / 2
    cols = np.abs(np.arange(w) + 0.5 - w / 2) <= half
    rows = np.arange(h) >= rule.horizon_frac * h
    return rows[:, None] & cols[None, :]


def _ids(names: Sequence[str]) -> np.ndarray:
    return np.array([TAXONOMY_CLASSES.index(n) for n in names], np.uint8)


def hazard(truth: np.ndarray, pred: np.ndarray, rule: HazardRule = HazardRule()) -> bool:
    """Whether a frame is a hazard: an obstacle in the ground truth's path ahead, predicted sky or road."""
    obstacle = np.isin(truth, _ids(HAZARD_CLASSES)) & path_ahead(truth.shape, rule)
    count = np.count_nonzero(obstacle)
    if count < max(1, rule.min_obstacle_share * truth.size):
        return False
    misread = np.count_nonzero(obstacle & np.isin(pred, _ids(('sky', 'road'))))
    return misread >= rule.misread_share * count


def drivable_violation_px(truth: np.ndarray, drivable: np.ndarray) -> int:
    """Pixels of the drivable area (nonzero) that lie on ground-truth obstacles (VIOLATION_CLASSES)."""
    if drivable.shape != truth.shape:
        drivable = cv2.resize(drivable, truth.shape[::-1], interpolation=cv2.INTER_NEAREST_EXACT)
    return int(np.count_nonzero((drivable > 0) & np.isin(truth, _ids(VIOLATION_CLASSES))))


def violates(frame, violation_share: float) -> bool:
    """Whether a frame's drivable area covers ground-truth obstacles on more than ``violation_share`` of it."""
    return frame.violation_px is not None and frame.violation_px > violation_share * frame.truth.size


def hazard_report(frames: Sequence, rule: HazardRule, alarm_source: Optional[str]) -> Dict:
    """Alarm recall on hazard frames, false-alarm rate on hazard-free frames, drivable-area violations."""
    judged = [f for f in frames if f.alarm is not None]
    hazards = [f for f in judged if f.hazard]
    clear = [f for f in judged if not f.hazard]
    with_drivable = [f for f in frames if f.violation_px is not None]
    violations = [f for f in with_drivable if violates(f, rule.violation_share)]

    def share(part, whole):
        return round(len(part) / len(whole), 4) if whole else None

    return {
        'rule': {**asdict(rule), 'hazard_classes': list(HAZARD_CLASSES), 'violation_classes': list(VIOLATION_CLASSES)},
        'alarm_source': alarm_source,
        'hazard_frames': sum(bool(f.hazard) for f in frames), 'frames_with_alarm_verdict': len(judged),
        'alarms': sum(f.alarm for f in judged),
        'alarm_recall': share([f for f in hazards if f.alarm], hazards),
        'false_alarm_rate': share([f for f in clear if f.alarm], clear),
        'hazard_free_frames': len(clear),
        'frames_with_drivable': len(with_drivable),
        'drivable_violation_frames': len(violations),
        'drivable_violation_share': share(violations, with_drivable),
        'drivable_violation_stamps_ns': [f.stamp_ns for f in violations][:20],
        'missed_hazard_stamps_ns': [f.stamp_ns for f in hazards if not f.alarm][:20],
    }

"""Degraded frames against ground-truth accuracy: ``eval-bag``'s silent failures and over-caution.

Each scored frame's *pixel accuracy* is the share of its labelled ground-truth pixels (on the shared taxonomy)
that the prediction gets right. A frame *fails* under ``FAIL_BELOW`` (75%) and is a *silent failure* when it then
raised neither the ambiguity alarm nor ``degraded`` (the frame-level trust check, seg_perception.trust): a
confident, wrong picture that a planner gets with no word that it is wrong. A frame at ``ACCURATE_FROM`` (85%) or
more that raised ``degraded`` is *over-caution*: a needless stop. The rates are those of benchmarks/trust_figures.py,
over the frames of a recorded drive instead of corrupted dataset frames: the silent-failure rate over the frames
with a degraded verdict, over-caution over the accurate ones among them.

The frames judged are :class:`seg_perception.bags.evaluate.Frame` records (their ``confusion``, ``alarm``,
``degraded`` and ``degraded_reasons``).
"""

from typing import Dict, Optional, Sequence

import numpy as np

FAIL_BELOW = 0.75       # a frame under this pixel accuracy fails
ACCURATE_FROM = 0.85    # a frame at this pixel accuracy or more is accurate: degraded there is over-caution
STAMPS_LISTED = 20      # the first stamps of each kind the report lists


def pixel_accuracy(confusion: np.ndarray) -> Optional[float]:
    """Share of the scored pixels of a confusion matrix (rows: truth) on its diagonal; None with no pixels."""
    total = int(confusion.sum())
    return float(np.trace(confusion)) / total if total else None


def silent(frame) -> bool:
    """Whether a frame with a degraded verdict fails and raised neither the alarm nor degraded."""
    return (frame.degraded is not None and frame.accuracy is not None and frame.accuracy < FAIL_BELOW
            and not frame.degraded and not frame.alarm)


def cautious(frame) -> bool:
    """Whether a frame is accurate and was degraded all the same."""
    return bool(frame.degraded) and frame.accuracy is not None and frame.accuracy >= ACCURATE_FROM


def degraded_report(frames: Sequence, source: Optional[str]) -> Dict:
    """The degraded frames of a drive, their reasons, the silent-failure rate and the over-caution."""
    scored = [f for f in frames if f.accuracy is not None]
    judged = [f for f in scored if f.degraded is not None]
    degraded = [f for f in judged if f.degraded]
    failing = [f for f in judged if f.accuracy < FAIL_BELOW]
    accurate = [f for f in judged if f.accuracy >= ACCURATE_FROM]
    silent_frames = [f for f in judged if silent(f)]
    cautious_frames = [f for f in judged if cautious(f)]
    reasons: Dict[str, int] = {}
    for frame in degraded:
        for reason in frame.degraded_reasons or ('unknown',):
            reasons[reason] = reasons.get(reason, 0) + 1

    def share(part, whole):
        return round(len(part) / len(whole), 4) if whole else None

    return {
        'degraded_source': source,
        'fail_below': FAIL_BELOW, 'accurate_from': ACCURATE_FROM,
        'pixel_accuracy_mean': round(float(np.mean([f.accuracy for f in scored])) * 100, 2) if scored else None,
        'frames_with_degraded_verdict': len(judged),
        'degraded_frames': len(degraded),
        'degraded_share': share(degraded, judged),
        'degraded_reasons': dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
        'failing_frames': len(failing),
        'silent_failures': len(silent_frames),
        'silent_failure_rate': share(silent_frames, judged),
        'silent_of_failing': share(silent_frames, failing),
        'accurate_frames': len(accurate),
        'cautious_frames': len(cautious_frames),
        'over_caution': share(cautious_frames, accurate),
        'degraded_stamps_ns': [f.stamp_ns for f in degraded][:STAMPS_LISTED],
        'silent_failure_stamps_ns': [f.stamp_ns for f in silent_frames][:STAMPS_LISTED],
    }

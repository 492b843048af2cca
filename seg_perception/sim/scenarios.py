"""The hazard scenarios and the figures the ambiguity checks must meet (issue 5).

A suite is a list of :class:`Scenario`: a rendered street (seed) with one hard case, deterministic by seed.
Hazard scenarios put a white or sky-coloured trailer or a truck side across the road, under a bright or overcast
sky; hazard-free ones are plain streets, overpasses, tunnel exits and low suns, at varied camera pitch.
:func:`run_suite` segments them through :class:`Segmenter` (the node's path) and measures:

- hazard handled: the drivable area excludes at least 98% of the hazard's pixels (the hazard and the road seen
  beneath it); goal >= 99% of hazard frames;
- false alarm: the alarm is raised on a hazard-free frame; goal <= 1% of rendered frames, <= 2% of CamVid val;
- degraded: the frame-level trust check (:mod:`seg_perception.trust`) distrusts the frame; on clean frames each
  is a needless stop, goal <= 1% of hazard-free rendered frames and of CamVid frames;
- drivable IoU and recall against the road ahead in the ground truth (:func:`road_ahead`); recall goal >= 85% on
  CamVid val;
- time of the checks per frame (``timings_ms['checks']``); goal <= 5 ms at 480 x 360.

Pure numpy/OpenCV on top of the Segmenter; no ROS imports.
"""

from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from ..drivable import connected_road, safe_drivable
from ..safety_config import SafetyConfig
from .scenes import render_frame

HANDLED_SHARE = 0.98              # a hazard frame is handled when the drivable area excludes this share of it
GOALS = {'hazard_handled': 0.99, 'false_alarm_rendered': 0.01, 'false_alarm_camvid': 0.02,
         'drivable_recall_camvid': 0.85, 'checks_ms': 5.0, 'degraded_clean': 0.01}

HAZARD_CASES = ('white_trailer', 'white_trailer_overcast', 'sky_trailer', 'sky_trailer_overcast', 'truck_side',
                'truck_side_overcast')
CLEAR_CASES = ('street', 'overpass', 'tunnel_exit', 'low_sun')


@dataclass(frozen=True)
class Scenario:
    """One rendered frame of the suite: which case, and every option of :func:`render_frame`."""

    seed: int
    case: str
    options: Tuple[Tuple[str, object], ...]

    @property
    def hazardous(self) -> bool:
        """Whether a hazard crosses the road."""
        return dict(self.options).get('hazard') is not None

    def render(self, height: int = 360, width: int = 480):
        """The frame and its ground truth (a :class:`seg_perception.sim.scenes.RenderedFrame`)."""
        return render_frame(self.seed, height, width, **dict(self.options))


def scenario(seed: int, hazardous: bool, distance_m: Tuple[float, float] = (10.0, 50.0)) -> Scenario:
    """The scenario of ``seed``: its case and options follow from the seed alone."""
    rng = np.random.default_rng([seed, 5005, int(hazardous)])
    options = {'pitch_deg': round(float(rng.uniform(-2.0, 2.0)), 2), 't': round(float(rng.uniform(0, 0.5)), 2)}
    if hazardous:
        case = HAZARD_CASES[seed % len(HAZARD_CASES)]
        overcast = case.endswith('_overcast')
        options.update(hazard=case.replace('_overcast', ''), overcast=overcast,
                       hazard_distance=round(float(rng.uniform(*distance_m)), 1),
                       sky_brightness=round(float(rng.uniform(0.55, 0.8) if overcast else rng.uniform(0.85, 1.0)), 2),
                       low_sun=bool(rng.random() < 0.15))
    else:
        case = CLEAR_CASES[seed % len(CLEAR_CASES)]
        if case in ('overpass', 'tunnel_exit'):
            options.update(structure=case, structure_distance=round(float(rng.uniform(15, 60)), 1))
        if case == 'low_sun':
            options.update(low_sun=True, sky_brightness=round(float(rng.uniform(0.8, 1.0)), 2))
    return Scenario(int(seed), case, tuple(sorted(options.items())))


def scenario_suite(seeds: Iterable[int], distance_m: Tuple[float, float] = (10.0, 50.0)) -> List[Scenario]:
    """A hazard scenario and a hazard-free one for every seed."""
    suite = []
    for seed in seeds:
        suite += [scenario(seed, True, distance_m), scenario(seed, False, distance_m)]
    return suite


def road_ahead(labels: np.ndarray, classes: Sequence[str], ignore_index: Optional[int] = None) -> np.ndarray:
    """H x W bool: the ground truth's road ahead, the reference for the drivable area's IoU and recall.

    The road connected to the ego region, holes without obstacles filled, up to the first non-road pixel in
    each column: the drivable area a perfect segmentation with no ambiguity would give. Unlabelled
    (``ignore_index``) pixels do not end the road.
    """
    config = SafetyConfig()
    labels = np.asarray(labels)
    if ignore_index is not None:
        road_id = list(classes).index('road')
        void = labels == ignore_index
        labels = np.where(void, np.uint8(road_id), labels).astype(np.uint8)
    candidate = connected_road(labels, classes, config)
    drivable, _ = safe_drivable(candidate, np.zeros(labels.shape, bool), 0)
    ahead = drivable > 0
    if ignore_index is not None:
        ahead &= ~void
    return ahead


@dataclass
class FrameResult:
    """Figures of one frame."""

    name: str
    case: str
    hazardous: bool
    alarm: bool
    reasons: Tuple[str, ...]
    hazard_excluded: float          # share of the hazard's pixels outside the drivable area (nan: no hazard)
    intersection: int               # drivable & road ahead
    drivable_px: int
    road_ahead_px: int
    checks_ms: float
    horizon_source: str
    degraded: bool = False          # the frame-level trust check's verdict (seg_perception.trust)


def evaluate_frame(name: str, case: str, result, truth: np.ndarray, classes: Sequence[str],
                   hazard: Optional[np.ndarray] = None, ignore_index: Optional[int] = None) -> FrameResult:
    """Compare one Segmentation with its ground truth labels (and hazard mask)."""
    drivable = result.drivable > 0
    ahead = road_ahead(truth, classes, ignore_index)
    excluded = float('nan')
    hazardous = hazard is not None and bool(hazard.any())
    if hazardous:
        excluded = 1.0 - np.count_nonzero(drivable & hazard) / np.count_nonzero(hazard)
    return FrameResult(name, case, hazardous, bool(result.alarm), tuple(str(r) for r in result.reasons),
                       excluded, int(np.count_nonzero(drivable & ahead)), int(np.count_nonzero(drivable)),
                       int(np.count_nonzero(ahead)), float(result.timings_ms['checks']), result.horizon_source,
                       bool(result.degraded))


def run_suite(segmenter, suite: Sequence[Scenario], use_camera: bool = True, height: int = 360, width: int = 480,
              progress=None) -> List[FrameResult]:
    """Render and segment every scenario; ``use_camera``: give the checks the frame's camera model."""
    results = []
    for i, sc in enumerate(suite):
        frame = sc.render(height, width)
        out = segmenter.segment(frame.rgb, camera=frame.camera if use_camera else None)
        results.append(evaluate_frame(f'seed {sc.seed}', sc.case, out, frame.labels, segmenter.classes,
                                      frame.hazard if sc.hazardous else None))
        if progress is not None:
            progress(i + 1, len(suite))
    return results


def run_dataset(segmenter, data, progress=None) -> List[FrameResult]:
    """Segment a labelled dataset (datasets.LabelledImages) without a camera model; frames have no hazard."""
    results = []
    for i, (image, labels, name) in enumerate(zip(data.images, data.labels, data.names)):
        out = segmenter.segment(image)
        results.append(evaluate_frame(name, 'camvid', out, labels, data.classes, None, data.ignore_index))
        if progress is not None:
            progress(i + 1, len(data.images))
    return results


def summarise(results: Sequence[FrameResult]) -> Dict[str, float]:
    """The issue's figures over a set of frame results (NaN where a figure has no frames)."""
    hazard = [r for r in results if r.hazardous]
    clear = [r for r in results if not r.hazardous]
    inter = sum(r.intersection for r in results)
    drivable = sum(r.drivable_px for r in results)
    ahead = sum(r.road_ahead_px for r in results)
    ms = np.array([r.checks_ms for r in results]) if results else np.array([np.nan])

    def rate(items, key):
        return float(np.mean([key(r) for r in items])) if items else float('nan')

    return {
        'frames': len(results), 'hazard_frames': len(hazard), 'clear_frames': len(clear),
        'hazard_handled': rate(hazard, lambda r: r.hazard_excluded >= HANDLED_SHARE),
        'hazard_alarm': rate(hazard, lambda r: r.alarm),
        'false_alarm': rate(clear, lambda r: r.alarm),
        'degraded': rate(results, lambda r: r.degraded),
        'degraded_clear': rate(clear, lambda r: r.degraded),
        'drivable_iou': inter / max(drivable + ahead - inter, 1),
        'drivable_recall': inter / max(ahead, 1),
        'drivable_precision': inter / max(drivable, 1),
        'checks_ms_p50': float(np.percentile(ms, 50)), 'checks_ms_p99': float(np.percentile(ms, 99)),
        'checks_ms_mean': float(np.mean(ms)),
    }


def by_case(results: Sequence[FrameResult]) -> Dict[str, Dict[str, float]]:
    """:func:`summarise` per case."""
    cases = sorted({r.case for r in results})
    return {case: summarise([r for r in results if r.case == case]) for case in cases}

"""Checks that notice when the segmentation is implausible, and the safe drivable area they leave.

A white trailer across the road under a bright sky looks like sky to a network, and a flat-world free space
then runs under it. Each check below looks for one physical impossibility or one sign of doubt, as a pure
function of the label map (and the margin, top-1 minus top-2 probability) with its own parameters:

1. :func:`sky_below_horizon` -- a road vehicle's camera cannot see sky below the horizon of a level road;
2. :func:`sky_on_road` -- sky cannot rest on the road ahead: its lower edge bordering the drivable region
   below the horizon is an obstacle seen as sky;
3. :func:`low_confidence` -- below the horizon, pixels where the network hesitates between sky and an obstacle;
4. :class:`TemporalFlipCheck` -- a region of the path ahead that flips between sky and obstacle over
   consecutive frames (stateful: the node keeps one per camera);
5. :func:`floating_vehicle` -- a vehicle resting on the road that would be taller than any vehicle if it stood
   there: its lower edge floats above the road (a trailer's side seen correctly as a vehicle, with the road
   visible under it), so the flat-world free space under it is false.

:func:`assess` runs them, marks what they flagged as ambiguous together with the road seen beneath it (the
under-ride region: an obstacle whose lower edge floats above the road hides the road under it), and computes the
drivable area and free-space boundary without it. It raises the alarm when an ambiguity touches the path ahead.

:func:`check_frame` is the one call :meth:`Segmenter.postprocess <seg_perception.segmenter.Segmenter.postprocess>`
makes, with the road and the horizon it has taken: the settings for that horizon (safety_config.for_horizon), the
temporal check, :func:`assess` and the frame-level trust check (seg_perception.trust), whose degraded verdict
empties the drivable area.

Pure numpy and OpenCV; no ROS imports.
"""

import math
from collections import deque
from dataclasses import dataclass, replace
from typing import Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from .drivable import beneath_far_obstacles, freespace_boundary, path_corridor, safe_drivable
from .safety_config import FloatingVehicleParams, LowConfidenceParams, SafetyConfig, SkyBelowHorizonParams, \
    SkyOnRoadParams, TemporalParams, for_horizon, horizon_extra_px
from .taxonomy import ClassIds, class_ids
from .trust import Trust, TrustMonitor


# --- findings ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Finding:
    """What one check flagged: ``mask`` (H x W bool), whether it ``fired``, and its ``strength``.

    ``strength`` is the evidence over the check's alarm threshold: 1.0 just reaches it, 3.0 is three times it.
    A finding that fired keeps its pixels out of the drivable area; it may raise the alarm only when
    ``may_alarm`` (a check can distrust the road on weaker evidence than it alarms on).
    """

    check: str
    mask: np.ndarray
    fired: bool
    strength: float
    may_alarm: bool = True


@dataclass(frozen=True)
class Reason:
    """Why the alarm is raised: which check, where on the path ahead (x0, y0, x1, y1; end exclusive), how strongly."""

    check: str
    region: Tuple[int, int, int, int]
    pixels: int
    strength: float

    def __str__(self) -> str:
        x0, y0, x1, y1 = self.region
        return (f'{self.check}: {self.pixels} px on the path at x {x0}..{x1 - 1}, y {y0}..{y1 - 1}, '
                f'{self.strength:.1f}x threshold')


def _lut(ids: Sequence[int], value=1) -> np.ndarray:
    lut = np.zeros(256, np.uint8)
    lut[np.asarray(list(ids), np.int64)] = value
    return lut


def _first_row(horizon_row: float, margin_px: float, height: int) -> int:
    return int(min(max(math.ceil(horizon_row + margin_px), 0), height))


def _drop_small(mask: np.ndarray, min_blob_px: int) -> np.ndarray:
    """``mask`` without its 8-connected blobs smaller than ``min_blob_px``."""
    if min_blob_px <= 1 or not mask.any():
        return mask
    count, components, stats, _ = cv2.connectedComponentsWithStats(mask.view(np.uint8), connectivity=8)
    keep = stats[:, cv2.CC_STAT_AREA] >= min_blob_px
    keep[0] = False
    return keep[components]


def _grow(seeds: np.ndarray, region: np.ndarray) -> np.ndarray:
    """The 8-connected components of ``region`` that hold a ``seeds`` pixel (both bool, the same shape)."""
    if not seeds.any():
        return seeds
    count, components = cv2.connectedComponents(region.view(np.uint8), connectivity=8)
    keep = np.zeros(count, bool)
    keep[components[seeds & region]] = True
    keep[0] = False
    return keep[components]


def _silent(shape, check) -> Finding:
    return Finding(check, np.zeros(shape, bool), False, 0.0)


def _first_checked_row(labels: np.ndarray, ids: Sequence[int], horizon_row: float, params) -> Optional[int]:
    """The first row a check looks at, ``params.margin_px`` below the horizon.

    None when the check is off, the model has none of the classes it looks for (``ids``) or no row lies there.
    """
    if not params.enabled or not ids:
        return None
    r0 = _first_row(horizon_row, params.margin_px, labels.shape[0])
    return None if r0 >= labels.shape[0] else r0


def _sky_below(labels: np.ndarray, sky_ids: Sequence[int], horizon_row: float,
               params) -> Optional[Tuple[int, int, np.ndarray]]:
    """(horizon row, first checked row, sky mask from the horizon row down) for checks 1-2; None: nothing to check."""
    r0 = _first_checked_row(labels, sky_ids, horizon_row, params)
    if r0 is None:
        return None
    top = _first_row(horizon_row, 0.0, labels.shape[0])
    return top, r0, _lut(sky_ids)[labels[top:]].view(bool)


def _sky_finding(check: str, shape, top: int, seeds: np.ndarray, sky: np.ndarray, amount: int,
                 threshold: int) -> Finding:
    """Checks 1-2's finding: fired, the whole sky regions (from row ``top``) that hold a seed; else the seeds."""
    mask = np.zeros(shape, bool)
    fired = amount >= threshold
    mask[top:] = _grow(seeds, sky) if fired else seeds
    return Finding(check, mask, fired, amount / threshold)


# --- the checks --------------------------------------------------------------------------------------------

def sky_below_horizon(labels: np.ndarray, sky_ids: Sequence[int], horizon_row: float,
                      params: SkyBelowHorizonParams = SkyBelowHorizonParams()) -> Finding:
    """Check 1: sky labelled at least ``margin_px`` rows below the horizon (blobs of ``min_blob_px`` or more).

    A camera on a road vehicle looks at the road or at things standing on it below the horizon, never at the sky
    (on a level road; the margin absorbs pitching and gentle grades). The area beyond the margin decides; the
    flagged pixels are the whole sky regions below the horizon that reach beyond it (a trailer's whole width).
    """
    below = _sky_below(labels, sky_ids, horizon_row, params)
    if below is None:
        return _silent(labels.shape, 'sky_below_horizon')
    top, r0, sky = below
    seeds = np.zeros(sky.shape, bool)
    seeds[r0 - top:] = _drop_small(np.ascontiguousarray(sky[r0 - top:]), params.min_blob_px)
    area = int(np.count_nonzero(seeds))
    return _sky_finding('sky_below_horizon', labels.shape, top, seeds, sky, area, params.min_area_px)


def sky_on_road(labels: np.ndarray, drivable: np.ndarray, sky_ids: Sequence[int], horizon_row: float,
                params: SkyOnRoadParams = SkyOnRoadParams()) -> Finding:
    """Check 2: sky resting on the drivable region, at least ``margin_px`` rows below the horizon.

    A contact is a sky pixel with a drivable pixel at most ``max_gap_px`` rows below it (a trailer's bumper bar
    may sit between its sky-coloured side and the road). The check fires on ``min_contact_px`` columns of
    contact and flags the whole sky regions below the horizon that rest on the road: where the road beneath
    the rest of a trailer is seen behind other obstacles, its side touches them, not the road.
    """
    below = _sky_below(labels, sky_ids, horizon_row, params)
    if below is None:
        return _silent(labels.shape, 'sky_on_road')
    top, r0, sky = below
    # road within max_gap_px rows below each pixel: a dilation with a column kernel anchored at its top
    kernel = np.ones((int(params.max_gap_px) + 1, 1), np.uint8)
    road = np.ascontiguousarray(np.asarray(drivable, bool)[top:]).view(np.uint8)
    contact = sky & cv2.dilate(road, kernel, anchor=(0, 0)).view(bool)
    contact[:r0 - top] = False
    n = int(np.count_nonzero(contact.any(axis=0)))
    return _sky_finding('sky_on_road', labels.shape, top, contact, sky, n, params.min_contact_px)


def low_confidence(labels: np.ndarray, margin: np.ndarray, sky_ids: Sequence[int], obstacle_ids: Sequence[int],
                   horizon_row: float, params: LowConfidenceParams = LowConfidenceParams(),
                   runner_up: Optional[np.ndarray] = None) -> Finding:
    """Check 3: below the horizon, pixels whose margin is under ``max_margin`` between sky and an obstacle.

    With the runner-up class map the pair is known exactly. The exported models give only the top-1 class and
    the margin, so without it a pixel counts when it is labelled sky, or labelled an obstacle within
    ``near_px`` of sky (sky is then the likely runner-up). Thin bands (the unsure edge along any boundary) are
    removed by a 3 x 3 opening; the rest must cover ``min_area_px``.
    """
    r0 = _first_checked_row(labels, sky_ids, horizon_row, params)
    if r0 is None:
        return _silent(labels.shape, 'low_confidence')
    mask = np.zeros(labels.shape, bool)
    lab = labels[r0:]
    unsure = np.asarray(margin)[r0:] < params.max_margin
    if not unsure.any():
        return Finding('low_confidence', mask, False, 0.0)
    sky, obstacle = _lut(sky_ids).view(bool), _lut(obstacle_ids).view(bool)
    if runner_up is not None:
        second = runner_up[r0:]
        pair = (sky[lab] & obstacle[second]) | (obstacle[lab] & sky[second])
    else:
        is_sky = sky[lab]
        near = is_sky
        if params.near_px > 0 and is_sky.any():
            size = 2 * int(params.near_px) + 1
            near = cv2.dilate(is_sky.view(np.uint8), np.ones((size, size), np.uint8)).view(bool)
        pair = is_sky | (obstacle[lab] & near)
    sub = (unsure & pair).view(np.uint8)
    sub = cv2.morphologyEx(sub, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    mask[r0:] = sub.view(bool)
    area = int(np.count_nonzero(mask))
    return Finding('low_confidence', mask, area >= params.min_area_px, area / params.min_area_px)


def floating_vehicle(labels: np.ndarray, drivable: np.ndarray, vehicle_ids: Sequence[int], horizon_row: float,
                     camera_height_m: float, params: FloatingVehicleParams = FloatingVehicleParams(),
                     horizon_lift_px: float = 0.0) -> Finding:
    """Check 5: columns where a vehicle resting on the road would be implausibly tall if it stood there.

    On a level road, something standing at the row ``v`` below the horizon ``v_0`` and ``n`` pixels tall is
    ``n * h / (v - v_0)`` metres tall (camera height ``h``), whatever the focal length. Vehicles resting on the
    drivable region (within ``max_gap_px`` rows) that come out taller than ``max_height_m`` float above it:
    a trailer's side 1.2 m up looks 14 m tall. Per column, so that a trailer's wheels, which do stand on the
    road, do not hide its floating middle; the vehicle pixels of those columns are flagged. Vehicles stacked
    behind one another never add up to more than the tallest of them, as the farther ones look smaller.

    ``horizon_lift_px``: how far an estimated horizon may be off. The heights are then judged from the horizon
    that many rows higher, which makes every vehicle as short as the estimate allows: a far car a few rows below
    a horizon estimated too low does not look tall, while a trailer's floating side still does.
    """
    r0 = _first_checked_row(labels, vehicle_ids, horizon_row, params)
    if r0 is None:
        return _silent(labels.shape, 'floating_vehicle')
    h = labels.shape[0]
    vehicle = _lut(vehicle_ids)[labels].view(bool)
    kernel = np.ones((int(params.max_gap_px) + 1, 1), np.uint8)
    road_below = cv2.dilate(np.ascontiguousarray(drivable).view(np.uint8), kernel, anchor=(0, 0)).view(bool)
    contact = vehicle[r0:] & road_below[r0:]
    columns = contact.any(axis=0)
    mask = np.zeros(labels.shape, bool)
    if not columns.any():
        return Finding('floating_vehicle', mask, False, 0.0)
    # per column: the lowest vehicle pixel resting on the road, and the top of the vehicle run above it
    bottom = (h - 1 - np.argmax(contact[::-1], axis=0)).astype(np.int64)
    rows = np.arange(h)[:, None]
    gaps = np.where(~vehicle & (rows < bottom[None, :]), rows, -1)
    top = gaps.max(axis=0) + 1
    height_px = bottom - top + 1
    implied_m = height_px * camera_height_m / np.maximum(bottom - (horizon_row - horizon_lift_px), 1e-6)
    judged = columns & (height_px >= params.min_height_px)
    floating = judged & (implied_m > min(params.distrust_height_m, params.max_height_m))
    if floating.any():
        mask = (rows >= top[None, :]) & (rows <= bottom[None, :]) & floating[None, :]
    n = int(np.count_nonzero(floating))
    n_alarm = int(np.count_nonzero(judged & (implied_m > params.max_height_m)))
    strength = float(implied_m[floating].max() / params.max_height_m) if n else 0.0
    if n >= params.min_columns_px:
        # the whole vehicle: where trees or a pavement far behind show under it, it does not touch the road
        mask = _grow(mask, vehicle)
    return Finding('floating_vehicle', mask, n >= params.min_columns_px, strength, n_alarm >= params.min_columns_px)


class TemporalFlipCheck:
    """Check 4: cells below the horizon that flip between sky and an obstacle class over consecutive frames.

    One instance per image stream; :meth:`update` takes each new frame's labels in order. A boundary that moves
    with the camera flips a cell once; flipping back and forth ``min_flips`` times within ``window`` frames is a
    network that cannot decide. Works on a grid of ``cell_px`` square cells (every ``cell_px``-th pixel) to stay
    within the time budget. The history restarts when the image size changes.
    """

    def __init__(self, params: TemporalParams = TemporalParams()):
        """Start with no history."""
        self.params = params
        self._history = deque(maxlen=params.window)
        self._shape = None

    def reset(self):
        """Forget the history (a new stream, a jump in time)."""
        self._history.clear()
        self._shape = None

    def update(self, labels: np.ndarray, sky_ids: Sequence[int], obstacle_ids: Sequence[int],
               horizon_row: float, params: Optional[TemporalParams] = None) -> Finding:
        """Add one frame's labels; the cells flagged over the frames remembered, at the labels' resolution."""
        if params is not None and params != self.params:
            if (params.window, params.cell_px) != (self.params.window, self.params.cell_px):
                self._history = deque(maxlen=params.window)
                self._shape = None
            self.params = params
        p = self.params
        shape = labels.shape
        if not p.enabled or not sky_ids:
            self.reset()
            return _silent(shape, 'temporal')
        if shape != self._shape:
            self.reset()
            self._shape = shape
        cell = int(p.cell_px)
        lut = _lut(sky_ids, 1) | _lut(obstacle_ids, 2)
        self._history.append(lut[labels[::cell, ::cell]])
        mask = np.zeros(shape, bool)
        if len(self._history) < 2:
            return Finding('temporal', mask, False, 0.0)
        frames = np.stack(self._history)
        # 1 (sky) times 2 (obstacle) is the only product of two classes that equals 2
        flips = np.count_nonzero(frames[1:] * frames[:-1] == 2, axis=0)
        unstable = flips >= p.min_flips
        r0 = _first_row(horizon_row, p.margin_px, shape[0])
        unstable[:-(-r0 // cell)] = False      # cells whose first row lies above r0
        if unstable.any():
            big = np.repeat(np.repeat(unstable, cell, axis=0), cell, axis=1)
            mask = np.ascontiguousarray(big[:shape[0], :shape[1]])
        area = int(np.count_nonzero(mask))
        return Finding('temporal', mask, area >= p.min_area_px, area / p.min_area_px)


# --- the assessment ----------------------------------------------------------------------------------------

def underride_shadow(flagged: np.ndarray, horizon_row: float, camera_height_m: float, clearance_m: float,
                     drivable: Optional[np.ndarray] = None) -> np.ndarray:
    """The road a flagged region below the horizon may hide: down to where it would stand on the road.

    A surface whose lower edge is at row ``v_b`` below the horizon ``v_0`` and that floats ``c`` metres above a
    level road (a trailer's side) stands on the road at row ``v_0 + (v_b - v_0) * h / (h - c)`` for a camera at
    height ``h``; every row between them in that column is road seen under the obstacle. The lower edge is that
    of the flagged region, or, given the ``drivable`` candidate, of the obstacle pixels below it in the same
    column (the network may call the trailer's upper part sky and its lower part building). Returns the H x W
    bool mask from each column's highest flagged row below the horizon to that row (to the bottom when
    ``c >= h``).
    """
    h_img = flagged.shape[0]
    r0 = _first_row(horizon_row, 0.0, h_img)
    sub = flagged[r0:]
    columns = sub.any(axis=0)
    out = np.zeros(flagged.shape, bool)
    if not columns.any():
        return out
    top = np.argmax(sub, axis=0) + r0
    bottom = h_img - 1 - np.argmax(sub[::-1], axis=0)
    rows = np.arange(r0, h_img)[:, None]
    if drivable is not None:
        # the first drivable row below the flagged pixels; the obstacle's lower edge is just above it
        below = np.asarray(drivable, bool)[r0:] & (rows > bottom[None, :])
        first = np.argmax(below, axis=0) + r0
        bottom = np.where(below.any(axis=0), first - 1, bottom)
    if clearance_m >= camera_height_m:
        end = np.full(bottom.shape, h_img - 1, np.float64)
    else:
        end = horizon_row + (bottom - horizon_row) * (camera_height_m / (camera_height_m - clearance_m))
    out[r0:] = (rows >= top[None, :]) & (rows <= np.ceil(end)[None, :]) & columns[None, :]
    return out


@dataclass(frozen=True)
class Assessment:
    """The checks' verdict on one frame, with the drivable area and free space that respect it.

    From :func:`check_frame`, ``trust`` holds the frame-level trust check's verdict; when it is degraded the
    drivable area is empty and ``freespace`` is W float32 NaN (unknown).
    """

    drivable: np.ndarray                  # H x W uint8, 255 where the vehicle may drive
    freespace: np.ndarray                 # W int32: row of the nearest non-drivable pixel per column; -1: none
    ambiguous: np.ndarray                 # H x W uint8, 255 where the checks distrust the segmentation
    alarm: bool
    reasons: Tuple[Reason, ...]
    findings: Tuple[Finding, ...]
    horizon_row: float
    horizon_source: str
    trust: Optional[Trust] = None


def assess(labels: np.ndarray, margin: np.ndarray, classes: Union[Sequence[str], ClassIds], config: SafetyConfig,
           horizon_row: float, horizon_source: str, candidate: np.ndarray, temporal: Optional[Finding] = None,
           runner_up: Optional[np.ndarray] = None, camera_height_m: Optional[float] = None,
           ego: Optional[np.ndarray] = None, horizon_lift_px: float = 0.0) -> Assessment:
    """Run checks 1-3 and 5 (and take check 4's finding), then make the safe drivable area and the alarm.

    ``classes``: the model's class names, or their :class:`~seg_perception.taxonomy.ClassIds`; ``candidate`` is
    the road connected to the ego region (see :func:`seg_perception.drivable.connected_road`);
    ``camera_height_m`` overrides the configured mounting height (a calibrated camera model's); ``ego``: the ego
    vehicle's pixels (H x W bool; seg_perception.ego_mask), labelled outside (255) so that no check sees them,
    never drivable, the free space scanned from above them; ``horizon_lift_px``: how far the horizon may be off,
    for the floating-vehicle check (see :func:`floating_vehicle`).
    """
    ids = class_ids(classes)
    sky, obstacles = ids.sky, ids.obstacle
    d = config.drivable
    height_m = camera_height_m or config.camera.height_m
    findings = [
        sky_below_horizon(labels, sky, horizon_row, config.sky_below_horizon),
        sky_on_road(labels, candidate, sky, horizon_row, config.sky_on_road),
        low_confidence(labels, margin, sky, obstacles, horizon_row, config.low_confidence, runner_up),
        floating_vehicle(labels, candidate, ids.vehicle, horizon_row, height_m, config.floating_vehicle,
                         horizon_lift_px),
    ]
    if temporal is not None:
        findings.append(temporal)
    fired = [f for f in findings if f.fired]
    flagged = np.zeros(labels.shape, bool)
    for f in fired:
        flagged |= f.mask
    ambiguous = flagged
    strong = [f.mask for f in fired if f.may_alarm]
    if strong:
        ambiguous = ambiguous | underride_shadow(np.logical_or.reduce(strong), horizon_row, height_m,
                                                 d.underride_clearance_m, candidate)
    for f in fired:
        if not f.may_alarm:
            # weaker evidence: the road beneath, down to where the flagged region itself reaches (its wheels),
            # not beyond; a tall truck standing on the road loses no road in front of it
            lowest = int(np.flatnonzero(f.mask.any(axis=1))[-1])
            shadow = underride_shadow(f.mask, horizon_row, height_m, d.underride_clearance_m, candidate)
            shadow[lowest + 1:] = False
            ambiguous = ambiguous | shadow
    drivable, freespace = safe_drivable(candidate, ambiguous, d.safety_margin_px, ego)
    if d.far_static_underride:
        hidden = beneath_far_obstacles(freespace, labels, ids.static + sky, ids.ground, horizon_row, height_m,
                                       d.underride_clearance_m, d.far_static_min_px, d.far_static_max_px,
                                       d.far_static_band_px)
        if hidden.any():
            drivable[hidden] = 0
            freespace = freespace_boundary(drivable > 0, ego)
    reasons = []
    if fired:
        corridor = path_corridor(labels.shape, horizon_row, d.path_half_width_m, height_m,
                                 min_half_width_px=d.path_min_half_width_px)
        for f in (f for f in fired if f.may_alarm):
            # the check's own pixels, not the road beneath them: that an ambiguity at the kerb might hide a
            # floating obstacle keeps the road beneath it undrivable, but is no reason for an alarm
            on_path = f.mask & corridor
            pixels = int(np.count_nonzero(on_path))
            if pixels >= d.min_alarm_px:
                ys, xs = np.flatnonzero(on_path.any(axis=1)), np.flatnonzero(on_path.any(axis=0))
                region = (int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1)
                reasons.append(Reason(f.check, region, pixels, round(float(f.strength), 2)))
    return Assessment(drivable, freespace, ambiguous.view(np.uint8) * np.uint8(255), bool(reasons), tuple(reasons),
                      tuple(findings), float(horizon_row), horizon_source)


def check_frame(labels: np.ndarray, margin: np.ndarray, ids: ClassIds, config: SafetyConfig, horizon_row: float,
                horizon_source: str, candidate: np.ndarray, temporal: Optional[TemporalFlipCheck] = None,
                trust: Optional[TrustMonitor] = None, rgb_net: Optional[np.ndarray] = None,
                labels_net: Optional[np.ndarray] = None, margin_net: Optional[np.ndarray] = None,
                camera_height_m: Optional[float] = None, ego: Optional[np.ndarray] = None,
                ego_net: Optional[np.ndarray] = None,
                horizon_uncertainty_px: Optional[float] = None,
                grey_net: Optional[np.ndarray] = None) -> Assessment:
    """Every check of one frame, given its road ``candidate`` and its horizon: the Assessment, ``trust`` set.

    The settings are those for the horizon's source and uncertainty in pixels (None: the configured one), see
    :func:`seg_perception.safety_config.for_horizon`;
    ``temporal``: the stream's temporal check (None: none); :func:`assess` runs the other checks; ``trust``:
    the stream's trust monitor (None: this frame alone), fed the network-sized image, labels and margin
    (``rgb_net`` None: no image statistics; ``labels_net`` and ``margin_net`` None: ``labels`` and ``margin``).
    ``ego`` and ``ego_net``: the ego vehicle's pixels at the labels' and at the network's resolution (None:
    none), left out of the drivable area and of the trust check's statistics; ``grey_net``: ``rgb_net``'s grey
    thumbnail when the caller has made it (TrustMonitor.assess). A degraded frame keeps its
    findings and alarm but has no drivable area and an unknown (NaN) free space.
    """
    lift = horizon_extra_px(config, horizon_source, labels.shape[0], horizon_uncertainty_px)
    config = for_horizon(config, horizon_source, labels.shape[0], horizon_uncertainty_px)
    flips = None
    if temporal is not None:
        flips = temporal.update(labels, ids.sky, ids.obstacle, horizon_row, config.temporal)
    verdict = assess(labels, margin, ids, config, horizon_row, horizon_source, candidate, flips,
                     camera_height_m=camera_height_m, ego=ego, horizon_lift_px=lift)
    if labels_net is None:
        labels_net, ego_net = labels, ego
    margin_net = margin if margin_net is None else margin_net
    judged = (trust or TrustMonitor()).assess(rgb_net, labels_net, margin_net, ids, config.trust, ignore=ego_net,
                                              grey=grey_net)
    if not judged.degraded:
        return replace(verdict, trust=judged)
    return replace(verdict, drivable=np.zeros_like(verdict.drivable),
                   freespace=np.full(verdict.freespace.shape, np.nan, np.float32), trust=judged)

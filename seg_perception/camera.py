"""Where the horizon lies in the image: from a pinhole camera model, an estimate from the road, or a default.

The ambiguity checks need the horizon row: a road vehicle's camera never sees sky below it. With a calibrated
camera (``sensor_msgs/CameraInfo``) and its mounting pitch the horizon is exact (for a level road): the row
where rays parallel to the road meet the image, ``cy - fy * tan(pitch)``. Without one, the road itself tells:
the two edges of a straight road meet at its vanishing point, on the horizon; so do straight edges inside the
road (lane markings, kerbs) and the roof lines along the street, seen as the sky's lower boundary. Each of these
cues gives a row (:func:`horizon_cues`); :func:`fuse_horizon` takes their median and an uncertainty that grows
when they disagree, and over a stream :class:`HorizonTracker` takes the median of the last frames' cues. The
uncertainty widens the checks' margins (safety_config.for_horizon). Without a usable cue, a fixed fraction of the
image height, with the largest uncertainty.

The camera frame is the optical frame of ROS (REP 103): x right, y down, z forward. ``pitch_rad`` is the tilt
of the optical axis below the horizontal (positive: looking down at the road).
"""

import math
from collections import deque
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np

from .safety_config import CameraParams


@dataclass(frozen=True)
class CameraModel:
    """A forward camera: pinhole intrinsics at a calibrated resolution, and how it is mounted.

    ``fx, fy, cx, cy`` are pixels at an image of ``width_px`` x ``height_px`` (CameraInfo's ``K`` and size);
    images of another resolution are scaled to it.
    """

    fx: float
    fy: float
    cx: float
    cy: float
    width_px: int
    height_px: int
    pitch_rad: float = 0.0
    height_m: float = 1.5

    @classmethod
    def from_camera_info(cls, k, width: int, height: int, pitch_rad: float = 0.0,
                         height_m: float = 1.5) -> 'CameraModel':
        """A model from CameraInfo's row-major 3 x 3 ``K`` and its image size; ValueError if K is unusable."""
        k = [float(v) for v in k]
        if len(k) != 9 or k[0] <= 0 or k[4] <= 0 or width <= 0 or height <= 0:
            raise ValueError(f'camera_info K = {k} for {width} x {height} is not a calibrated pinhole camera '
                             f'(fx and fy must be positive)')
        return cls(k[0], k[4], k[2], k[5], int(width), int(height), float(pitch_rad), float(height_m))

    def scaled(self, shape: Tuple[int, int]) -> Tuple[float, float, float, float]:
        """(fx, fy, cx, cy) for an image of ``shape`` (H, W)."""
        sy, sx = shape[0] / self.height_px, shape[1] / self.width_px
        return self.fx * sx, self.fy * sy, self.cx * sx, self.cy * sy

    def horizon_row(self, shape: Tuple[int, int]) -> float:
        """Row of the horizon of a level road in an image of ``shape`` (H, W)."""
        _, fy, _, cy = self.scaled(shape)
        return cy - fy * math.tan(self.pitch_rad)

    def ground_points(self, rows: np.ndarray, shape: Tuple[int, int]) -> np.ndarray:
        """N x 3 float32 points (optical frame, metres) where pixel (row, column i) meets a flat road.

        One point per column of the image; NaN where the row is at or above the horizon (no ground there).
        """
        fx, fy, cx, cy = self.scaled(shape)
        cols = np.arange(len(rows), dtype=np.float64)
        dx, dy = (cols - cx) / fx, (np.asarray(rows, np.float64) - cy) / fy
        c, s = math.cos(self.pitch_rad), math.sin(self.pitch_rad)
        down = dy * c + s                 # how fast the ray descends towards the road
        with np.errstate(divide='ignore', invalid='ignore'):
            t = np.where(down > 1e-9, self.height_m / down, np.nan)
        return np.stack([dx * t, dy * t, t], axis=1).astype(np.float32)


def estimate_horizon(road: np.ndarray, min_rows: int = 8) -> Optional[float]:
    """Row where the left and right edges of the road meet (its vanishing point), or None.

    ``road``: H x W bool/uint8 mask of the road ahead. Each edge is a straight line in the image for a straight,
    level road; the lines are fitted by least squares over the rows where the edge is seen (not cut by the image
    border), once more without the rows that fit worst (parked cars hide the kerb), and intersected.
    """
    road = np.asarray(road).astype(bool)
    h, w = road.shape
    present = road.any(axis=1)
    rows = np.flatnonzero(present)
    if rows.size < min_rows:
        return None
    sub = road[rows]
    left = np.argmax(sub, axis=1).astype(np.float64)
    right = (w - 1 - np.argmax(sub[:, ::-1], axis=1)).astype(np.float64)
    lines = []
    for edge, cut in ((left, left <= 0), (right, right >= w - 1)):
        keep = ~cut
        if keep.sum() < min_rows:
            return None
        line = _robust_line(rows[keep].astype(np.float64), edge[keep])
        if line is None:
            return None
        lines.append(line)
    (a1, b1), (a2, b2) = lines          # column = a * row + b
    if a1 - a2 >= -1e-3:                # the edges must converge upwards: left leans right, right leans left
        return None
    return float((b2 - b1) / (a1 - a2))


def _robust_line(rows: np.ndarray, cols: np.ndarray) -> Optional[Tuple[float, float]]:
    """Least-squares ``col = a * row + b``, refitted on the 70% of rows nearest the first fit."""
    if np.ptp(rows) < 4:
        return None
    a, b = np.polyfit(rows, cols, 1)
    residual = np.abs(cols - (a * rows + b))
    keep = residual <= np.quantile(residual, 0.7)
    if keep.sum() >= 4 and np.ptp(rows[keep]) >= 4:
        a, b = np.polyfit(rows[keep], cols[keep], 1)
    return float(a), float(b)


def sky_vanishing_row(sky: np.ndarray, min_columns_frac: float = 0.08, min_slope: float = 0.05,
                      max_slope: float = 3.0) -> Optional[float]:
    """Row where the left and right parts of the sky's lower boundary meet, or None.

    ``sky``: H x W bool mask. Along a straight street the roof lines run towards its vanishing point; seen from
    below they are the lower boundary of the sky (per column, the lowest row of the sky that reaches the top of
    the image), falling towards the street's end from either side. On each side of that profile's lowest point,
    the columns where it falls towards the middle by ``min_slope`` to ``max_slope`` rows per column (roofs; not
    the flat front of the buildings at the street's end, nor a building's side) get a robust straight line, if
    they are ``min_columns_frac`` of the columns or more; the two lines are intersected.
    """
    sky = np.asarray(sky).astype(bool)
    h, w = sky.shape
    if not sky[0].any():
        return None
    count, comp = cv2.connectedComponents(sky.view(np.uint8), connectivity=4)
    top = np.zeros(count, bool)
    top[comp[0]] = True
    top[0] = False
    upper = top[comp]
    columns = np.flatnonzero(upper.any(axis=0))
    min_columns = max(int(min_columns_frac * w), 4)
    if columns.size < 2 * min_columns:
        return None
    bottom = (h - 1 - np.argmax(upper[::-1, columns], axis=0)).astype(np.float64)
    smooth = np.convolve(bottom, np.ones(5) / 5.0, mode='same') if bottom.size >= 5 else bottom
    apex = int(np.argmax(smooth))
    slope = np.gradient(smooth, columns.astype(np.float64)) if smooth.size >= 2 else np.zeros_like(smooth)
    lines = []
    for part, sign in ((slice(0, apex), 1.0), (slice(apex + 1, None), -1.0)):
        x, y = columns[part].astype(np.float64), bottom[part]
        # roof lines only: falling towards the middle, neither flat (the buildings at the street's end) nor
        # steep (a building's side); sky reaching the bottom row says nothing about roofs
        keep = (y < h - 1) & (sign * slope[part] >= min_slope) & (sign * slope[part] <= max_slope)
        if keep.sum() < min_columns:
            return None
        line = _robust_line(x[keep], y[keep])
        if line is None:
            return None
        lines.append(line)
    (a1, b1), (a2, b2) = lines      # row = a * column + b
    if a1 < min_slope or a2 > -min_slope:
        return None
    col = (b2 - b1) / (a1 - a2)
    if not 0.0 <= col <= w - 1:
        return None
    return float(a1 * col + b1)


def lane_vanishing_row(grey: np.ndarray, road: np.ndarray, min_angle_deg: float = 15.0,
                       max_angle_deg: float = 75.0, max_width_px: int = 320) -> Optional[float]:
    """Row where straight edges inside the road that lean left and right meet (lane markings, kerbs), or None.

    ``grey``: H x W uint8 image, halved (cv2.pyrDown) while wider than ``max_width_px`` (markings stay straight
    at half the size, at a quarter of the cost); ``road``: the road mask (any size: resized to the image's).
    Canny edges within the road (grown by a few pixels, for the kerbs; thresholds a third of the road's median
    grey level and three times that) feed a probabilistic Hough transform; segments at ``min_angle_deg`` ..
    ``max_angle_deg`` from the horizontal, falling towards the middle of the image from either side, are
    intersected pairwise (a pair counts when it meets above both segments and within the image's columns), and
    the length-weighted median row of the intersections is returned, in ``grey``'s rows.
    """
    grey = np.asarray(grey, np.uint8)
    scale = 1.0
    while grey.shape[1] > max_width_px:
        grey, scale = cv2.pyrDown(grey), scale * 2.0
    h, w = grey.shape
    road = np.asarray(road).astype(np.uint8)
    if road.shape != (h, w):
        road = cv2.resize(road, (w, h), interpolation=cv2.INTER_NEAREST)
    present = np.flatnonzero(road.any(axis=1))
    if present.size == 0:
        return None
    r0 = max(int(present[0]) - 4, 0)          # the rows from just above the road down: Canny on those alone
    inside = cv2.dilate(road[r0:], np.ones((7, 7), np.uint8)) > 0
    low = max(10.0, 0.33 * float(np.median(grey[r0:][inside])))     # dusk roads have faint markings
    edges = cv2.Canny(grey[r0:], low, 3.0 * low)
    edges[~inside] = 0
    segments = cv2.HoughLinesP(edges, 1, np.pi / 180, threshold=15, minLineLength=max(int(0.04 * w), 8),
                               maxLineGap=3)
    if segments is None:
        return None
    x1, y1, x2, y2 = np.asarray(segments, np.float64).reshape(-1, 4).T
    y1, y2 = y1 + r0, y2 + r0
    dx, dy = x2 - x1, y2 - y1
    angle = np.degrees(np.arctan2(np.abs(dy), np.abs(dx)))
    length = np.hypot(dx, dy)
    steep = (angle >= min_angle_deg) & (angle <= max_angle_deg)
    slope = np.where(dx != 0, dy / np.where(dx != 0, dx, 1.0), 0.0)      # rows per column
    # a left marking rises to the right (slope < 0) and lies left of the middle; a right one the other way
    mid = (x1 + x2) / 2.0
    left = steep & (slope < 0) & (mid < w * 0.6)
    right = steep & (slope > 0) & (mid > w * 0.4)
    if not left.any() or not right.any():
        return None
    li, ri = np.flatnonzero(left), np.flatnonzero(right)
    # lines as row = a * column + b
    a, b = slope, y1 - slope * x1
    A1, A2 = a[li][:, None], a[ri][None, :]
    B1, B2 = b[li][:, None], b[ri][None, :]
    col = (B2 - B1) / (A1 - A2)
    row = A1 * col + B1
    top = np.minimum(np.minimum(y1, y2)[li][:, None], np.minimum(y1, y2)[ri][None, :])
    weight = length[li][:, None] * length[ri][None, :]
    ok = (row <= top) & (col >= 0) & (col <= w - 1)
    if not ok.any():
        return None
    rows, weights = row[ok], weight[ok]
    order = np.argsort(rows)
    cumulative = np.cumsum(weights[order])
    return scale * float(rows[order][np.searchsorted(cumulative, cumulative[-1] / 2.0)])


@dataclass(frozen=True)
class HorizonEstimate:
    """The horizon row the checks use, how uncertain it is (pixels) and where it came from.

    ``source``: 'camera' (camera_info), 'estimate' (this frame's cues), 'stream' (the median of a stream's
    frames) or 'default'; ``cues``: (cue, row) of every cue this frame gave, used or not.
    """

    row: float
    uncertainty_px: float
    source: str
    cues: Tuple[Tuple[str, float], ...] = ()


def horizon_cues(shape: Tuple[int, int], params: CameraParams, road: Optional[np.ndarray] = None,
                 sky: Optional[np.ndarray] = None, grey: Optional[np.ndarray] = None) -> Tuple[Tuple[str, float], ...]:
    """(cue, row in an image of ``shape``) for each cue that gives one.

    The cues: 'road' (the road's edges, ``road``), 'lane' (edges inside the road in ``grey``, any size) and 'sky'
    (the sky's lower boundary, ``sky``); those ``params`` switch off, or whose input is missing, give nothing.
    """
    if not params.horizon_estimate:
        return ()
    cues = []
    if road is not None:
        row = estimate_horizon(road)
        if row is not None:
            cues.append(('road', row))
        if params.horizon_lane_cue and grey is not None:
            row = lane_vanishing_row(grey, road)
            if row is not None:
                cues.append(('lane', row * shape[0] / np.asarray(grey).shape[0]))
    if params.horizon_sky_cue and sky is not None:
        row = sky_vanishing_row(sky)
        if row is not None:
            cues.append(('sky', row))
    return tuple(cues)


def _default(shape: Tuple[int, int], params: CameraParams, cues=()) -> HorizonEstimate:
    return HorizonEstimate(params.horizon_default_frac * shape[0], params.horizon_uncertainty_frac * shape[0],
                           'default', tuple(cues))


def fuse_horizon(shape: Tuple[int, int], params: CameraParams,
                 cues: Sequence[Tuple[str, float]]) -> HorizonEstimate:
    """One frame's horizon from its cues (:func:`horizon_cues`).

    Cues further than ``horizon_agreed_max_shift_frac`` of the height from the default are dropped. When two or
    more agree (the largest group within ``horizon_agree_frac`` of one of them), their median holds and may lie
    up to ``horizon_agreed_max_shift_frac`` from the default; it is uncertain by their spread, at least
    ``horizon_agreed_uncertainty_frac`` of the height, or by ``horizon_uncertainty_frac`` when another cue
    disagrees. A single cue, or cues that all disagree, give their median within ``horizon_max_shift_frac`` of the
    default, uncertain by ``horizon_uncertainty_frac`` or by their spread if larger. Anything else: the default,
    uncertain by ``horizon_uncertainty_frac``.
    """
    h = shape[0]
    default = params.horizon_default_frac * h
    rows = sorted(r for _, r in cues
                  if math.isfinite(r) and abs(r - default) <= params.horizon_agreed_max_shift_frac * h)
    if not rows:
        return _default(shape, params, cues)
    tolerance = params.horizon_agree_frac * h
    # the largest group of rows within the tolerance of its lowest; ties: the tightest
    group = max((rows[i:i + sum(1 for r in rows[i:] if r - rows[i] <= tolerance)] for i in range(len(rows))),
                key=lambda g: (len(g), -(g[-1] - g[0])))
    if len(group) >= 2:
        floor = params.horizon_uncertainty_frac if len(group) < len(rows) else params.horizon_agreed_uncertainty_frac
        return HorizonEstimate(float(np.median(group)), max(floor * h, group[-1] - group[0]), 'estimate',
                               tuple(cues))
    row = float(np.median(rows))
    if abs(row - default) > params.horizon_max_shift_frac * h:
        return _default(shape, params, cues)
    return HorizonEstimate(row, max(params.horizon_uncertainty_frac * h, rows[-1] - rows[0]), 'estimate',
                           tuple(cues))


class HorizonTracker:
    """A stream's horizon: the median over its last ``horizon_window`` frames of each frame's cues.

    A camera's pitch changes slowly; one frame's cues do not (a parked car hides the kerb, a tree breaks the
    roof line). Each frame adds the median of its cues within ``horizon_agreed_max_shift_frac`` of the default
    (or nothing); with at least ``horizon_min_frames`` of them in the window the stream's horizon is their median,
    uncertain by their spread (1.4826 x the median absolute deviation) but at least
    ``horizon_agreed_uncertainty_frac`` of the height. Otherwise the frame's own estimate holds. One tracker per
    camera; it starts over when the image size changes or a camera model arrives.
    """

    def __init__(self):
        self._rows = deque()
        self._shape = None

    def reset(self):
        """Forget every frame."""
        self._rows.clear()
        self._shape = None

    def update(self, shape: Tuple[int, int], params: CameraParams, frame: HorizonEstimate) -> HorizonEstimate:
        """Add one frame's estimate (from :func:`fuse_horizon`, with its cues); return the horizon to use."""
        if frame.source == 'camera':
            self.reset()
            return frame
        shape = tuple(shape[:2])
        if shape != self._shape:
            self.reset()
            self._shape = shape
        h = shape[0]
        default = params.horizon_default_frac * h
        rows = [r for _, r in frame.cues
                if math.isfinite(r) and abs(r - default) <= params.horizon_agreed_max_shift_frac * h]
        self._rows.append(float(np.median(rows)) if rows else None)
        while len(self._rows) > params.horizon_window:
            self._rows.popleft()
        seen = np.array([r for r in self._rows if r is not None])
        if seen.size < params.horizon_min_frames or not params.horizon_estimate:
            return frame
        row = float(np.median(seen))
        if abs(row - default) > params.horizon_agreed_max_shift_frac * h:
            return frame
        spread = 1.4826 * float(np.median(np.abs(seen - row)))
        return HorizonEstimate(row, max(params.horizon_agreed_uncertainty_frac * h, spread), 'stream', frame.cues)


def find_horizon(shape: Tuple[int, int], params: CameraParams, camera: Optional[CameraModel] = None,
                 road: Optional[np.ndarray] = None, sky: Optional[np.ndarray] = None,
                 grey: Optional[np.ndarray] = None, tracker: Optional[HorizonTracker] = None) -> HorizonEstimate:
    """The horizon for an image of ``shape``: from ``camera``, else the cues (over the stream with ``tracker``).

    ``road``: the road ahead (H x W mask), ``sky``: the sky (H x W mask), ``grey``: the image (any size), each
    optional; see :func:`horizon_cues`, :func:`fuse_horizon` and :class:`HorizonTracker`.
    """
    if camera is not None:
        estimate = HorizonEstimate(camera.horizon_row(shape), 0.0, 'camera')
        return estimate if tracker is None else tracker.update(shape, params, estimate)
    frame = fuse_horizon(shape, params, horizon_cues(shape, params, road, sky, grey))
    return frame if tracker is None else tracker.update(shape, params, frame)


def resolve_horizon(shape: Tuple[int, int], params: CameraParams, camera: Optional[CameraModel] = None,
                    road: Optional[np.ndarray] = None) -> Tuple[float, str]:
    """(horizon row, source) for an image of ``shape`` from ``camera`` or ``road`` alone (see :func:`find_horizon`)."""
    found = find_horizon(shape, params, camera, road)
    return found.row, found.source

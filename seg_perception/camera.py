"""Where the horizon lies in the image: from a pinhole camera model, an estimate from the road, or a default.

The ambiguity checks need the horizon row: a road vehicle's camera never sees sky below it. With a calibrated
camera (``sensor_msgs/CameraInfo``) and its mounting pitch the horizon is exact (for a level road): the row
where rays parallel to the road meet the image, ``cy - fy * tan(pitch)``. Without one, the road itself tells:
the two edges of a straight road meet at its vanishing point, on the horizon. And without a usable road, a
fixed fraction of the image height.

The camera frame is the optical frame of ROS (REP 103): x right, y down, z forward. ``pitch_rad`` is the tilt
of the optical axis below the horizontal (positive: looking down at the road).
"""

import math
from dataclasses import dataclass
from typing import Optional, Tuple

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


def resolve_horizon(shape: Tuple[int, int], params: CameraParams, camera: Optional[CameraModel] = None,
                    road: Optional[np.ndarray] = None) -> Tuple[float, str]:
    """(horizon row, source) for an image of ``shape``: 'camera', else 'estimate' (from ``road``), else 'default'."""
    if camera is not None:
        return camera.horizon_row(shape), 'camera'
    default = params.horizon_default_frac * shape[0]
    if params.horizon_estimate and road is not None:
        estimate = estimate_horizon(road)
        if estimate is not None and abs(estimate - default) <= params.horizon_max_shift_frac * shape[0]:
            return estimate, 'estimate'
    return default, 'default'

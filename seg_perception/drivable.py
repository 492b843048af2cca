"""Drivable area from a label map: the drivable classes connected to the vehicle's own position.

The ego region is a small box at the bottom centre of the image, where a forward camera sees the road just in
front of the bumper. Road pixels that are not connected to it (a road across a barrier, a parking lot seen
over a kerb) are not drivable from here.

With the ego vehicle in view (seg_perception.ego_mask), its mask's top edge in each column acts as the image
bottom: the ego region sits just above it, and the free space is scanned upwards from there.
"""

from typing import Optional, Sequence, Union

import cv2
import numpy as np

from .ego_mask import band_top
from .safety_config import SafetyConfig
from .taxonomy import ClassIds, class_ids


def ego_region(height: int, width: int, rows_frac: float = 0.08, cols_frac: float = 0.3) -> tuple:
    """(row0, row1, col0, col1) of the bottom-centre box the vehicle occupies in the image."""
    rows = max(1, int(round(height * rows_frac)))
    cols = max(1, int(round(width * cols_frac)))
    c0 = (width - cols) // 2
    return height - rows, height, c0, c0 + cols


def connected_drivable(labels: np.ndarray, drivable_ids: Sequence[int], rows_frac: float = 0.08,
                       cols_frac: float = 0.3, ego: Optional[np.ndarray] = None) -> np.ndarray:
    """H x W uint8 mask (0 or 255) of drivable-class pixels 4-connected to the ego region.

    ``ego``: H x W bool, the ego vehicle's pixels (never drivable); the ego region then lies just above the
    mask's top edge in each of its columns (see :func:`ego_mask.band_top <seg_perception.ego_mask.band_top>`).
    """
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f'labels must be H x W, got shape {labels.shape}')
    lut = np.zeros(256, np.uint8)
    lut[np.asarray(list(drivable_ids), np.int64)] = 1
    candidate = lut[labels]             # a table lookup: several times faster than np.isin
    if ego is not None:
        candidate[ego] = 0
    if not candidate.any():
        return np.zeros(labels.shape, np.uint8)
    count, components = cv2.connectedComponents(candidate, connectivity=4)
    r0, r1, c0, c1 = ego_region(*labels.shape, rows_frac, cols_frac)
    touching = np.zeros(count, np.uint8)
    if ego is None:
        touching[components[r0:r1, c0:c1]] = 255
    else:
        # the same box, its bottom moved up onto the mask's top edge column by column
        top = band_top(ego)[c0:c1]
        rows = np.arange(r1 - r0)[:, None] - (r1 - r0) + top[None, :]
        inside = rows >= 0
        touching[components[rows[inside], np.broadcast_to(np.arange(c0, c1), rows.shape)[inside]]] = 255
    touching[0] = 0
    return touching[components]


def fill_holes(mask: np.ndarray, keep_out: np.ndarray, max_hole_px: int) -> np.ndarray:
    """``mask`` (bool) with its holes filled: enclosed regions of at most ``max_hole_px`` pixels.

    A hole that holds any ``keep_out`` pixel (an obstacle: a car in the middle of the road is a hole too) stays
    open. Holes are the background components that do not touch the image border.
    """
    mask = np.asarray(mask, bool)
    if max_hole_px <= 0 or not mask.any():
        return mask
    # only within the mask's bounding box: background touching its edge reaches the outside, so is no hole
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    box = np.s_[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    sub = mask[box]
    # background 8-connected where the road is 4-connected, so that a hole never leaks through a diagonal
    count, components, stats, _ = cv2.connectedComponentsWithStats((~sub).astype(np.uint8), connectivity=8)
    if count <= 1:
        return mask
    h, w = sub.shape
    x, y, bw, bh, area = (stats[:, i] for i in range(5))
    fill = (x > 0) & (y > 0) & (x + bw < w) & (y + bh < h) & (area <= max_hole_px)
    fill[0] = False                     # label 0 is the road itself
    if not fill.any():
        return mask
    fill[components[np.asarray(keep_out, bool)[box] & ~sub]] = False
    out = mask.copy()
    out[box] |= fill[components]
    return out


def connected_road(labels: np.ndarray, classes: Union[Sequence[str], ClassIds], config: SafetyConfig,
                   ego: Optional[np.ndarray] = None) -> np.ndarray:
    """H x W bool: the drivable classes connected to the ego region, holes without obstacles filled.

    ``classes``: the model's class names, or their :class:`~seg_perception.taxonomy.ClassIds`; ``ego``: the ego
    vehicle's pixels (H x W bool, None: none), never drivable, the ego region just above them.
    """
    ids = class_ids(classes)
    road = connected_drivable(labels, ids.drivable, ego=ego) > 0
    obstacle = np.zeros(256, bool)
    obstacle[np.asarray(ids.obstacle, np.int64)] = True
    keep_out = obstacle[labels] if ego is None else obstacle[labels] | ego    # a masked blob is no hole to fill
    return fill_holes(road, keep_out, config.drivable.max_hole_px)


def freespace_boundary(mask: np.ndarray, ego: Optional[np.ndarray] = None) -> np.ndarray:
    """Per column, the row of the nearest pixel (from the bottom) that is not in ``mask``; -1 if there is none.

    The free-space boundary of the stixel world (Badino et al. 2009, section 3): scanning each column upwards
    from the vehicle, the first pixel it may not drive on. H - 1 means nothing in that column is free. With the
    ``ego`` vehicle's pixels (H x W bool) the scan starts above them: the vehicle's own rows never end it, and
    a column that is all vehicle has nothing free (H - 1).
    """
    blocked = ~np.asarray(mask, bool)
    h = blocked.shape[0]
    top = None
    if ego is not None:
        top = band_top(ego)
        blocked = blocked & (np.arange(h)[:, None] < top[None, :])
    blocked = blocked[::-1]
    first = np.argmax(blocked, axis=0)
    hit = blocked[first, np.arange(blocked.shape[1])]
    boundary = np.where(hit, h - 1 - first, -1)
    if top is not None:
        boundary = np.where(top == 0, h - 1, boundary)
    return boundary.astype(np.int32)


def below_boundary(freespace: np.ndarray, height: int) -> np.ndarray:
    """H x W bool mask of the rows strictly below each column's free-space boundary."""
    return np.arange(height, dtype=np.int32)[:, None] > np.asarray(freespace, np.int32)[None, :]


def path_corridor(shape: tuple, horizon_row: float, half_width_m: float, camera_height_m: float,
                  centre_col: float = None, min_half_width_px: float = 0.0) -> np.ndarray:
    """H x W bool mask of the road straight ahead, ``half_width_m`` either side of the camera, to the horizon.

    On a level road a lateral offset X at the ground row v is ``X * (v - horizon) / camera_height`` pixels from
    the centre column, whatever the focal length; the corridor is the trapezoid this makes, at least
    ``min_half_width_px`` either side of the centre.
    """
    h, w = shape
    centre = (w - 1) / 2.0 if centre_col is None else centre_col
    rows = np.arange(h, dtype=np.float32)[:, None] - np.float32(horizon_row)
    half = np.maximum(np.maximum(rows, 0) * np.float32(half_width_m / camera_height_m),
                      np.float32(min_half_width_px))
    cols = np.abs(np.arange(w, dtype=np.float32)[None, :] - np.float32(centre))
    return (rows > 0) & (cols <= half)


def safe_drivable(candidate: np.ndarray, ambiguous: np.ndarray, safety_margin_px: int,
                  ego: Optional[np.ndarray] = None) -> tuple:
    """(drivable, freespace): ``candidate`` minus ``ambiguous`` grown by the safety margin, cut per column.

    ``drivable`` is H x W uint8 (0 or 255) and holds no ambiguous pixel, no ``ego`` vehicle pixel and no pixel at
    or above the free-space boundary; ``freespace`` is that boundary per column (see :func:`freespace_boundary`).
    """
    free = np.asarray(candidate, bool)
    ambiguous = np.asarray(ambiguous, bool)
    if ambiguous.any():
        if safety_margin_px > 0:
            size = 2 * int(safety_margin_px) + 1
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
            ambiguous = cv2.dilate(ambiguous.astype(np.uint8), kernel) > 0
        free = free & ~ambiguous
    if ego is not None:
        free = free & ~np.asarray(ego, bool)
    freespace = freespace_boundary(free, ego)
    drivable = free & below_boundary(freespace, free.shape[0])
    return drivable.astype(np.uint8) * np.uint8(255), freespace


def beneath_far_obstacles(freespace: np.ndarray, labels: np.ndarray, obstacle_ids: Sequence[int],
                          ground_ids: Sequence[int], horizon_row: float, camera_height_m: float, clearance_m: float,
                          min_px: float, max_px: float, band_px: int) -> np.ndarray:
    """H x W bool: the road that a far obstacle ending the free space might hide beneath it.

    Where a column's free space ends at an obstacle (``obstacle_ids``: static things and sky, not vehicles,
    which stand on the road and have a check of their own), directly or behind at most ``band_px`` rows of
    ``ground_ids`` (pavement: what the road seen under a trailer in shadow tends to be called), and that
    obstacle's lower edge lies ``min_px`` to ``max_px`` rows below the horizon, the edge may be a trailer's side
    seen as a building, floating ``clearance_m`` above the road. The road from the end of the free space down
    to where such a side would stand on the road (see ambiguity.underride_shadow) is not trusted. Far
    obstacles only: near ones would cost too much road.
    """
    h, w = labels.shape
    b = np.asarray(freespace, np.int64)
    cols = np.arange(w)
    obstacle = np.zeros(256, bool)
    obstacle[np.asarray(list(obstacle_ids), np.int64)] = True
    ground = np.zeros(256, bool)
    ground[np.asarray(list(ground_ids), np.int64)] = True
    # rows b, b - 1, ..., b - band_px of each column: the first obstacle from the bottom, over ground only
    offsets = np.arange(int(band_px) + 1)[:, None]
    rows = np.clip(b[None, :] - offsets, 0, h - 1)
    stack = labels[rows, cols[None, :]]
    hit = obstacle[stack]
    below_is_ground = np.cumprod(np.vstack([np.ones((1, w), bool), ground[stack[:-1]]]), axis=0).astype(bool)
    hit &= below_is_ground
    found = hit.any(axis=0) & (b >= 0)
    edge = b - np.argmax(hit, axis=0)
    depth_px = edge - horizon_row
    valid = found & (depth_px >= min_px) & (depth_px <= max_px)
    out = np.zeros((h, w), bool)
    if not valid.any():
        return out
    if clearance_m >= camera_height_m:
        end = np.full(w, h - 1, np.float64)
    else:
        end = horizon_row + depth_px * (camera_height_m / (camera_height_m - clearance_m))
    rows = np.arange(h)[:, None]
    return (rows > b[None, :]) & (rows <= np.ceil(end)[None, :]) & valid[None, :]

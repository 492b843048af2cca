"""Drivable area from a label map: the drivable classes connected to the vehicle's own position.

The ego region is a small box at the bottom centre of the image, where a forward camera sees the road just in
front of the bumper. Road pixels that are not connected to it (a road across a barrier, a parking lot seen
over a kerb) are not drivable from here.
"""

from typing import Sequence

import cv2
import numpy as np


def ego_region(height: int, width: int, rows_frac: float = 0.08, cols_frac: float = 0.3) -> tuple:
    """(row0, row1, col0, col1) of the bottom-centre box the vehicle occupies in the image."""
    rows = max(1, int(round(height * rows_frac)))
    cols = max(1, int(round(width * cols_frac)))
    c0 = (width - cols) // 2
    return height - rows, height, c0, c0 + cols


def connected_drivable(labels: np.ndarray, drivable_ids: Sequence[int], rows_frac: float = 0.08,
                       cols_frac: float = 0.3) -> np.ndarray:
    """H x W uint8 mask (0 or 255) of drivable-class pixels 4-connected to the ego region."""
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f'labels must be H x W, got shape {labels.shape}')
    candidate = np.isin(labels, np.asarray(list(drivable_ids), dtype=labels.dtype)).astype(np.uint8)
    if not candidate.any():
        return np.zeros(labels.shape, np.uint8)
    count, components = cv2.connectedComponents(candidate, connectivity=4)
    r0, r1, c0, c1 = ego_region(*labels.shape, rows_frac, cols_frac)
    touching = np.unique(components[r0:r1, c0:c1])
    touching = touching[touching != 0]
    return (np.isin(components, touching) * 255).astype(np.uint8)

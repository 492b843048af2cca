"""The classes the node publishes, their colours, and which of them a vehicle may drive on.

One source of truth for class names and palettes. The shipped models are trained on CamVid's 11 classes
(the SegNet split); a model's manifest lists its classes, and these tables are the defaults.
"""

from typing import List, Sequence, Tuple

import numpy as np

CAMVID_CLASSES: Tuple[str, ...] = (
    'sky', 'building', 'pole', 'road', 'sidewalk', 'tree', 'sign', 'fence', 'car', 'pedestrian', 'bicyclist',
)
CAMVID_VOID = 11  # unlabelled pixels in CamVid annotations; ignored in losses and metrics

# Colours of the CamVid palette (Brostow et al. 2009), as SegNet's tutorial shows them, RGB.
CAMVID_PALETTE: Tuple[Tuple[int, int, int], ...] = (
    (128, 128, 128), (128, 0, 0), (192, 192, 128), (128, 64, 128), (60, 40, 222), (128, 128, 0),
    (192, 128, 128), (64, 64, 128), (64, 0, 128), (64, 64, 0), (0, 128, 192),
)

# Classes a vehicle may drive on (lane markings are part of "road" in CamVid's 11-class split).
DRIVABLE_CLASSES: Tuple[str, ...] = ('road', 'lane_marking', 'road_marking')


def drivable_ids(classes: Sequence[str]) -> List[int]:
    """Ids of the drivable classes within a model's class list."""
    return [i for i, name in enumerate(classes) if name in DRIVABLE_CLASSES]


def palette_array(palette: Sequence[Sequence[int]]) -> np.ndarray:
    """A 256 x 3 uint8 lookup table: class id -> colour, black for ids beyond the palette."""
    lut = np.zeros((256, 3), np.uint8)
    lut[:len(palette)] = np.asarray(palette, np.uint8)
    return lut

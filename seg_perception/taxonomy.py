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

# The ambiguity checks (seg_perception.ambiguity) look for obstacles mislabelled as sky: these are the sky
# classes, and the classes of things a vehicle must not drive into that a network may confuse with sky.
SKY_CLASSES: Tuple[str, ...] = ('sky',)
OBSTACLE_CLASSES: Tuple[str, ...] = (
    'building', 'pole', 'tree', 'sign', 'fence', 'car', 'pedestrian', 'bicyclist',
    'truck', 'bus', 'train', 'trailer', 'wall', 'vegetation', 'person', 'rider', 'motorcycle', 'bicycle',
    'traffic_sign', 'traffic_light',
)
# Things that stand still beside or across a road; a vehicle seen as one of them hides the road under it as well.
STATIC_CLASSES: Tuple[str, ...] = ('building', 'wall', 'fence', 'tree', 'vegetation', 'pole', 'sign',
                                   'traffic_sign', 'traffic_light')
# Road vehicles: none is taller than a double-decker bus (4.4 m), which the floating-vehicle check relies on.
VEHICLE_CLASSES: Tuple[str, ...] = ('car', 'truck', 'bus', 'trailer', 'caravan', 'motorcycle')


def drivable_ids(classes: Sequence[str]) -> List[int]:
    """Ids of the drivable classes within a model's class list."""
    return [i for i, name in enumerate(classes) if name in DRIVABLE_CLASSES]


def vehicle_ids(classes: Sequence[str]) -> List[int]:
    """Ids of the vehicle classes (at most a few metres tall) within a model's class list."""
    return [i for i, name in enumerate(classes) if name in VEHICLE_CLASSES]


def static_ids(classes: Sequence[str]) -> List[int]:
    """Ids of the static obstacle classes within a model's class list."""
    return [i for i, name in enumerate(classes) if name in STATIC_CLASSES]


def sky_ids(classes: Sequence[str]) -> List[int]:
    """Ids of the sky classes within a model's class list."""
    return [i for i, name in enumerate(classes) if name in SKY_CLASSES]


def obstacle_ids(classes: Sequence[str]) -> List[int]:
    """Ids of the obstacle classes (things not to drive into) within a model's class list."""
    return [i for i, name in enumerate(classes) if name in OBSTACLE_CLASSES]


def palette_array(palette: Sequence[Sequence[int]]) -> np.ndarray:
    """A 256 x 3 uint8 lookup table: class id -> colour, black for ids beyond the palette."""
    lut = np.zeros((256, 3), np.uint8)
    lut[:len(palette)] = np.asarray(palette, np.uint8)
    return lut


CITYSCAPES_CLASSES: Tuple[str, ...] = (
    'road', 'sidewalk', 'building', 'wall', 'fence', 'pole', 'traffic_light', 'traffic_sign', 'vegetation',
    'terrain', 'sky', 'person', 'rider', 'car', 'truck', 'bus', 'train', 'motorcycle', 'bicycle',
)
CITYSCAPES_PALETTE: Tuple[Tuple[int, int, int], ...] = (
    (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153), (153, 153, 153),
    (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152), (70, 130, 180), (220, 20, 60), (255, 0, 0),
    (0, 0, 142), (0, 0, 70), (0, 60, 100), (0, 80, 100), (0, 0, 230), (119, 11, 32),
)
CITYSCAPES_VOID = 255
# Cityscapes label ids (gtFine_labelIds) -> trainIds (gtFine_labelTrainIds); every other id is void
CITYSCAPES_ID_TO_TRAIN_ID = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11,
                             25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}


def palette_for(classes: Sequence[str]) -> Tuple[Tuple[int, int, int], ...]:
    """The palette of a known class list (CamVid, Cityscapes), else distinct generated colours."""
    if tuple(classes) == CAMVID_CLASSES:
        return CAMVID_PALETTE
    if tuple(classes) == CITYSCAPES_CLASSES:
        return CITYSCAPES_PALETTE
    rng = np.random.default_rng(len(classes))
    return tuple(tuple(int(v) for v in rng.integers(0, 256, 3)) for _ in classes)

"""The classes the node publishes, their colours, which of them a vehicle may drive on, and the shared taxonomy.

One source of truth for class names and for the one colour table. The shipped models are trained on CamVid's
11 classes (the SegNet split); a model's manifest lists its classes, and these tables are the defaults.

The shared taxonomy (``TAXONOMY_CLASSES``) is what predictions and ground truth from different sources are
compared on: CamVid ids, Cityscapes ids and trainIds, CARLA's semantic tags (the 0.9.14+ layout aligned with
Cityscapes, and the older 0.9.x layout) and a model's own class names all map onto it through one table,
``TO_TAXONOMY``, by class name. It is as coarse as CamVid's 11-class split, which every other source refines.

Colours: every image that shows labels (overlays, ``segmentation/color``, the demo, the eval and eval-bag
reports) colours a pixel by its taxonomy class, in the Cityscapes colours that CARLA's CityScapesPalette
shares (``TAXONOMY_PALETTE``): a model's class ids go through ``TO_TAXONOMY`` first (:func:`class_palette`),
and a pixel outside the taxonomy is ``OUTSIDE_COLOUR``. :func:`legend_strip` draws the key.
"""

from dataclasses import dataclass
from functools import lru_cache
from typing import Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

CAMVID_CLASSES: Tuple[str, ...] = (
    'sky', 'building', 'pole', 'road', 'sidewalk', 'tree', 'sign', 'fence', 'car', 'pedestrian', 'bicyclist',
)
CAMVID_VOID = 11  # unlabelled pixels in CamVid annotations; ignored in losses and metrics

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
# Ground beside the road that is not drivable: what the road seen under a trailer in shadow tends to be called
# (the far-static under-ride rule of the drivable area looks for it between the road and a far obstacle).
GROUND_CLASSES: Tuple[str, ...] = ('sidewalk', 'terrain')


def _ids(classes: Sequence[str], group: Tuple[str, ...]) -> List[int]:
    return [i for i, name in enumerate(classes) if name in group]


def drivable_ids(classes: Sequence[str]) -> List[int]:
    """Ids of the drivable classes within a model's class list."""
    return _ids(classes, DRIVABLE_CLASSES)


def vehicle_ids(classes: Sequence[str]) -> List[int]:
    """Ids of the vehicle classes (at most a few metres tall) within a model's class list."""
    return _ids(classes, VEHICLE_CLASSES)


def static_ids(classes: Sequence[str]) -> List[int]:
    """Ids of the static obstacle classes within a model's class list."""
    return _ids(classes, STATIC_CLASSES)


def sky_ids(classes: Sequence[str]) -> List[int]:
    """Ids of the sky classes within a model's class list."""
    return _ids(classes, SKY_CLASSES)


def obstacle_ids(classes: Sequence[str]) -> List[int]:
    """Ids of the obstacle classes (things not to drive into) within a model's class list."""
    return _ids(classes, OBSTACLE_CLASSES)


@dataclass(frozen=True)
class ClassIds:
    """The ids of each class group within one model's class list, as the checks and the drivable area use them."""

    drivable: Tuple[int, ...]
    sky: Tuple[int, ...]
    obstacle: Tuple[int, ...]
    static: Tuple[int, ...]
    vehicle: Tuple[int, ...]
    ground: Tuple[int, ...]


@lru_cache(maxsize=64)
def _class_ids(classes: Tuple[str, ...]) -> ClassIds:
    groups = (DRIVABLE_CLASSES, SKY_CLASSES, OBSTACLE_CLASSES, STATIC_CLASSES, VEHICLE_CLASSES, GROUND_CLASSES)
    return ClassIds(*(tuple(_ids(classes, group)) for group in groups))


def class_ids(classes: Union[Sequence[str], ClassIds]) -> ClassIds:
    """The class groups' ids of a model's class list, computed once per list; a ClassIds is returned as is."""
    if isinstance(classes, ClassIds):
        return classes
    return _class_ids(tuple(classes))


CITYSCAPES_CLASSES: Tuple[str, ...] = (
    'road', 'sidewalk', 'building', 'wall', 'fence', 'pole', 'traffic_light', 'traffic_sign', 'vegetation',
    'terrain', 'sky', 'person', 'rider', 'car', 'truck', 'bus', 'train', 'motorcycle', 'bicycle',
)
CITYSCAPES_VOID = 255
# Cityscapes label ids (gtFine_labelIds) -> trainIds (gtFine_labelTrainIds); every other id is void
CITYSCAPES_ID_TO_TRAIN_ID = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11,
                             25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}


# --- the shared taxonomy ---------------------------------------------------------------------------------------

TAXONOMY_CLASSES: Tuple[str, ...] = (
    'road', 'sidewalk', 'building', 'fence', 'pole', 'sign', 'vegetation', 'sky', 'person', 'cyclist', 'vehicle',
)
TAXONOMY_IGNORE = 255   # pixels of a class outside the taxonomy (ego vehicle, water, rails, ...): not scored
# The one colour table, RGB per taxonomy id: Cityscapes' colours (cityscapesScripts labels.py), which CARLA's
# CityScapesPalette repeats. Where the taxonomy merges Cityscapes classes, the colour is that of the class
# that names it: sign is traffic sign's yellow, cyclist is bicycle's dark red (rider's pure red sits too close
# to person's crimson), vehicle is car's blue, which an overlay tells apart from road's purple at a glance
# (CamVid's car, 64,0,128, is a darker shade of the same purple as its road).
TAXONOMY_PALETTE: Tuple[Tuple[int, int, int], ...] = (
    (128, 64, 128),     # road
    (244, 35, 232),     # sidewalk
    (70, 70, 70),       # building
    (190, 153, 153),    # fence
    (153, 153, 153),    # pole
    (220, 220, 0),      # sign
    (107, 142, 35),     # vegetation
    (70, 130, 180),     # sky
    (220, 20, 60),      # person
    (119, 11, 32),      # cyclist
    (0, 0, 142),        # vehicle
)
OUTSIDE_COLOUR: Tuple[int, int, int] = (0, 0, 0)    # a pixel outside the taxonomy: Cityscapes' unlabeled black
OUTSIDE_NAME = 'other'                              # what the legend calls it

# Every source class name -> its taxonomy class, or None for "not scored". CamVid's SegNet split already merges
# wall, bridge and tunnel into building, traffic lights into sign, trucks, buses and trains into car, and
# motorcycles into bicyclist; the finer sources are merged the same way. Grass and soil (terrain) are vegetation.
TO_TAXONOMY: Dict[str, Optional[str]] = {
    # the taxonomy itself, and CamVid (SegNet's 11 classes)
    **{name: name for name in TAXONOMY_CLASSES},
    'tree': 'vegetation', 'car': 'vehicle', 'pedestrian': 'person', 'bicyclist': 'cyclist',
    # Cityscapes (labels.py names, spaces as underscores)
    'wall': 'building', 'bridge': 'building', 'tunnel': 'building', 'guard_rail': 'fence', 'polegroup': 'pole',
    'traffic_light': 'sign', 'traffic_sign': 'sign', 'terrain': 'vegetation', 'rider': 'cyclist',
    'truck': 'vehicle', 'bus': 'vehicle', 'caravan': 'vehicle', 'trailer': 'vehicle', 'train': 'vehicle',
    'motorcycle': 'cyclist', 'bicycle': 'cyclist',
    'unlabeled': None, 'ego_vehicle': None, 'rectification_border': None, 'out_of_roi': None, 'static': None,
    'dynamic': None, 'ground': None, 'parking': None, 'rail_track': None, 'license_plate': None, 'void': None,
    # CARLA tags not named as above
    'road_line': 'road', 'vehicles': 'vehicle', 'other': None, 'water': None,
}

# Cityscapes label ids (gtFine_labelIds), 0..33, by their names in cityscapesScripts' labels.py
CITYSCAPES_ID_NAMES: Tuple[str, ...] = (
    'unlabeled', 'ego_vehicle', 'rectification_border', 'out_of_roi', 'static', 'dynamic', 'ground', 'road',
    'sidewalk', 'parking', 'rail_track', 'building', 'wall', 'fence', 'guard_rail', 'bridge', 'tunnel', 'pole',
    'polegroup', 'traffic_light', 'traffic_sign', 'vegetation', 'terrain', 'sky', 'person', 'rider', 'car', 'truck',
    'bus', 'caravan', 'trailer', 'train', 'motorcycle', 'bicycle',
)
# CARLA semantic tags, 0.9.14 and later (aligned with Cityscapes' trainId order for 1..19)
CARLA_TAGS: Tuple[str, ...] = (
    'unlabeled', 'road', 'sidewalk', 'building', 'wall', 'fence', 'pole', 'traffic_light', 'traffic_sign',
    'vegetation', 'terrain', 'sky', 'pedestrian', 'rider', 'car', 'truck', 'bus', 'train', 'motorcycle', 'bicycle',
    'static', 'dynamic', 'other', 'water', 'road_line', 'ground', 'bridge', 'rail_track', 'guard_rail',
)
# CARLA semantic tags before 0.9.14 (0.9.10 .. 0.9.13; releases before 0.9.10 use the first 13)
CARLA_LEGACY_TAGS: Tuple[str, ...] = (
    'unlabeled', 'building', 'fence', 'other', 'pedestrian', 'pole', 'road_line', 'road', 'sidewalk', 'vegetation',
    'vehicles', 'wall', 'traffic_sign', 'sky', 'ground', 'bridge', 'rail_track', 'guard_rail', 'traffic_light',
    'static', 'dynamic', 'water', 'terrain',
)
# CARLA's CityScapesPalette colours (carla.ColorConverter.CityScapesPalette, RGB) by tag, for each layout; the
# palette is what carla-ros-bridge publishes on a semantic camera's image topic (bgra8). The layouts give the
# fence and terrain different colours; every colour the two share names the same class in both, so one table
# decodes either (carla_palette_lut).
CARLA_PALETTE: Tuple[Tuple[int, int, int], ...] = (
    (0, 0, 0), (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153), (153, 153, 153),
    (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152), (70, 130, 180), (220, 20, 60), (255, 0, 0),
    (0, 0, 142), (0, 0, 70), (0, 60, 100), (0, 80, 100), (0, 0, 230), (119, 11, 32), (110, 190, 160),
    (170, 120, 50), (55, 90, 80), (45, 60, 150), (157, 234, 50), (81, 0, 81), (150, 100, 100), (230, 150, 140),
    (180, 165, 180),
)
CARLA_LEGACY_PALETTE: Tuple[Tuple[int, int, int], ...] = (
    (0, 0, 0), (70, 70, 70), (100, 40, 40), (55, 90, 80), (220, 20, 60), (153, 153, 153), (157, 234, 50),
    (128, 64, 128), (244, 35, 232), (107, 142, 35), (0, 0, 142), (102, 102, 156), (220, 220, 0), (70, 130, 180),
    (81, 0, 81), (150, 100, 100), (230, 150, 140), (180, 165, 180), (250, 170, 30), (110, 190, 160),
    (170, 120, 50), (45, 60, 150), (145, 170, 100),
)
# Each label source's class names by id
SOURCE_CLASSES: Dict[str, Tuple[str, ...]] = {
    'taxonomy': TAXONOMY_CLASSES,      # what seg_node publishes by default (label_ids: taxonomy)
    'camvid': CAMVID_CLASSES,
    'cityscapes': CITYSCAPES_ID_NAMES,
    'cityscapes_train_id': CITYSCAPES_CLASSES,
    'carla': CARLA_TAGS,
    'carla_legacy': CARLA_LEGACY_TAGS,
}


def taxonomy_lut(classes: Sequence[str]) -> np.ndarray:
    """A 256-entry uint8 lookup table: id in ``classes`` -> taxonomy id; TAXONOMY_IGNORE for the rest.

    ``classes`` is a source's class list (``SOURCE_CLASSES[...]``) or a model's own; a name missing from
    ``TO_TAXONOMY`` is an error rather than a silently unscored class.
    """
    unknown = [name for name in classes if name not in TO_TAXONOMY]
    if unknown:
        raise KeyError(f'classes {", ".join(unknown)} have no entry in taxonomy.TO_TAXONOMY; add each there, '
                       f'mapped to one of {", ".join(TAXONOMY_CLASSES)} or to None (not scored)')
    lut = np.full(256, TAXONOMY_IGNORE, np.uint8)
    for index, name in enumerate(classes):
        target = TO_TAXONOMY[name]
        if target is not None:
            lut[index] = TAXONOMY_CLASSES.index(target)
    return lut


def to_taxonomy(labels: np.ndarray, source) -> np.ndarray:
    """Labels (uint8 ids) of ``source`` as taxonomy ids; ``source`` is a ``SOURCE_CLASSES`` key or a class list."""
    if isinstance(source, str):
        if source not in SOURCE_CLASSES:
            raise KeyError(f'unknown label source {source!r}; known: {", ".join(SOURCE_CLASSES)}')
        source = SOURCE_CLASSES[source]
    return taxonomy_lut(source)[np.asarray(labels, np.uint8)]


def _packed(rgb: np.ndarray) -> np.ndarray:
    rgb = np.asarray(rgb)
    return (rgb[..., 0].astype(np.uint32) << 16) | (rgb[..., 1].astype(np.uint32) << 8) | rgb[..., 2]


def carla_palette_lut() -> Tuple[np.ndarray, np.ndarray]:
    """(sorted packed 0xRRGGBB colours, their taxonomy ids) of CARLA's CityScapesPalette, both tag layouts."""
    table: Dict[int, int] = {}
    for tags, palette in ((CARLA_TAGS, CARLA_PALETTE), (CARLA_LEGACY_TAGS, CARLA_LEGACY_PALETTE)):
        lut = taxonomy_lut(tags)
        for tag, colour in enumerate(palette):
            key = int(_packed(np.array(colour)))
            if table.setdefault(key, int(lut[tag])) != lut[tag]:
                raise ValueError(f'CARLA palette colour {colour} names two taxonomy classes')
    keys = np.array(sorted(table), np.uint32)
    return keys, np.array([table[k] for k in keys], np.uint8)


def palette_to_taxonomy(rgb: np.ndarray, max_unknown_share: float = 0.01) -> np.ndarray:
    """Taxonomy ids of an H x W x 3 RGB image in CARLA's CityScapesPalette (0.9.14+ or older tag layout).

    Colours in neither palette are not scored (TAXONOMY_IGNORE); more than ``max_unknown_share`` of them means
    the image is not a palette image (raw tags, a lossy jpeg, channels swapped): a ValueError names them.
    """
    keys, ids = carla_palette_lut()
    packed = _packed(rgb)
    index = np.minimum(np.searchsorted(keys, packed), len(keys) - 1)
    known = keys[index] == packed
    unknown = packed[~known]
    if unknown.size > max_unknown_share * packed.size:
        values, counts = np.unique(unknown, return_counts=True)
        common = ', '.join(f'({v >> 16}, {(v >> 8) & 255}, {v & 255})' for v in values[np.argsort(-counts)][:3])
        raise ValueError(f'{unknown.size / packed.size:.0%} of the pixels have colours outside CARLA\'s '
                         f'CityScapesPalette (most common: {common}); raw tags in the red channel are '
                         f'--gt-format carla or carla_legacy, and a jpeg-compressed palette image cannot be decoded')
    return np.where(known, ids[index], np.uint8(TAXONOMY_IGNORE)).astype(np.uint8)


# --- colours ---------------------------------------------------------------------------------------------------

def class_palette(classes: Sequence[str] = TAXONOMY_CLASSES) -> Tuple[Tuple[int, int, int], ...]:
    """The colour of each class in ``classes``: its taxonomy class's (TAXONOMY_PALETTE), by ``TO_TAXONOMY``.

    A class that maps to None, or that ``TO_TAXONOMY`` does not name, is OUTSIDE_COLOUR: colouring never
    refuses a model (scoring does, see :func:`taxonomy_lut`).
    """
    def colour(name):
        target = TO_TAXONOMY.get(name)
        return OUTSIDE_COLOUR if target is None else TAXONOMY_PALETTE[TAXONOMY_CLASSES.index(target)]
    return tuple(colour(name) for name in classes)


@lru_cache(maxsize=16)
def _colour_lut(classes: Tuple[str, ...]) -> np.ndarray:
    lut = np.tile(np.asarray(OUTSIDE_COLOUR, np.uint8), (256, 1))
    lut[:len(classes)] = np.asarray(class_palette(classes), np.uint8).reshape(-1, 3)
    lut.setflags(write=False)   # shared between callers
    return lut


def colour_lut(classes: Sequence[str] = TAXONOMY_CLASSES) -> np.ndarray:
    """A read-only 256 x 3 uint8 lookup table: id in ``classes`` -> RGB colour; OUTSIDE_COLOUR beyond them.

    The default, the taxonomy itself, colours the node's ``segmentation/labels`` (255 included).
    """
    return _colour_lut(tuple(classes))


def colourise(labels: np.ndarray, classes: Sequence[str] = TAXONOMY_CLASSES) -> np.ndarray:
    """H x W x 3 uint8 RGB colours of H x W uint8 ``labels``, ids in ``classes`` (default: taxonomy ids)."""
    return colour_lut(classes)[np.asarray(labels, np.uint8)]


def legend_strip(width: int, font_scale: float = 0.5) -> np.ndarray:
    """An RGB image ``width`` pixels wide: a swatch and the name of every taxonomy class, and of OUTSIDE_NAME.

    Entries run left to right in taxonomy order, black text on white, and wrap onto further rows where
    ``width`` is too narrow; the strip goes under a contact sheet or a report's images.
    """
    font, thickness = cv2.FONT_HERSHEY_SIMPLEX, 1
    entries = list(zip(TAXONOMY_CLASSES, TAXONOMY_PALETTE)) + [(OUTSIDE_NAME, OUTSIDE_COLOUR)]
    (_, text_h), baseline = cv2.getTextSize('Hg', font, font_scale, thickness)
    swatch = text_h + baseline + 4
    pad = max(4, swatch // 3)
    row_h = swatch + 2 * pad
    places, x, y = [], pad, pad        # each entry's top-left corner, flowed like words in a line of text
    for name, _ in entries:
        entry_w = swatch + pad + cv2.getTextSize(name, font, font_scale, thickness)[0][0]
        if x > pad and x + entry_w > width - pad:
            x, y = pad, y + row_h
        places.append((x, y))
        x += entry_w + 3 * pad
    strip = np.full((y + swatch + pad, width, 3), 255, np.uint8)
    for (name, colour), (x, y) in zip(entries, places):
        cv2.rectangle(strip, (x, y), (x + swatch - 1, y + swatch - 1), tuple(int(c) for c in colour), cv2.FILLED)
        # a grey outline, so that a dark or light swatch keeps its edge on the white strip
        cv2.rectangle(strip, (x, y), (x + swatch - 1, y + swatch - 1), (128, 128, 128), 1)
        cv2.putText(strip, name, (x + swatch + pad, y + swatch - baseline - 2), font, font_scale, (0, 0, 0),
                    thickness, cv2.LINE_AA)
    return strip

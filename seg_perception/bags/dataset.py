"""Training data from recorded drives: a rosbag2 bag's camera frames paired with its ground-truth label images.

``seg-perception train --dataset bag --root DRIVE --image-topic ... --gt-topic ... --gt-format carla_palette``
trains on a bag recorded with ``launch/carla.launch.py`` or written by ``seg-perception carla-capture`` (or any
bag with an image topic and a label-image topic). Frames and labels are paired by header stamp; the labels are
read in the shared taxonomy (``seg_perception.taxonomy``), so the model learns the node's output classes. The
split is by frame order: every ``val_every``-th pair is val, the rest train (consecutive frames of a drive are
nearly the same picture, so a random split would leak). ``datasets.load('bag', ...)`` returns the split as a
``LabelledImages``; this module does not import ``datasets``, so that the training data imports the bags and
not the other way round.

Reads bags with the ``rosbags`` library: no ROS installation and no rclpy needed.
"""

from typing import Dict, List, NamedTuple, Tuple

import numpy as np

from ..taxonomy import TAXONOMY_CLASSES, TAXONOMY_IGNORE
from .evaluate import GT_FORMATS, ground_truth
from .format import open_bag
from .messages import as_rgb, image_array, stamp_ns

VAL_EVERY = 5


class BagSplit(NamedTuple):
    """A split of a bag's (frame, labels) pairs, with the fields of ``datasets.LabelledImages``."""

    images: List[np.ndarray]
    labels: List[np.ndarray]
    classes: Tuple[str, ...]
    ignore_index: int
    names: List[str]


def load_bag(path: str, split: str = 'train', limit: int = 0, image_topic: str = '/image', gt_topic: str = '/gt',
             gt_format: str = 'carla', val_every: int = VAL_EVERY) -> BagSplit:
    """The ``split`` ('train' or 'val') of the (frame, labels) pairs in bag ``path``, labels as taxonomy ids."""
    if gt_format not in GT_FORMATS:
        raise ValueError(f'gt format {gt_format!r}: expected one of {", ".join(GT_FORMATS)}')
    if split not in ('train', 'val'):
        raise ValueError(f'split {split!r}: a bag splits into train and val only')
    frames: Dict[int, np.ndarray] = {}
    truths: Dict[int, np.ndarray] = {}
    with open_bag(path) as reader:
        present = {c.topic for c in reader.connections}
        missing = [t for t in (image_topic, gt_topic) if t not in present]
        if missing:
            raise ValueError(f'{path} has no topic {", ".join(missing)}; it holds: {", ".join(sorted(present))}')
        connections = [c for c in reader.connections if c.topic in (image_topic, gt_topic)]
        for connection, _, data in reader.messages(connections=connections):
            msg = reader.deserialize(data, connection.msgtype)
            if connection.topic == gt_topic:
                truths[stamp_ns(msg)] = ground_truth(msg, gt_format)
            else:
                frames[stamp_ns(msg)] = as_rgb(image_array(msg))
    stamps = sorted(set(frames) & set(truths))
    if not stamps:
        raise ValueError(f'{path}: no frame on {image_topic} has labels on {gt_topic} with the same header stamp')
    for stamp in stamps:
        if frames[stamp].shape[:2] != truths[stamp].shape:
            raise ValueError(f'{path}: the frame stamped {stamp} ns is {frames[stamp].shape[1]}x'
                             f'{frames[stamp].shape[0]} but its labels are {truths[stamp].shape[1]}x'
                             f'{truths[stamp].shape[0]}; the label camera must match the camera')
    chosen = [s for i, s in enumerate(stamps) if (i % val_every == val_every - 1) == (split == 'val')]
    chosen = chosen[:limit or None]
    return BagSplit([frames[s] for s in chosen], [truths[s] for s in chosen], TAXONOMY_CLASSES, TAXONOMY_IGNORE,
                    [f'{s}' for s in chosen])

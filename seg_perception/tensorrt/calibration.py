"""INT8 calibration images: from a folder of images or from a rosbag2 bag's camera topic.

Calibration shows TensorRT's entropy calibrator what the network sees on the road, so the images go through
the node's own pre-processing (:func:`seg_perception.segmenter.to_network_size`) and come out as what the
engine's ``image`` input takes: N x H x W x 3 uint8 RGB at the network size. Frames should come from the
cameras and conditions the engine will run in; a few hundred are enough.

Bags are read with the ``rosbags`` library (no ROS installation needed).
"""

import glob
import os
from typing import Iterator, Tuple

import cv2
import numpy as np

from ..bags.format import open_bag
from ..bags.messages import IMAGE_TYPES, as_rgb, image_array
from ..image_files import IMAGE_EXTENSIONS
from ..segmenter import to_network_size


class CalibrationDataError(ValueError):
    """Calibration images cannot be read; the message names the folder, bag or topic."""


def _as_rgb(pixels: np.ndarray, source: str) -> np.ndarray:
    if pixels.dtype != np.uint8:
        raise CalibrationDataError(f'{source}: {pixels.dtype} pixels; calibration needs 8-bit camera images')
    return as_rgb(pixels)


def folder_images(folder: str, input_hw: Tuple[int, int], limit: int = 0) -> Iterator[np.ndarray]:
    """Network-sized RGB images from a folder's image files, or the files a glob pattern names (``dir/frame_*.jpg``).

    Files are taken sorted by name, at most ``limit`` of them (0: all).
    """
    if glob.has_magic(folder):
        files = sorted(f for f in glob.glob(folder) if f.lower().endswith(IMAGE_EXTENSIONS))
    elif os.path.isdir(folder):
        files = sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTENSIONS))
    else:
        raise CalibrationDataError(f'calibration folder {folder} does not exist')
    if not files:
        raise CalibrationDataError(f'calibration images {folder}: no image files ({", ".join(IMAGE_EXTENSIONS)})')
    for path in files[:limit or None]:
        bgr = cv2.imread(path, cv2.IMREAD_COLOR)
        if bgr is None:
            raise CalibrationDataError(f'cannot read calibration image {path}')
        yield to_network_size(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), input_hw)


def bag_images(bag: str, topic: str, input_hw: Tuple[int, int], limit: int = 0,
               every: int = 1) -> Iterator[np.ndarray]:
    """Network-sized RGB images from ``topic`` (Image or CompressedImage) of ``bag``; every ``every``-th frame."""
    try:
        reader = open_bag(bag)      # a bag, or a folder of split bags as `seg-perception record` writes them
    except FileNotFoundError as e:
        raise CalibrationDataError(f'calibration bag {e}') from None
    with reader:
        connections = [c for c in reader.connections if c.topic == topic]
        if not connections or connections[0].msgtype not in IMAGE_TYPES:
            found = sorted(f'{c.topic} ({c.msgtype})' for c in reader.connections if c.msgtype in IMAGE_TYPES)
            what = f'is {connections[0].msgtype}, not an image' if connections else 'is not in it'
            raise CalibrationDataError(f'calibration bag {bag}: topic {topic} {what}; image topics there: '
                                       f'{", ".join(found) or "none"}')
        count = 0
        for index, (connection, _, data) in enumerate(reader.messages(connections=connections)):
            if index % every:
                continue
            msg = reader.deserialize(data, connection.msgtype)
            try:
                pixels = image_array(msg)
            except ValueError as e:
                raise CalibrationDataError(f'calibration bag {bag}, topic {topic}: {e}') from None
            yield to_network_size(_as_rgb(pixels, f'{bag} {topic}'), input_hw)
            count += 1
            if limit and count >= limit:
                break


def batches(images: Iterator[np.ndarray], batch_size: int) -> Iterator[np.ndarray]:
    """Stack images into N x H x W x 3 batches of exactly ``batch_size`` (a last, shorter batch is dropped)."""
    batch = []
    for image in images:
        batch.append(image)
        if len(batch) == batch_size:
            yield np.stack(batch)
            batch = []


def calibration_images(config, input_hw: Tuple[int, int]) -> Iterator[np.ndarray]:
    """The images of a tensorrt.config.CalibrationConfig (its folder, or its bag and topic), up to its limit."""
    if config.images:
        return folder_images(config.images, input_hw, config.limit)
    return bag_images(config.bag, config.topic, input_hw, config.limit)

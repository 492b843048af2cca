"""The bag format shared by the bag tools: message definitions, rosbag2 version and storage, where a bag's files are.

No rclpy here, so that writing and reading bags (``carla-capture``, ``eval-bag``) works without ROS installed.
"""

import os
from pathlib import Path
from typing import List

from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

TYPESTORE = get_typestore(Stores.ROS2_KILTED)   # the standard message definitions, as ros2 bag and Foxglove read
BAG_VERSION = 9


def bag_writer(path: str) -> Writer:
    """An open rosbag2 writer of a new bag at ``path`` (must not exist): MCAP storage, metadata version 9."""
    writer = Writer(path, version=BAG_VERSION, storage_plugin=StoragePlugin.MCAP)
    writer.open()
    return writer


def _parts(path: str) -> List[str]:
    if os.path.isfile(os.path.join(path, 'metadata.yaml')):
        return [path]
    return sorted(os.path.join(path, d) for d in os.listdir(path) if os.path.isfile(
        os.path.join(path, d, 'metadata.yaml'))) if os.path.isdir(path) else []


def is_bag(path: str) -> bool:
    """Whether ``path`` is a rosbag2 bag or a folder of split bags (as ``seg-perception record`` writes them)."""
    return bool(_parts(path))


def bag_paths(path: str) -> List[str]:
    """The bag at ``path``, or the split parts (folders holding metadata.yaml) in it, in order."""
    parts = _parts(path)
    if not parts:
        raise FileNotFoundError(f'{path} is not a rosbag2 bag (no metadata.yaml) nor a folder of split bags')
    return parts


def open_bag(path: str):
    """A ``rosbags`` AnyReader over the bag (or split bags) at ``path``; bags without definitions read with TYPESTORE.

    Use it as a context manager: ``with open_bag(path) as reader: ...``.
    """
    from rosbags.highlevel import AnyReader

    return AnyReader([Path(p) for p in bag_paths(path)], default_typestore=TYPESTORE)

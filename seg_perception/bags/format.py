"""The bag format shared by the bag tools: message definitions, rosbag2 version, and where a bag's files are.

No rclpy here, so that writing and reading bags (``carla-capture``, ``eval-bag``) works without ROS installed.
"""

import os
from typing import List

from rosbags.typesys import Stores, get_typestore

TYPESTORE = get_typestore(Stores.ROS2_KILTED)   # the standard message definitions, as ros2 bag and Foxglove read
BAG_VERSION = 9


def bag_paths(path: str) -> List[str]:
    """The bag at ``path``, or the split parts (folders holding metadata.yaml) in it, in order."""
    if os.path.isfile(os.path.join(path, 'metadata.yaml')):
        return [path]
    parts = sorted(os.path.join(path, d) for d in os.listdir(path) if os.path.isfile(
        os.path.join(path, d, 'metadata.yaml'))) if os.path.isdir(path) else []
    if not parts:
        raise FileNotFoundError(f'{path} is not a rosbag2 bag (no metadata.yaml) nor a folder of split bags')
    return parts

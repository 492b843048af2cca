"""Camera and label-image messages as numpy arrays: sensor_msgs Image and CompressedImage, decoded without ROS.

The messages are the ones the ``rosbags`` library deserializes from a bag, or rclpy's (any object with the same
fields decodes the same way); nothing here imports rclpy or a message package. Also the header stamp in
nanoseconds, the one key by which frames, labels and alarms are matched.
"""

import cv2
import numpy as np

IMAGE_TYPES = ('sensor_msgs/msg/Image', 'sensor_msgs/msg/CompressedImage')
_CHANNELS = {'mono8': 1, '8UC1': 1, 'mono16': 1, '16UC1': 1, 'rgb8': 3, 'bgr8': 3, '8UC3': 3, 'rgba8': 4,
             'bgra8': 4, '8UC4': 4}


def stamp_ns(stamp) -> int:
    """The time of a builtin_interfaces Time, of a Header's stamp, or of a message's header stamp, in nanoseconds."""
    stamp = getattr(stamp, 'header', stamp)
    stamp = getattr(stamp, 'stamp', stamp)
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def image_array(msg) -> np.ndarray:
    """A deserialized Image or CompressedImage as H x W (mono) or H x W x 3 RGB pixels; alpha dropped."""
    if hasattr(msg, 'format'):
        pixels = cv2.imdecode(np.frombuffer(bytes(msg.data), np.uint8), cv2.IMREAD_UNCHANGED)
        if pixels is None:
            raise ValueError(f'cannot decode a {msg.format!r} CompressedImage')
        return pixels[:, :, 2::-1] if pixels.ndim == 3 else pixels
    if msg.encoding not in _CHANNELS:
        raise ValueError(f'image encoding {msg.encoding!r} is not read here; expected one of {", ".join(_CHANNELS)}')
    channels = _CHANNELS[msg.encoding]
    dtype = np.dtype('>u2' if msg.is_bigendian else '<u2') if '16' in msg.encoding else np.dtype(np.uint8)
    rows = np.frombuffer(bytes(msg.data), dtype).reshape(msg.height, msg.step // dtype.itemsize)
    pixels = rows[:, :msg.width * channels].reshape(msg.height, msg.width, channels)
    if channels == 1:
        return pixels[:, :, 0]
    return pixels[:, :, 2::-1] if msg.encoding.startswith('bgr') else pixels[:, :, :3]


def as_rgb(pixels: np.ndarray) -> np.ndarray:
    """H x W x 3 pixels of an ``image_array``: one channel (grey) repeated in all three; a contiguous array."""
    return np.ascontiguousarray(pixels if pixels.ndim == 3 else np.repeat(pixels[:, :, None], 3, axis=2))

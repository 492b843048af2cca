"""Image and video files: the file name extensions read as images and as videos, and a reader of their frames."""

import glob
import os
import sys
from typing import Iterator, Tuple

import numpy as np

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.ppm', '.tif', '.tiff', '.webp')
VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mkv', '.mov', '.webm', '.m4v')


class ImageFileError(ValueError):
    """A source of frames cannot be read; the message names the file or folder and what is wrong."""


def read_frames(source: str) -> Iterator[Tuple[str, np.ndarray]]:
    """Yield (name, H x W x 3 RGB) from an image file, a folder of images, or a video file.

    Images are named by their file name without the extension, video frames ``frame_NNNNNN``; an image in a
    folder that does not decode is skipped with a warning on stderr. Raises :class:`ImageFileError` for a
    folder without images, a video that does not open, or a path that is none of the three.
    """
    import cv2

    if os.path.isdir(source):
        paths = sorted(p for p in glob.glob(os.path.join(source, '*')) if p.lower().endswith(IMAGE_EXTENSIONS))
        if not paths:
            raise ImageFileError(f'no images ({", ".join(IMAGE_EXTENSIONS)}) in folder {source}')
    elif source.lower().endswith(VIDEO_EXTENSIONS):
        capture = cv2.VideoCapture(source)
        if not capture.isOpened():
            raise ImageFileError(f'cannot open video {source}')
        index = 0
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            yield f'frame_{index:06d}', bgr[:, :, ::-1]
            index += 1
        capture.release()
        return
    elif os.path.isfile(source):
        paths = [source]
    else:
        raise ImageFileError(f'{source} is not an image, a folder of images or a video')
    for path in paths:
        bgr = cv2.imread(path, cv2.IMREAD_COLOR)
        if bgr is None:
            print(f'warning: cannot decode {path}; skipped', file=sys.stderr)
            continue
        yield os.path.splitext(os.path.basename(path))[0], bgr[:, :, ::-1]

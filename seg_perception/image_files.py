"""Image files, folders of them and video files as RGB frames, with errors that name the file and what is wrong.

The core's one reader of user files: ``seg-perception segment`` and ``play`` take frames from here::

    rgb = read_image('frame.png')                   # H x W x 3 uint8 RGB, or ImageFileError saying why not
    for rgb in video_frames('drive.mp4'): ...
"""

import contextlib
import os
import sys
from typing import Iterator, List, Tuple

import cv2
import numpy as np

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.ppm', '.tif', '.tiff', '.webp')
VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mkv', '.mov', '.webm', '.m4v')


class ImageFileError(ValueError):
    """A file or folder that gives no frame; the message starts with its path and says what is wrong."""


@contextlib.contextmanager
def _quiet_opencv():
    """Silence OpenCV's own log lines (libpng's 'input buffer is incomplete', ...): the error says it instead."""
    logging = cv2.utils.logging
    level = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        logging.setLogLevel(level)


def is_video(path: str) -> bool:
    """Whether ``path`` names a video file by its extension."""
    return path.lower().endswith(VIDEO_EXTENSIONS)


def read_image(path: str) -> np.ndarray:
    """The image file ``path`` as H x W x 3 uint8 RGB; ImageFileError if missing, empty, unreadable or undecodable."""
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except FileNotFoundError:
        raise ImageFileError(f'{path}: not found') from None
    except IsADirectoryError:
        raise ImageFileError(f'{path}: is a folder, not an image file') from None
    except OSError as e:
        raise ImageFileError(f'{path}: cannot read: {e.strerror or e}') from None
    if not data:
        raise ImageFileError(f'{path}: empty file (0 bytes)')
    with _quiet_opencv():
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        known_format = cv2.haveImageReader(path)
    if bgr is None:
        if known_format:
            raise ImageFileError(f'{path}: cannot decode: truncated or corrupt image ({len(data)} bytes)')
        raise ImageFileError(f'{path}: cannot decode: not an image format OpenCV reads ({", ".join(IMAGE_EXTENSIONS)})')
    return np.ascontiguousarray(bgr[:, :, ::-1])


def image_paths(folder: str) -> List[str]:
    """The image files of ``folder`` by extension, sorted by name; ImageFileError when there are none."""
    try:
        names = os.listdir(folder)
    except OSError as e:
        raise ImageFileError(f'{folder}: cannot list: {e.strerror or e}') from None
    paths = sorted(os.path.join(folder, n) for n in names if n.lower().endswith(IMAGE_EXTENSIONS))
    if not paths:
        raise ImageFileError(f'{folder}: no image files ({", ".join(IMAGE_EXTENSIONS)}) in this folder')
    return paths


def video_frames(path: str) -> Iterator[np.ndarray]:
    """The frames of the video file ``path`` as RGB; ImageFileError if it is missing, cannot be opened or has none."""
    if not os.path.exists(path):
        raise ImageFileError(f'{path}: not found')
    if os.path.getsize(path) == 0:
        raise ImageFileError(f'{path}: empty file (0 bytes)')
    with _quiet_opencv():
        capture = cv2.VideoCapture(path)
    if not capture.isOpened():
        raise ImageFileError(f'{path}: cannot open as a video')
    count = 0
    try:
        while True:
            with _quiet_opencv():
                ok, bgr = capture.read()
            if not ok:
                break
            count += 1
            yield np.ascontiguousarray(bgr[:, :, ::-1])
    finally:
        capture.release()
    if not count:
        raise ImageFileError(f'{path}: cannot decode: no video frame could be read')


def read_frames(source: str) -> Iterator[Tuple[str, np.ndarray]]:
    """Yield (name, rgb) from an image file, a folder of images, or a video file (``play`` publishes these).

    Images are named by their file name without the extension, a video's frames ``<video name>_NNNNNN``.
    ImageFileError (a ValueError) for a source that gives no frame; a file of a folder that cannot be decoded is
    skipped with a warning naming it and what is wrong.
    """
    if is_video(source):
        stem = os.path.splitext(os.path.basename(source))[0]
        for index, rgb in enumerate(video_frames(source)):
            yield f'{stem}_{index:06d}', rgb
        return
    if not os.path.isdir(source):
        yield os.path.splitext(os.path.basename(source))[0], read_image(source)
        return
    for path in image_paths(source):
        try:
            rgb = read_image(path)
        except ImageFileError as e:
            print(f'warning: {e}; skipped', file=sys.stderr)
            continue
        yield os.path.splitext(os.path.basename(path))[0], rgb

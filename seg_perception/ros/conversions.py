"""Conversion between sensor_msgs images and the H x W x 3 uint8 RGB arrays the segmenter takes.

Pure functions: they import message types only, never rclpy, so they are tested with hand-made messages.
Every input that cannot become an RGB image raises :class:`~seg_perception.segmenter.InputError`, whose
message names the field, what was expected and what arrived.

Nothing is allocated for an image before its claimed size has been checked: a raw image's width x height
against ``max_pixels`` and its data length, a compressed image's width x height read from its file header
(JPEG SOF, PNG IHDR) before decoding, so that a small file claiming 60000 x 60000 pixels (a decompression
bomb) is refused without decoding it. :func:`check_message` runs every check that needs no decoding (encoding
or format, sizes, data length, the file header and the pixel limit): the node's subscription callback runs it,
so that a malformed message never takes the one-slot holder's place of a good frame (seg_perception.ros.streams).
"""

import array

import cv2
import numpy as np
from sensor_msgs.msg import CompressedImage, Image, PointCloud2, PointField
from std_msgs.msg import Header

from ..segmenter import InputError, check_rgb

# encoding -> (channels, OpenCV conversion to RGB; None: already RGB)
IMAGE_ENCODINGS = {
    'rgb8': (3, None),
    'bgr8': (3, cv2.COLOR_BGR2RGB),
    'rgba8': (4, cv2.COLOR_RGBA2RGB),
    'bgra8': (4, cv2.COLOR_BGRA2RGB),
    'mono8': (1, cv2.COLOR_GRAY2RGB),
}
_JPEG_END = b'\xff\xd9'  # the EOI marker; entropy-coded data never contains it (0xff is stuffed as ff 00)
_JPEG_START = b'\xff\xd8\xff'
_PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
# JPEG start-of-frame markers (ITU T.81 table B.1): SOF0..SOF15 except DHT (c4), JPG (c8) and DAC (cc)
_JPEG_SOF = frozenset(range(0xc0, 0xd0)) - {0xc4, 0xc8, 0xcc}
_JPEG_STANDALONE = frozenset(range(0xd0, 0xd8)) | {0x01}   # RSTn and TEM carry no length
MAX_PIXELS_PARAMETER = 'max_input_pixels'   # the node parameter that sets ``max_pixels``


def message_to_rgb(msg, max_pixels: int = 0) -> np.ndarray:
    """The RGB array of an ``Image`` or a ``CompressedImage``, as the segmenter takes it; InputError if it cannot be.

    A valid message may still hold an image the network cannot take (one row): refused here with the rest of
    the bad input, so that in a batch of cameras it costs only its own frame.
    """
    convert = compressed_to_rgb if isinstance(msg, CompressedImage) else image_to_rgb
    return check_rgb(convert(msg, max_pixels=max_pixels))


def check_message(msg, max_pixels: int = 0) -> None:
    """InputError if :func:`message_to_rgb` would refuse ``msg`` for what it can tell without decoding a pixel.

    Cheap: no copy of the data, no decoding (a compressed file's header and chunk lengths are read in place). A
    message this lets through may still fail to decode; one it refuses, message_to_rgb refuses with the same
    message (the image too small to segment: with check_rgb's).
    """
    if isinstance(msg, CompressedImage):
        _, kind, width, height, where = _checked_compressed(msg, max_pixels)
        where = f'{where}: {kind} header'
    else:
        _checked_image(msg, max_pixels)
        width, height, where = msg.width, msg.height, f'image {msg.width}x{msg.height} {msg.encoding}'
    if width < 2 or height < 2:
        raise InputError(f'{where}: image too small to segment: {width} x {height}')


def image_to_rgb(msg: Image, max_pixels: int = 0) -> np.ndarray:
    """H x W x 3 uint8 RGB copy of a ``sensor_msgs/Image`` (rgb8, bgr8, rgba8, bgra8 or mono8).

    Row padding (``step`` larger than ``width * channels``) is dropped; ``is_bigendian`` does not matter for
    8-bit encodings. Images of more than ``max_pixels`` pixels are refused (0: no limit).
    """
    data, channels, to_rgb = _checked_image(msg, max_pixels)
    width, height, step = msg.width, msg.height, msg.step
    row_bytes = width * channels
    pixels = data.reshape(height, step)[:, :row_bytes].reshape(height, width, channels)
    if to_rgb is None:
        return pixels.copy()
    # OpenCV reads the padded rows in place through their strides; the result is a new contiguous array
    return cv2.cvtColor(pixels, to_rgb)


def _checked_image(msg: Image, max_pixels: int):
    """(data as uint8, channels, OpenCV conversion) of an Image whose fields are consistent; else InputError."""
    width, height, step, encoding = msg.width, msg.height, msg.step, msg.encoding
    where = f'image {width}x{height} {encoding}'
    if encoding not in IMAGE_ENCODINGS:
        raise InputError(f'{where}: unsupported encoding {encoding!r}; supported: '
                         f'{", ".join(IMAGE_ENCODINGS)}')
    if width == 0 or height == 0:
        raise InputError(f'{where}: width and height must be positive, got {width}x{height}')
    check_pixels(where, width, height, max_pixels)
    channels, to_rgb = IMAGE_ENCODINGS[encoding]
    row_bytes = width * channels
    if step < row_bytes:
        raise InputError(f'{where}: step {step} < width*{channels} = {row_bytes}')
    data = _as_uint8(msg.data)
    if data.size != step * height:
        raise InputError(f'{where}: data has {data.size} bytes, expected step*height = {step * height}')
    return data, channels, to_rgb


def compressed_to_rgb(msg: CompressedImage, max_pixels: int = 0) -> np.ndarray:
    """H x W x 3 uint8 RGB decoding of a JPEG or PNG ``sensor_msgs/CompressedImage``.

    ``format`` is image_transport's string ('jpeg', 'png', 'bgr8; jpeg compressed bgr8', ...): it must name
    jpeg/jpg or png. The payload itself is a standard file whatever encoding the publisher started from; its
    header must give the size, and files of more than ``max_pixels`` pixels are refused before decoding
    (0: no limit).
    """
    data, kind, _, _, where = _checked_compressed(msg, max_pixels)
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if bgr is None:
        raise InputError(f'{where}: cannot decode {kind} payload of {data.size} bytes')
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _checked_compressed(msg: CompressedImage, max_pixels: int):
    """(data as uint8, 'jpeg' or 'png', width, height, where) of a payload whose header is sound; else InputError."""
    kind = compressed_kind(msg.format)
    data = _as_uint8(msg.data)
    where = f'compressed image (format {msg.format!r})'
    if data.size == 0:
        raise InputError(f'{where}: data is empty, expected a {kind} payload')
    payload = memoryview(data)      # read in place: no copy of a payload that may be megabytes
    try:
        kind, width, height = compressed_size(payload)
        if kind == 'png':
            check_png_chunks(payload)
    except ValueError as e:
        raise InputError(f'{where}: cannot decode {kind} payload of {data.size} bytes: {e}') from None
    check_pixels(f'{where}: {kind} header', width, height, max_pixels)
    if kind == 'jpeg' and _JPEG_END not in data[-64:].tobytes():
        # libjpeg "decodes" a truncated file into a grey-filled image with only a warning: refuse it here
        raise InputError(f'{where}: cannot decode jpeg payload of {data.size} bytes: it is truncated (no '
                         f'end-of-image marker)')
    return data, kind, width, height, where


def check_pixels(where: str, width: int, height: int, max_pixels: int):
    """InputError naming the limit and its parameter when ``width`` x ``height`` exceeds ``max_pixels`` (> 0)."""
    if max_pixels > 0 and width * height > max_pixels:
        raise InputError(f'{where}: {width}x{height} = {width * height} pixels is more than the limit of '
                         f'{max_pixels}; raise the parameter {MAX_PIXELS_PARAMETER} to accept it')


def compressed_size(head: bytes):
    """('jpeg' or 'png', width, height) from the first bytes of a JPEG or PNG file, read without decoding.

    Raises ValueError saying what is missing. JPEG: the first start-of-frame segment (SOF0..SOF15, ITU T.81
    B.2.2) found by walking the marker segments from SOI; PNG: the IHDR chunk, which must come first (PNG
    spec 5.2, 11.2.2). Zero sizes are refused (a JPEG height of 0 defers it to a DNL marker, which OpenCV
    does not read).
    """
    start = bytes(head[:len(_PNG_SIGNATURE)])      # ``head``: bytes, or a memoryview of the payload
    if start.startswith(_PNG_SIGNATURE):
        if len(head) < 24 or bytes(head[12:16]) != b'IHDR':
            raise ValueError('the png signature is not followed by an IHDR chunk')
        width, height = int.from_bytes(head[16:20], 'big'), int.from_bytes(head[20:24], 'big')
        kind = 'png'
    elif start.startswith(_JPEG_START):
        width, height = _jpeg_frame_size(head)
        kind = 'jpeg'
    else:
        raise ValueError('it starts with neither the jpeg (ff d8 ff) nor the png signature')
    if width == 0 or height == 0:
        raise ValueError(f'its {kind} header gives a size of {width}x{height}')
    return kind, width, height


def check_png_chunks(payload: bytes):
    """ValueError unless every chunk of a PNG file fits in ``payload``, up to and including IEND.

    A chunk's length field is trusted by decoders: OpenCV allocates what a corrupt IDAT length claims (a single
    flipped bit in a 79-byte file asks for 1 GiB) before finding the data missing. Walking the chunk headers
    first (PNG spec 5.3: length, type, data, CRC; lengths below 2^31) refuses such a file for the price of
    reading a few bytes per chunk.
    """
    at = len(_PNG_SIGNATURE)
    while at + 12 <= len(payload):
        length = int.from_bytes(payload[at:at + 4], 'big')
        chunk = bytes(payload[at + 4:at + 8]).decode('latin-1')
        left = len(payload) - at - 12
        if length > min(left, 2 ** 31 - 1):
            raise ValueError(f'png chunk {chunk!r} at byte {at} claims {length} bytes of data but only {left} '
                             f'follow (a corrupt or truncated file)')
        if chunk == 'IEND':
            return
        at += 12 + length
    raise ValueError('the png file ends before its IEND chunk (truncated)')


def _jpeg_frame_size(head: bytes):
    """(width, height) of the first SOF segment of a JPEG file beginning with ``head``."""
    at = 2
    while at + 4 <= len(head):
        if head[at] != 0xff:
            raise ValueError(f'no jpeg marker at byte {at} before the frame header')
        marker = head[at + 1]
        if marker == 0xff:          # fill byte before a marker
            at += 1
            continue
        if marker in _JPEG_STANDALONE:
            at += 2
            continue
        if marker in (0xd9, 0xda):  # end of image or start of scan: no frame header came first
            break
        length = int.from_bytes(head[at + 2:at + 4], 'big')
        if marker in _JPEG_SOF:
            if length < 8 or at + 9 > len(head):
                break
            return int.from_bytes(head[at + 7:at + 9], 'big'), int.from_bytes(head[at + 5:at + 7], 'big')
        if length < 2:
            raise ValueError(f'jpeg segment at byte {at} has an invalid length {length}')
        at += 2 + length
    raise ValueError('no jpeg frame header (SOF) before the image data')


def compressed_kind(image_format: str) -> str:
    """'jpeg' or 'png' from a ``CompressedImage.format`` string, or InputError naming the supported ones."""
    lowered = image_format.lower()
    if 'compresseddepth' in lowered:
        raise InputError(f'compressed image: format {image_format!r} is a compressedDepth image; only colour '
                         f'or mono jpeg/png images can be segmented')
    if 'jpeg' in lowered or 'jpg' in lowered:
        return 'jpeg'
    if 'png' in lowered:
        return 'png'
    raise InputError(f'compressed image: unsupported format {image_format!r}; expected a format naming jpeg, '
                     f'jpg or png (e.g. "jpeg", "bgr8; jpeg compressed bgr8")')


def array_to_image(pixels: np.ndarray, header: Header) -> Image:
    """``sensor_msgs/Image`` of an H x W uint8 array (mono8) or an H x W x 3 uint8 RGB array (rgb8).

    ``header`` is used as given, so outputs carry the stamp and frame of the input they came from.
    """
    pixels = np.asarray(pixels)
    channels = 1 if pixels.ndim == 2 else pixels.shape[2] if pixels.ndim == 3 else 0
    if pixels.dtype != np.uint8 or channels not in (1, 3) or 0 in pixels.shape:
        raise InputError(f'expected an H x W (mono8) or H x W x 3 (rgb8) uint8 array, got shape '
                         f'{pixels.shape} {pixels.dtype}')
    height, width = pixels.shape[:2]
    msg = Image(header=header, height=height, width=width, encoding='mono8' if channels == 1 else 'rgb8',
                is_bigendian=0, step=width * channels)
    data = array.array('B')
    # one copy; assigning bytes or a list instead makes the message setter check every byte in Python
    data.frombytes(np.ascontiguousarray(pixels).reshape(-1).data)
    msg.data = data
    return msg


FREESPACE_FIELDS = ('u', 'v', 'x', 'y', 'z')     # float32 each, in this order


def freespace_to_cloud(freespace: np.ndarray, points: np.ndarray, header: Header) -> PointCloud2:
    """An organised 1 x W ``sensor_msgs/PointCloud2`` of the free-space boundary, one point per image column.

    Fields u, v: the boundary pixel (column, row of the nearest non-drivable pixel; -1: the whole column is
    free; NaN: unknown, the frame is degraded and ``freespace`` all NaN); x, y, z: where that pixel meets a
    level road in the header's (optical) frame, metres, or NaN (no camera model, the boundary at or above the
    horizon, or unknown). ``points`` is W x 3 (NaN rows allowed).
    """
    freespace = np.asarray(freespace)
    width = freespace.shape[0]
    cloud = np.empty((width, len(FREESPACE_FIELDS)), np.float32)
    cloud[:, 0] = np.arange(width)
    cloud[:, 1] = freespace
    cloud[:, 2:] = points
    msg = PointCloud2(header=header, height=1, width=width, is_bigendian=False, point_step=4 * cloud.shape[1],
                      row_step=4 * cloud.size, is_dense=False,
                      fields=[PointField(name=name, offset=4 * i, datatype=PointField.FLOAT32, count=1)
                              for i, name in enumerate(FREESPACE_FIELDS)])
    data = array.array('B')
    data.frombytes(cloud.astype('<f4').reshape(-1).view(np.uint8).data)
    msg.data = data
    return msg


def cloud_to_freespace(msg: PointCloud2) -> np.ndarray:
    """W x 5 float32 (u, v, x, y, z) of a cloud made by :func:`freespace_to_cloud`."""
    names = [f.name for f in msg.fields]
    if names != list(FREESPACE_FIELDS) or msg.point_step != 4 * len(FREESPACE_FIELDS):
        raise InputError(f'expected a free-space cloud with float32 fields {FREESPACE_FIELDS}, got {names}')
    return _as_uint8(msg.data).view('<f4').reshape(msg.height * msg.width, len(FREESPACE_FIELDS))


def _as_uint8(data) -> np.ndarray:
    """Message bytes (array.array('B') after deserialisation; bytes or a list when built by hand) as uint8."""
    if isinstance(data, (bytes, bytearray, memoryview, array.array)):
        return np.frombuffer(data, np.uint8)
    return np.asarray(data, np.uint8)

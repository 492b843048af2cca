"""sensor_msgs images <-> RGB arrays: every encoding round trip; a helpful InputError for every bad input."""

import array
import subprocess
import sys

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from seg_perception.ros.conversions import (array_to_image, cloud_to_freespace, compressed_size, compressed_to_rgb,
                                            freespace_to_cloud, image_to_rgb, message_to_rgb)
from seg_perception.ros.fuzz import jpeg_claiming, png_claiming
from seg_perception.segmenter import InputError

# encoding -> RGB -> the bytes of one pixel row in that encoding
TO_ENCODING = {
    'rgb8': lambda rgb: rgb,
    'bgr8': lambda rgb: rgb[..., ::-1],
    'rgba8': lambda rgb: np.dstack([rgb, np.full(rgb.shape[:2], 7, np.uint8)]),
    'bgra8': lambda rgb: np.dstack([rgb[..., ::-1], np.full(rgb.shape[:2], 7, np.uint8)]),
    'mono8': lambda rgb: rgb[..., 0],
}


@pytest.fixture
def rgb():
    """A 5 x 7 image with a distinct value in every channel of every pixel."""
    return np.arange(5 * 7 * 3, dtype=np.uint8).reshape(5, 7, 3)


def image_msg(pixels, encoding, padding=0, **fields):
    """An Image of ``pixels`` (H x W or H x W x C) with ``padding`` bytes at the end of every row."""
    height, width = pixels.shape[:2]
    rows = np.ascontiguousarray(pixels).reshape(height, -1)
    rows = np.hstack([rows, np.full((height, padding), 0xEE, np.uint8)])
    msg = Image(height=height, width=width, encoding=encoding, step=rows.shape[1])
    msg.data = array.array('B', rows.tobytes())
    for name, value in fields.items():
        setattr(msg, name, value)
    return msg


def compressed_msg(payload: bytes, image_format: str):
    """A CompressedImage carrying ``payload``."""
    msg = CompressedImage(format=image_format)
    msg.data = array.array('B', payload)
    return msg


@pytest.mark.parametrize('padding', [0, 5])
@pytest.mark.parametrize('encoding', sorted(TO_ENCODING))
def test_every_encoding_becomes_the_same_rgb(rgb, encoding, padding):
    expected = np.dstack([rgb[..., 0]] * 3) if encoding == 'mono8' else rgb
    out = image_to_rgb(image_msg(TO_ENCODING[encoding](rgb), encoding, padding))
    assert out.dtype == np.uint8 and out.flags.c_contiguous
    np.testing.assert_array_equal(out, expected)


def test_big_endian_flag_does_not_matter_for_8_bit_pixels(rgb):
    np.testing.assert_array_equal(image_to_rgb(image_msg(rgb, 'rgb8', is_bigendian=1)), rgb)


def test_data_built_by_hand_as_bytes_or_list_is_read_too(rgb):
    msg = image_msg(rgb, 'rgb8')
    msg.data = rgb.tobytes()
    np.testing.assert_array_equal(image_to_rgb(msg), rgb)
    msg.data = list(rgb.tobytes())
    np.testing.assert_array_equal(image_to_rgb(msg), rgb)


def test_result_does_not_alias_the_message(rgb):
    msg = image_msg(rgb, 'rgb8')
    out = image_to_rgb(msg)
    out[:] = 0
    np.testing.assert_array_equal(image_to_rgb(msg), rgb)


@pytest.mark.parametrize('pixels, encoding', [
    (np.arange(20, dtype=np.uint8).reshape(4, 5), 'mono8'),
    (np.arange(60, dtype=np.uint8).reshape(4, 5, 3), 'rgb8'),
])
def test_arrays_become_images_with_the_given_header(pixels, encoding):
    header = Header(frame_id='camera_front')
    header.stamp.sec, header.stamp.nanosec = 1700000000, 123
    msg = array_to_image(pixels, header)
    assert (msg.encoding, msg.height, msg.width, msg.step) == (encoding, 4, 5, 5 * (pixels.size // 20))
    assert msg.header == header and msg.is_bigendian == 0
    assert bytes(msg.data) == pixels.tobytes()


def test_rgb_array_round_trips_through_an_image(rgb):
    np.testing.assert_array_equal(image_to_rgb(array_to_image(rgb, Header())), rgb)


@pytest.mark.parametrize('pixels', [np.zeros((4, 5), np.float32), np.zeros((4, 5, 4), np.uint8),
                                    np.zeros((0, 5), np.uint8), np.zeros(5, np.uint8)])
def test_arrays_that_are_not_mono8_or_rgb8_are_refused(pixels):
    with pytest.raises(InputError, match=r'H x W \(mono8\) or H x W x 3 \(rgb8\) uint8 array, got shape'):
        array_to_image(pixels, Header())


# --- bad Image messages --------------------------------------------------------------------------------

def test_unknown_encoding_lists_the_supported_ones(rgb):
    with pytest.raises(InputError, match=r"image 7x5 16UC1: unsupported encoding '16UC1'; supported: rgb8, "
                                         r'bgr8, rgba8, bgra8, mono8'):
        image_to_rgb(image_msg(rgb, '16UC1'))


def test_step_shorter_than_a_row_is_refused_with_both_numbers():
    msg = Image(height=480, width=640, encoding='rgb8', step=1000)
    msg.data = array.array('B', bytes(1000 * 480))
    with pytest.raises(InputError, match=r'image 640x480 rgb8: step 1000 < width\*3 = 1920'):
        image_to_rgb(msg)


@pytest.mark.parametrize('size', [1000, 640 * 480 * 3 - 1, 640 * 480 * 3 + 1])
def test_data_not_matching_step_times_height_is_refused(size):
    msg = Image(height=480, width=640, encoding='rgb8', step=1920)
    msg.data = array.array('B', bytes(size))
    with pytest.raises(InputError, match=rf'data has {size} bytes, expected step\*height = 921600'):
        image_to_rgb(msg)


def test_padding_is_counted_in_the_expected_size(rgb):
    msg = image_msg(rgb, 'rgb8', padding=3)
    msg.data = msg.data[:-3]        # the last row's padding is missing
    with pytest.raises(InputError, match=r'data has 117 bytes, expected step\*height = 120'):
        image_to_rgb(msg)


@pytest.mark.parametrize('width, height', [(0, 5), (7, 0), (0, 0)])
def test_zero_width_or_height_is_refused(width, height):
    msg = Image(height=height, width=width, encoding='rgb8', step=width * 3)
    with pytest.raises(InputError, match=rf'image {width}x{height} rgb8: width and height must be positive'):
        image_to_rgb(msg)


# --- compressed images ---------------------------------------------------------------------------------

@pytest.fixture
def photo():
    """A smooth 40 x 60 RGB gradient that JPEG keeps close to the original."""
    y, x = np.mgrid[0:40, 0:60]
    return np.dstack([x * 4, y * 6, 255 - x * 4]).astype(np.uint8)


def encode(rgb, ext, *params):
    ok, payload = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), list(params))
    assert ok
    return payload.tobytes()


@pytest.mark.parametrize('image_format', ['png', 'rgb8; png compressed rgb8', 'PNG'])
def test_png_decodes_to_the_exact_rgb(photo, image_format):
    out = compressed_to_rgb(compressed_msg(encode(photo, '.png'), image_format))
    np.testing.assert_array_equal(out, photo)


@pytest.mark.parametrize('image_format', ['jpeg', 'jpg', 'bgr8; jpeg compressed bgr8',
                                          'rgb8; jpeg compressed bgr8'])
def test_jpeg_decodes_to_rgb_in_the_right_channel_order(photo, image_format):
    out = compressed_to_rgb(compressed_msg(encode(photo, '.jpg', cv2.IMWRITE_JPEG_QUALITY, 95), image_format))
    assert out.shape == photo.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - photo).mean() < 3


def test_mono_jpeg_becomes_three_equal_channels(photo):
    ok, payload = cv2.imencode('.jpg', photo[..., 0])
    out = compressed_to_rgb(compressed_msg(payload.tobytes(), 'mono8; jpeg compressed mono8'))
    assert out.shape == (40, 60, 3)
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()


def test_empty_compressed_data_is_refused():
    with pytest.raises(InputError, match=r"format 'jpeg'\): data is empty, expected a jpeg payload"):
        compressed_to_rgb(compressed_msg(b'', 'jpeg'))


@pytest.mark.parametrize('image_format', ['jpeg', 'png'])
def test_corrupt_payload_cannot_be_decoded(image_format):
    garbage = bytes(range(256)) * 4 + b'\xff\xd9'
    with pytest.raises(InputError, match=rf'cannot decode {image_format} payload of 1026 bytes'):
        compressed_to_rgb(compressed_msg(garbage, image_format))


def test_truncated_jpeg_is_refused_rather_than_grey_filled(photo):
    payload = encode(photo, '.jpg')
    half = payload[:len(payload) // 2]
    with pytest.raises(InputError, match=rf'jpeg payload of {len(half)} bytes: it is truncated'):
        compressed_to_rgb(compressed_msg(half, 'jpeg'))


def test_jpeg_with_padding_after_the_end_marker_is_accepted(photo):
    payload = encode(photo, '.jpg') + bytes(16)
    assert compressed_to_rgb(compressed_msg(payload, 'jpeg')).shape == photo.shape


def with_chunk_length(payload: bytes, chunk: bytes, length: int) -> bytes:
    """``payload`` (a png file) with the length field of its first ``chunk`` chunk set to ``length``."""
    at = payload.index(chunk) - 4
    return payload[:at] + length.to_bytes(4, 'big') + payload[at + 4:]


def test_png_chunk_claiming_more_bytes_than_the_file_holds_is_refused_before_decoding(photo):
    # one flipped bit in an IDAT length (fuzz seed 9793) made the decoder allocate 1 GiB for a 79-byte file
    payload = with_chunk_length(encode(photo, '.png'), b'IDAT', 0x40000016)
    with pytest.raises(InputError, match=r"png chunk 'IDAT' at byte 33 claims 1073741846 bytes of data but only"):
        compressed_to_rgb(compressed_msg(payload, 'png'))


def test_png_chunk_check_allocates_nothing_for_the_claimed_length():
    script = ('import resource; from seg_perception.ros.fuzz import malformed; '
              'from seg_perception.ros.conversions import compressed_to_rgb; '
              'before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n'
              'try:\n    compressed_to_rgb(malformed(9793)[1], max_pixels=10 ** 7)\nexcept ValueError as e:\n'
              '    print(e)\n'
              'print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)')
    out = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, timeout=120)
    message, grown_mib = out.stdout.strip().splitlines()
    assert "png chunk 'IDAT'" in message
    assert int(grown_mib) < 50


def test_png_ending_before_iend_is_refused_and_bytes_after_iend_are_ignored(photo):
    payload = encode(photo, '.png')
    with pytest.raises(InputError, match=r'ends before its IEND chunk'):
        compressed_to_rgb(compressed_msg(payload[:-12], 'png'))
    padded = compressed_to_rgb(compressed_msg(payload + bytes(1000), 'png'))
    assert np.array_equal(padded, photo)


def test_truncated_png_is_refused(photo):
    payload = encode(photo, '.png')
    with pytest.raises(InputError, match=r'cannot decode png payload of'):
        compressed_to_rgb(compressed_msg(payload[:len(payload) // 2], 'png'))


@pytest.mark.parametrize('image_format', ['tiff', '', 'bgr8; theora'])
def test_unsupported_compressed_format_is_named(photo, image_format):
    with pytest.raises(InputError, match=rf"unsupported format '{image_format}'; expected a format naming "
                                         r'jpeg, jpg or png'):
        compressed_to_rgb(compressed_msg(encode(photo, '.png'), image_format))


def test_compressed_depth_images_are_refused(photo):
    with pytest.raises(InputError, match=r'compressedDepth image; only colour or mono jpeg/png'):
        compressed_to_rgb(compressed_msg(encode(photo, '.png'), '16UC1; compressedDepth png'))


def test_freespace_cloud_carries_one_point_per_column_and_reads_back():
    header = Header(frame_id='camera_optical')
    rows = np.array([5, -1, 9], np.int32)
    points = np.array([[0.5, 1.5, 10.0], [np.nan] * 3, [-0.2, 1.5, 4.0]], np.float32)
    msg = freespace_to_cloud(rows, points, header)
    assert (msg.height, msg.width, msg.point_step, msg.is_dense) == (1, 3, 20, False)
    assert [f.name for f in msg.fields] == ['u', 'v', 'x', 'y', 'z'] and msg.header == header
    cloud = cloud_to_freespace(msg)
    np.testing.assert_array_equal(cloud[:, :2], [[0, 5], [1, -1], [2, 9]])
    np.testing.assert_array_equal(cloud[:, 2:], points)


def test_the_unknown_free_space_of_a_degraded_frame_is_a_cloud_of_nan_points_beside_the_column_numbers():
    from seg_perception.camera import CameraModel

    unknown = np.full(4, np.nan, np.float32)        # Segmentation.freespace of a degraded frame
    camera = CameraModel.from_camera_info((100.0, 0, 2.0, 0, 100.0, 3.0, 0, 0, 1), 4, 6, pitch_rad=0.0,
                                          height_m=1.5)
    points = camera.ground_points(unknown, (6, 4))
    assert points.shape == (4, 3) and np.isnan(points).all()
    cloud = cloud_to_freespace(freespace_to_cloud(unknown, points, Header(frame_id='camera_optical')))
    np.testing.assert_array_equal(cloud[:, 0], [0, 1, 2, 3])
    assert np.isnan(cloud[:, 1:]).all()             # v unknown, not -1 (a free column)


# --- either transport, as the node takes it -------------------------------------------------------------

def test_either_message_becomes_the_rgb_of_its_own_conversion(rgb, photo):
    np.testing.assert_array_equal(message_to_rgb(image_msg(rgb[..., ::-1], 'bgr8')), rgb)
    np.testing.assert_array_equal(message_to_rgb(compressed_msg(encode(photo, '.png'), 'png')), photo)
    with pytest.raises(InputError, match='max_input_pixels'):
        message_to_rgb(compressed_msg(encode(photo, '.png'), 'png'), max_pixels=40 * 60 - 1)


@pytest.mark.parametrize('pixels', [np.zeros((1, 9, 3), np.uint8), np.zeros((9, 1, 3), np.uint8)],
                         ids=['one row', 'one column'])
def test_a_valid_message_of_an_image_too_small_to_segment_is_refused(pixels):
    assert image_to_rgb(image_msg(pixels, 'rgb8')).shape == pixels.shape
    with pytest.raises(InputError, match='image too small to segment'):
        message_to_rgb(image_msg(pixels, 'rgb8'))


# --- limits: nothing allocated for a claimed size before it is checked ----------------------------------

def test_image_over_the_pixel_limit_is_refused_naming_the_parameter():
    msg = image_msg(np.zeros((1, 1, 3), np.uint8), 'rgb8', width=60000, height=60000, step=180000)
    with pytest.raises(InputError, match=r'60000x60000 = 3600000000 pixels is more than the limit of 8847360; '
                                         r'raise the parameter max_input_pixels'):
        image_to_rgb(msg, max_pixels=4096 * 2160)


def test_image_at_the_pixel_limit_is_accepted(rgb):
    assert image_to_rgb(image_msg(rgb, 'rgb8'), max_pixels=5 * 7).shape == (5, 7, 3)
    with pytest.raises(InputError, match='max_input_pixels'):
        image_to_rgb(image_msg(rgb, 'rgb8'), max_pixels=5 * 7 - 1)


@pytest.mark.parametrize('width, height, step', [(2 ** 32 - 1, 1, 2 ** 32 - 1), (1, 2 ** 32 - 1, 3),
                                                 (2 ** 31, 2, 0)])
def test_lying_dimensions_through_uint32_overflow_are_refused_without_allocating(width, height, step):
    msg = image_msg(np.zeros((1, 1, 3), np.uint8), 'rgb8', width=width, height=height, step=step)
    with pytest.raises(InputError):
        image_to_rgb(msg)       # no limit: the step and data length checks alone refuse it
    with pytest.raises(InputError, match='max_input_pixels'):
        image_to_rgb(msg, max_pixels=4096 * 2160)


@pytest.mark.parametrize('kind, options', [('.png', ()), ('.jpg', ()), ('.jpg', (cv2.IMWRITE_JPEG_PROGRESSIVE, 1))])
def test_compressed_size_is_read_from_the_file_header(photo, kind, options):
    payload = encode(photo, kind, *options)
    assert compressed_size(payload) == ('png' if kind == '.png' else 'jpeg', photo.shape[1], photo.shape[0])


@pytest.mark.parametrize('claiming', [jpeg_claiming, png_claiming], ids=['jpeg', 'png'])
def test_decompression_bomb_is_refused_from_its_header(claiming):
    payload = claiming(60000, 60000)
    assert len(payload) < 1000 and compressed_size(payload)[1:] == (60000, 60000)
    with pytest.raises(InputError, match=r'header: 60000x60000 = 3600000000 pixels is more than the limit of '
                                         r'8847360; raise the parameter max_input_pixels'):
        compressed_to_rgb(compressed_msg(payload, 'jpeg'), max_pixels=4096 * 2160)


@pytest.mark.parametrize('payload, words', [
    (b'\xff\xd8\xff\xda\x00\x08' + bytes(100), 'no jpeg frame header'),
    (b'\xff\xd8\xff\xe0\x00\x01', 'invalid length 1'),
    (b'\xff\xd8\xff\xe0\x00\x10' + bytes(18), 'no jpeg marker at byte 20'),
    (b'\x89PNG\r\n\x1a\n' + bytes(8), 'not followed by an IHDR chunk'),
    (b'GIF89a' + bytes(20), r'neither the jpeg \(ff d8 ff\) nor the png signature'),
])
def test_header_without_a_size_is_refused(payload, words):
    with pytest.raises(ValueError, match=words):
        compressed_size(payload)
    with pytest.raises(InputError, match=words):
        compressed_to_rgb(compressed_msg(payload, 'jpeg'))


@pytest.mark.parametrize('claiming', [jpeg_claiming, png_claiming], ids=['jpeg', 'png'])
def test_zero_size_in_the_header_is_refused(claiming):
    with pytest.raises(InputError, match='header gives a size of 0x10'):
        compressed_to_rgb(compressed_msg(claiming(0, 10), 'png'))

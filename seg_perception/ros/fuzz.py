"""A seeded generator of malformed camera messages, for benchmarks/fuzz_node.py and its tests.

``malformed(seed)`` is a pure function of the seed: the same seed gives the same message, so a failure that
the fuzzer reports by its seed is replayed with ``malformed(seed)`` alone. The cases cover what broken drivers,
flaky links and hostile publishers send (issue 'The node under fire'): every supported and several unsupported
encodings, wrong steps, truncations, lying dimensions (zero, -1 and other negatives through uint32 overflow,
huge), big-endian flags, random bytes as jpeg and png, truncated and bit-flipped real jpeg/png files,
decompression bombs (small files whose header claims 60000 x 60000 pixels), empty and oversized compressed
payloads, and stamps and frame_ids that are garbage.

:func:`storm` is the other test: good frames in pairs, the second waiting in the node's one-slot holder while
the first is segmented, and malformed messages on both transports at full rate around them; every good frame
must be answered (the node has time for both of a pair: nothing newer and good replaces the second).
"""

import array
import random
import struct
import time
import zlib
from typing import Dict, List, Optional

import cv2
import numpy as np
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from .conversions import IMAGE_ENCODINGS, check_message
from ..segmenter import InputError

UNSUPPORTED_ENCODINGS = ('yuv422', 'bayer_rggb8', '16UC1', '32FC1', 'rgb16', 'bgr16', 'mono16', '8UC3', '',
                         'RGB8', 'rgb8 ', 'jpeg')
UNSUPPORTED_FORMATS = ('', 'tiff', 'bmp', 'bgr8; theora', '16UC1; compressedDepth png', 'webp', 'raw')
# uint32 values a lying width, height or step takes: zero, small, huge, and negatives through overflow
LYING_SIZES = (0, 1, 2, 3, 7, 60000, 65535, 65536, 2 ** 16 + 1, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32 - 3)
OVERSIZED_BYTES = 8 * 2 ** 20
CASES = ('wrong_size', 'unsupported_encoding', 'wrong_step', 'truncated', 'lying_dimensions', 'huge_claim',
         'big_endian', 'random_bytes_jpeg', 'random_bytes_png', 'truncated_file', 'bit_flipped_file',
         'jpeg_bomb', 'png_bomb', 'empty_compressed', 'oversized_compressed', 'unsupported_format')


def synthetic_rgb(rng: random.Random, height: int, width: int) -> np.ndarray:
    """An H x W x 3 uint8 frame with some structure (gradients and blocks), from ``rng``."""
    nprng = np.random.default_rng(rng.getrandbits(32))
    rows = np.linspace(0, 255, height, dtype=np.float32)[:, None, None]
    cols = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    tint = nprng.uniform(0.2, 1.0, 3).astype(np.float32)
    img = (rows * tint + cols * (1 - tint)) / 2 + nprng.integers(0, 40, (height, width, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def good_frame(seed: int, header: Header, compressed_transport: Optional[bool] = None):
    """A valid Image (rgb8, bgr8, mono8 ...) or CompressedImage (jpeg, png) of a random size, from ``seed``.

    ``compressed_transport``: True for a CompressedImage, False for an Image, None (default) either.
    """
    rng = random.Random(seed)
    height, width = rng.choice(((48, 64), (120, 160), (240, 320), (600, 800), (37, 53)))
    rgb = synthetic_rgb(rng, height, width)
    kinds = {None: tuple(IMAGE_ENCODINGS) + ('jpeg', 'png'), True: ('jpeg', 'png'),
             False: tuple(IMAGE_ENCODINGS)}[compressed_transport]
    kind = rng.choice(kinds)
    if kind in ('jpeg', 'png'):
        return compressed(header, encode(rgb, kind), f'rgb8; {kind} compressed bgr8')
    return raw_image(header, rgb, kind)


def encode(rgb: np.ndarray, kind: str) -> bytes:
    """The jpeg or png file of an RGB array."""
    ok, payload = cv2.imencode('.' + kind, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return payload.tobytes()


def raw_image(header: Header, rgb: np.ndarray, encoding: str) -> Image:
    """A valid Image of an RGB array in one of the supported ``encoding``s."""
    channels = IMAGE_ENCODINGS[encoding][0]
    if encoding.startswith('bgr'):
        rgb = rgb[..., ::-1]
    pixels = rgb[..., :1] if channels == 1 else rgb
    if channels == 4:
        pixels = np.dstack([pixels, np.full(rgb.shape[:2], 255, np.uint8)])
    pixels = np.ascontiguousarray(pixels)
    return image(header, rgb.shape[1], rgb.shape[0], encoding, rgb.shape[1] * channels, pixels.tobytes())


def image(header, width, height, encoding, step, data: bytes, is_bigendian=0) -> Image:
    """An Image with the given fields, whatever they claim."""
    msg = Image(header=header, width=width, height=height, encoding=encoding, step=step,
                is_bigendian=is_bigendian)
    msg.data = array.array('B', data)
    return msg


def compressed(header, data: bytes, image_format: str) -> CompressedImage:
    """A CompressedImage with the given payload and format."""
    msg = CompressedImage(header=header, format=image_format)
    msg.data = array.array('B', data)
    return msg


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small jpeg (a real 8 x 8 file) whose frame header claims ``width`` x ``height`` (each < 65536)."""
    payload = bytearray(encode(np.zeros((8, 8, 3), np.uint8), 'jpeg'))
    at = 2
    while payload[at + 1] not in (0xc0, 0xc1, 0xc2):
        at += 2 + int.from_bytes(payload[at + 2:at + 4], 'big')
    payload[at + 5:at + 9] = struct.pack('>HH', height, width)
    return bytes(payload)


def png_claiming(width: int, height: int) -> bytes:
    """A small png (a real 8 x 8 file) whose IHDR claims ``width`` x ``height``, its CRC made to match."""
    payload = bytearray(encode(np.zeros((8, 8, 3), np.uint8), 'png'))
    payload[16:24] = struct.pack('>II', width, height)
    payload[29:33] = struct.pack('>I', zlib.crc32(bytes(payload[12:29])))
    return bytes(payload)


def random_header(rng: random.Random) -> Header:
    """A header with a garbage-or-plausible stamp and frame_id."""
    header = Header(frame_id=rng.choice(('camera', 'camera_front', '', 'x' * 300, '\u00e9t\u00e9', 'a/b')))
    header.stamp.sec = rng.choice((0, 1, -1, 2 ** 31 - 1, -2 ** 31, rng.randrange(-2 ** 31, 2 ** 31)))
    header.stamp.nanosec = rng.choice((0, 999_999_999, 2 ** 32 - 1, rng.randrange(2 ** 32)))
    return header


def malformed(seed: int):
    """(case name, message) for ``seed``: an Image or CompressedImage that is wrong in the way ``case`` says."""
    rng = random.Random(seed)
    case = CASES[rng.randrange(len(CASES))]
    header = random_header(rng)
    height, width = rng.choice(((48, 64), (120, 160), (1, 1), (3, 5)))
    encoding = rng.choice(tuple(IMAGE_ENCODINGS))
    channels = IMAGE_ENCODINGS[encoding][0]
    step = width * channels
    randbytes = rng.randbytes
    if case == 'wrong_size':
        size = rng.choice((0, 1, step * height - 1, step * height + 1, step * (height - 1), rng.randrange(5000)))
        return case, image(header, width, height, encoding, step, randbytes(size))
    if case == 'unsupported_encoding':
        return case, image(header, width, height, rng.choice(UNSUPPORTED_ENCODINGS), step * 2,
                           randbytes(step * 2 * height))
    if case == 'wrong_step':
        bad_step = rng.choice((0, 1, step - 1, step + 1, 2 ** 32 - 1, rng.randrange(2 ** 32)))
        size = rng.choice((step * height, (bad_step * height) % 100_000))
        return case, image(header, width, height, encoding, bad_step, randbytes(size))
    if case == 'truncated':
        msg = raw_image(header, synthetic_rgb(rng, height, width), encoding)
        msg.data = msg.data[:rng.randrange(len(msg.data))]
        return case, msg
    if case == 'lying_dimensions':
        width, height = rng.choice(LYING_SIZES), rng.choice(LYING_SIZES)
        step = rng.choice((width * channels % 2 ** 32, rng.choice(LYING_SIZES)))
        return case, image(header, width, height, encoding, step, randbytes(rng.choice((0, 16, 4096))))
    if case == 'huge_claim':       # consistent fields, the data of a small image
        width, height = rng.choice(((60000, 60000), (4097, 2160), (65535, 65535), (2 ** 31 - 1, 1)))
        return case, image(header, width, height, encoding, width * channels, randbytes(rng.randrange(10000)))
    if case == 'big_endian':       # valid for 8-bit encodings: may be segmented
        msg = raw_image(header, synthetic_rgb(rng, height, width), encoding)
        msg.is_bigendian = rng.choice((1, 255))
        return case, msg
    image_format = rng.choice(('jpeg', 'png', 'rgb8; jpeg compressed bgr8', 'bgr8; png compressed bgr8'))
    kind = 'png' if 'png' in image_format else 'jpeg'
    if case in ('random_bytes_jpeg', 'random_bytes_png'):
        prefix = rng.choice((b'', b'\xff\xd8\xff', b'\x89PNG\r\n\x1a\n', b'\xff\xd8\xff\xc0\x00\x11\x08'))
        suffix = rng.choice((b'', b'\xff\xd9'))
        return case, compressed(header, prefix + randbytes(rng.randrange(1, 20000)) + suffix,
                                'jpeg' if case.endswith('jpeg') else 'png')
    real = encode(synthetic_rgb(rng, height * 2, width * 2), kind)
    if case == 'truncated_file':
        return case, compressed(header, real[:rng.randrange(len(real))], image_format)
    if case == 'bit_flipped_file':   # may still decode: then it is segmented
        flipped = bytearray(real)
        for _ in range(rng.choice((1, 2, 8, 64))):
            flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
        return case, compressed(header, bytes(flipped), image_format)
    if case == 'jpeg_bomb':
        return case, compressed(header, jpeg_claiming(rng.choice((60000, 65535, 30000)), 60000), image_format)
    if case == 'png_bomb':
        size = rng.choice(((60000, 60000), (2 ** 31 - 1, 2 ** 31 - 1), (1, 2 ** 31 - 1), (2 ** 32 - 1, 1)))
        return case, compressed(header, png_claiming(*size), image_format)
    if case == 'empty_compressed':
        return case, compressed(header, b'', image_format)
    if case == 'oversized_compressed':   # a megabytes-long payload: random bytes, or a real file padded after EOI
        size = rng.randrange(OVERSIZED_BYTES // 2, OVERSIZED_BYTES)
        payload = rng.choice((b'', real))
        payload += np.random.default_rng(seed).integers(0, 256, size - len(payload), np.uint8).tobytes()
        return case, compressed(header, payload, image_format)
    return case, compressed(header, real, rng.choice(UNSUPPORTED_FORMATS))


# -- the storm: good frames among malformed messages at full rate on both transports -------------------------------

def storm_pool(seeds, max_pixels: int, max_bytes: int = 2 ** 20) -> Dict[str, List]:
    """Malformed messages that the node's cheap checks refuse, by transport ('raw', 'compressed').

    From ``malformed(seed)`` for each of ``seeds``: those that conversions.check_message refuses with
    ``max_pixels`` and whose data is at most ``max_bytes`` (the megabytes-long payloads would measure the
    link, not the node). The rest (bit-flipped files that still parse, valid 8-bit big-endian images) are frames
    the node rightly takes into its holder and tries to decode.
    """
    pool = {'raw': [], 'compressed': []}
    for seed in seeds:
        _, msg = malformed(seed)
        if len(msg.data) > max_bytes:
            continue
        try:
            check_message(msg, max_pixels)
        except InputError:
            pool['compressed' if isinstance(msg, CompressedImage) else 'raw'].append(msg)
    return pool


def storm(probe, rounds: int, seed: int, pool: Dict[str, List], answer_timeout_s: float = 20.0,
          burst: int = 20, settle_s: float = 0.1, node=None) -> dict:
    """Good frames in pairs among malformed messages from ``pool`` at full rate; the figures as a dict.

    Each round: ``burst`` malformed messages on each transport, delivered; the first good frame, delivered and
    ``settle_s`` for the node to take it (its input queue holds one message) and its worker to start on it; the
    second good frame on the same transport (raw and compressed in turn, round by round); then malformed messages
    back to back on the other transport until both are answered (or ``answer_timeout_s``). The node has time for
    both (nothing newer and good replaces the second), so ``answered`` must equal ``good``; a malformed message that
    took the holder's slot would leave the second unanswered. The first is lost only if the node's executor took
    longer than ``settle_s`` to take it from its input queue (the second then replaces it there). ``probe``: a
    seg_perception.ros.probe.Probe with ``compressed=True``; ``node``: its NodeProcess, to stop waiting when it has
    exited. ``missed`` lists (round, which good frame) of those not answered.
    """
    figures = dict(rounds=rounds, good=0, answered=0, malformed_sent=0, at_full_rate=0, missed=[], storm_s=0.0)
    if not pool['raw'] or not pool['compressed']:
        raise ValueError('storm: the pool needs malformed messages of both transports')
    at = {'raw': 0, 'compressed': 0}

    def send_malformed(transport):
        msgs = pool[transport]
        probe.send(msgs[at[transport] % len(msgs)])
        at[transport] += 1
        figures['malformed_sent'] += 1

    for r in range(rounds):
        for transport in ('raw', 'compressed') * burst:
            send_malformed(transport)
        probe.wait_for_delivery()
        second_compressed = bool(r % 2)
        first = probe.send(good_frame(seed + 2 * r, probe.header(), compressed_transport=second_compressed))
        probe.wait_for_delivery()
        time.sleep(settle_s)
        second = probe.send(good_frame(seed + 2 * r + 1, probe.header(), compressed_transport=second_compressed))
        other = 'raw' if second_compressed else 'compressed'
        start = time.monotonic()
        deadline = start + answer_timeout_s
        while time.monotonic() < deadline and not probe.wait_for_answers([first, second], timeout_s=0.0):
            if node is not None and not node.running:
                break
            send_malformed(other)
            figures['at_full_rate'] += 1
        figures['storm_s'] += time.monotonic() - start
        for which, stamp in (('first', first), ('second', second)):
            figures['good'] += 1
            if probe.wait_for_answers([stamp], timeout_s=0.0):
                figures['answered'] += 1
            else:
                figures['missed'].append((r, which))
    figures['storm_s'] = round(figures['storm_s'], 2)
    figures['malformed_per_s'] = round(figures['at_full_rate'] / max(figures['storm_s'], 1e-6), 1)
    return figures

"""Test-time denoising: a noisy or flat frame filtered before the network sees it, a clean one left alone.

Sensor noise is what the network reads worst (doc/robustness.md): under Gaussian or shot noise most of the image
becomes one texture class. Before each frame goes to the network, :func:`measure` takes two cheap statistics of
the frame: the noise standard deviation at the network's scale (Immerkaer's estimate, seg_perception.trust, on the
trust check's grey thumbnail, which the Segmenter then hands on to the trust check) and the share of channel
values far from their 3 x 3 median (salt-and-pepper) on a crop at the frame's own resolution (resizing would smear
single-pixel impulses into noise or blobs). Where they exceed what clean frames show
(:class:`seg_perception.safety_config.DenoiseParams`; :func:`wants_median`, :func:`wants_blur`), the Segmenter
runs the filters on the frame at its own resolution: a 3 x 3 median (:func:`median`) for impulses, then a Gaussian
blur (:func:`blur`) for what noise remains, or, on a frame without noise that is softer than clean frames
(defocus, motion, a dirty lens), an unsharp mask (:func:`wants_sharpen`, :func:`sharpen`), and on a pixelated
frame (blocks of one value: most neighbouring pixels equal, seg_perception.trust.repeated_share at the frame's own
resolution) a light Gaussian blur that smooths the blocks' edges away (:func:`wants_deblock`, :func:`deblock`),
instead of the mask. Between the median and the blur, a frame whose grey range (:func:`grey_range`) is under
what clean frames show (fog, a low-contrast sensor, glare) gets its contrast stretched about each channel's mean
(:func:`stretch_gain`, :func:`stretch`), the noise estimate multiplied by the same gain. The trust check judges
the frame as it came from the camera, only stretched, and without its impulses where the median alone restored it
(Segmenter._denoised).

Pure numpy and OpenCV; no ROS imports.
"""

from typing import Tuple

import cv2
import numpy as np

from .safety_config import DenoiseParams
from .trust import noise_sigma

IMPULSE_CROP_PX = 256       # impulses are counted on the central crop of at most this many pixels square


def impulse_share(rgb: np.ndarray, level: int) -> float:
    """The share of an image's channel values more than ``level`` from the median of their 3 x 3 neighbourhood."""
    rgb = np.ascontiguousarray(rgb)
    return float(np.mean(cv2.absdiff(rgb, cv2.medianBlur(rgb, 3)) > level))


def central_crop(rgb: np.ndarray, size: int = IMPULSE_CROP_PX) -> np.ndarray:
    """The central ``size`` x ``size`` pixels of an image (all of a smaller side)."""
    h, w = rgb.shape[:2]
    top, left = max((h - size) // 2, 0), max((w - size) // 2, 0)
    return rgb[top:top + size, left:left + size]


def measure(rgb: np.ndarray, grey_net: np.ndarray, params: DenoiseParams) -> Tuple[float, float]:
    """(noise sigma, impulse share) of a frame.

    The noise on ``grey_net``, the grey thumbnail of the frame at the network's scale (trust.grey_thumbnail at
    the trust check's ``noise_width_px``); the impulses on a central crop of the frame ``rgb`` itself.
    """
    return noise_sigma(grey_net), impulse_share(central_crop(rgb), params.impulse_level)


def wants_median(impulses: float, params: DenoiseParams) -> bool:
    """True when the frame carries salt-and-pepper noise: a 3 x 3 median first."""
    return params.enabled and impulses > params.max_impulse_share


def wants_blur(sigma: float, params: DenoiseParams) -> bool:
    """True when the frame (after any median) is noisier than clean frames: a Gaussian blur."""
    return params.enabled and sigma > params.max_noise_sigma


def grey_range(grey: np.ndarray) -> float:
    """The 1st to 99th percentile range of a grey image's values (nearest ranks, one partition each)."""
    flat = np.asarray(grey, np.float32).ravel()
    low, high = (int(round(q * (flat.size - 1))) for q in (0.01, 0.99))
    return float(np.partition(flat, high)[high]) - float(np.partition(flat, low)[low])


def stretch_gain(grey_levels: float, params: DenoiseParams) -> float:
    """The contrast gain for a frame of grey range ``grey_levels`` (:func:`grey_range`), 1.0 for none.

    None unless the range is under ``params.stretch_below_range``; then what brings it to ``stretch_to_range``,
    at most ``max_stretch``.
    """
    if not params.enabled or grey_levels >= params.stretch_below_range:
        return 1.0
    return float(min(max(params.stretch_to_range / max(grey_levels, 1e-3), 1.0), params.max_stretch))


def stretch(rgb: np.ndarray, gain: float) -> np.ndarray:
    """Each channel's deviation from its mean over the frame multiplied by ``gain``, clipped (one lookup table)."""
    rgb = np.ascontiguousarray(rgb)
    means = np.float32(cv2.mean(rgb)[:3])
    levels = np.arange(256, dtype=np.float32)[:, None]
    table = np.clip((levels - means) * np.float32(gain) + means + 0.5, 0, 255).astype(np.uint8)
    return cv2.LUT(rgb, table.reshape(256, 1, 3))


def wants_sharpen(sharpness: float, params: DenoiseParams) -> bool:
    """True when a frame is softer than clean frames (trust.sharpness on its blur thumbnail): an unsharp mask."""
    return params.enabled and sharpness < params.sharpen_below


def sharpen(rgb: np.ndarray, params: DenoiseParams) -> np.ndarray:
    """The unsharp mask: the frame plus ``sharpen_amount`` times its difference from its Gaussian blur."""
    rgb = np.ascontiguousarray(rgb)
    soft = cv2.GaussianBlur(rgb, (0, 0), params.sharpen_sigma)
    return cv2.addWeighted(rgb, 1.0 + params.sharpen_amount, soft, -params.sharpen_amount, 0.0)


def median(rgb: np.ndarray) -> np.ndarray:
    """The 3 x 3 median of each channel."""
    return cv2.medianBlur(np.ascontiguousarray(rgb), 3)


def blur(rgb: np.ndarray, params: DenoiseParams) -> np.ndarray:
    """A Gaussian blur of ``params.blur_sigma`` pixels at the frame's own resolution."""
    return cv2.GaussianBlur(rgb, (0, 0), params.blur_sigma)


def wants_deblock(repeated: float, params: DenoiseParams) -> bool:
    """True when more neighbouring pixels are equal than in camera frames (``repeated``: trust.repeated_share)."""
    return params.enabled and repeated > params.deblock_above_repeated


def deblock(rgb: np.ndarray, params: DenoiseParams) -> np.ndarray:
    """A Gaussian blur of ``params.deblock_sigma`` pixels at the frame's own resolution.

    A pixelated frame's block edges, which the network reads as texture, are smoothed away.
    """
    return cv2.GaussianBlur(np.ascontiguousarray(rgb), (0, 0), params.deblock_sigma)

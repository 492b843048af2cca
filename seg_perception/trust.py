"""Whether a frame can be trusted at all: the image's quality and the plausibility of the prediction as a whole.

The ambiguity checks (seg_perception.ambiguity) look for one obstacle taken for sky and trust the rest of the
picture. Under ordinary camera degradations (sensor noise, a defocused or smeared lens, a frame burnt out by the
sun or too dark, a driver that repeats one frame) the labels collapse as a whole -- noise turns most pixels into
tree and leaves no road -- and nothing in them looks locally impossible. The statistics here judge the frame:

image quality, on small grey thumbnails of the image the network saw:

- ``noise``: the sensor noise's standard deviation, from the median absolute response of Immerkaer's mask (the
  difference of two Laplacians, blind to edges and to ramps; J. Immerkaer, "Fast noise variance estimation",
  CVIU 64(2), 1996), the median instead of the mean so that edges and texture do not count as noise;
- ``blur``: the variance of the Laplacian (Pech-Pacheco et al., "Diatom autofocusing in brightfield
  microscopy", ICPR 2000) over the variance of the image (*sharpness*: darkness and low contrast scale both and
  leave it alone), on a thumbnail a third of a 480-pixel frame wide, where a blur too small to change the
  network's labels is invisible;
- ``overexposed`` / ``underexposed``: the share of pixels near white / near black;
- ``black`` / ``flat``: almost no grey-level variation at all (a lens cap, a dead sensor, a test pattern);
- ``blocky``: the share of neighbouring pixels (across and down) of exactly one grey level, on the full image the
  network saw: a frame scaled up from a much lower resolution by repeating pixels (a pixelated stream, a digital
  zoom) repeats most of them, a camera's own frame few (sensor noise and texture);
- ``frozen``: the thumbnail unchanged (within ``frozen_max_difference``) for ``frozen_frames`` frames;

the prediction, from what the graph outputs (labels and margin, top-1 minus top-2 probability):

- ``low_margin``: the share of pixels where the network hesitates;
- ``blurred_unsure``: a blurred frame (sharpness under ``blurred_below``) held to a lower share of unsure pixels
  (``blurred_max_low_margin_share``): a network reads a blurred frame wrongly with fewer doubts than a noisy one,
  so the share that would mark a sharp frame is reached too late there;
- ``no_road_or_vehicle_below``: a road vehicle's camera always sees road or another vehicle in the lower part of
  the image;
- ``one_class``: one class over most of the frame;
- ``unstable``: the share of coarse cells whose majority label changed since the stream's previous frame (cells
  of ``unstable_cell_px``, so that the motion of boundaries does not count).

With the ego vehicle in view (seg_perception.ego_mask), its pixels are left out: the image statistics are taken
on the rows above it and the prediction's over the pixels that are not the vehicle.

A frame that fails any of them is *degraded*: the segmenter then empties the drivable area and makes the free
space unknown. Pure numpy and OpenCV; no ROS imports.
"""

import math
from dataclasses import asdict, dataclass
from typing import Dict, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from .ego_mask import clear_rows, resize_mask
from .safety_config import TrustConfig
from .taxonomy import ClassIds, class_ids


@dataclass(frozen=True)
class TrustStatistics:
    """What the trust check measured on one frame (NaN: not measured), for diagnostics and for tuning."""

    noise_sigma: float = math.nan                   # grey levels, on the noise thumbnail
    sharpness: float = math.nan                     # variance of the Laplacian / variance of the grey levels
    laplacian_var: float = math.nan                 # grey levels squared, on the blur thumbnail
    contrast: float = math.nan                      # standard deviation of the grey levels (blur thumbnail)
    brightness: float = math.nan                    # mean grey level
    overexposed_share: float = math.nan
    repeated_share: float = math.nan                # of the neighbouring pixel pairs, of one grey level
    underexposed_share: float = math.nan
    frame_difference: float = math.nan              # mean absolute grey difference to the previous thumbnail
    frozen_count: int = 0                           # repeats in a row
    low_margin_share: float = math.nan
    road_or_vehicle_below_share: float = math.nan
    one_class_share: float = math.nan
    unstable_share: float = math.nan                # of the coarse cells, since the previous frame

    def as_dict(self) -> Dict[str, float]:
        """Name -> value."""
        return asdict(self)


@dataclass(frozen=True)
class Trust:
    """The verdict on one frame: ``degraded`` when any reason holds; the statistics that led to it."""

    degraded: bool
    reasons: Tuple[str, ...]
    statistics: TrustStatistics


REASONS = ('black', 'flat', 'noise', 'blur', 'overexposed', 'underexposed', 'blocky', 'frozen', 'low_margin',
           'blurred_unsure', 'no_road_or_vehicle_below', 'one_class', 'unstable')

# Immerkaer's mask: the difference of two discrete Laplacians, zero on any plane, 6 for unit-variance white noise
_IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
_MAD_TO_SIGMA = 1.0 / 0.6744897501960817       # median |x| of a unit Gaussian


# --- image statistics ----------------------------------------------------------------------------------------

def grey_thumbnail(image: np.ndarray, width_px: int) -> np.ndarray:
    """An H x W x 3 uint8 RGB image (or an H x W grey one) as a float32 grey image at most ``width_px`` wide.

    Area-averaged, the aspect ratio kept, never enlarged. ValueError when ``image`` is neither.
    """
    image = np.asarray(image)
    rgb = image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8
    if not (rgb or image.ndim == 2):
        raise ValueError(f'expected an H x W x 3 uint8 RGB image or an H x W grey one, got shape {image.shape} of '
                         f'{image.dtype}')
    h, w = image.shape[:2]
    width = int(min(max(width_px, 8), w))
    height = max(int(round(h * width / w)), 1)
    # averaged in float: a uint8 thumbnail's rounding would quantise the noise estimate to steps of 0.25
    grey = (cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if rgb else image).astype(np.float32)
    if (height, width) != (h, w):
        grey = cv2.resize(grey, (width, height), interpolation=cv2.INTER_AREA)
    return grey


def noise_sigma(grey: np.ndarray) -> float:
    """Standard deviation of additive white noise in a grey image, in its grey levels (Immerkaer 1996).

    The mask response of white noise of deviation sigma has deviation ``6 sigma``; its median absolute value
    (robust to the edges and texture that also respond) is 0.674 times that for Gaussian noise.
    """
    grey = np.asarray(grey, np.float32)
    if min(grey.shape) < 3:
        return 0.0
    response = cv2.filter2D(grey, cv2.CV_32F, _IMMERKAER, borderType=cv2.BORDER_REPLICATE)[1:-1, 1:-1]
    return median_of(np.abs(response)) * _MAD_TO_SIGMA / 6.0


def median_of(values: np.ndarray) -> float:
    """The median of an array's values, as ``np.median`` gives it, from one partition.

    ``np.median`` of an even count partitions at the two middle ranks at once, which on a 320 x 240 response
    full of equal values (flat sky, road) takes over 10x longer than a partition at one rank and the largest
    value below it (0.5 against 0.05 ms per frame); ValueError for no values.
    """
    flat = np.asarray(values).ravel()
    n = flat.size
    if n == 0:
        raise ValueError('the median of no values')
    k = n // 2
    part = np.partition(flat, k)
    if n % 2:
        return float(part[k])
    return (float(part[:k].max()) + float(part[k])) / 2.0


def laplacian_variance(grey: np.ndarray) -> float:
    """Variance of the 3 x 3 Laplacian of a grey image: its high-frequency energy, low when blurred."""
    grey = np.asarray(grey, np.float32)
    if min(grey.shape) < 3:
        return 0.0
    return float(cv2.Laplacian(grey, cv2.CV_32F, ksize=1)[1:-1, 1:-1].var())


def sharpness(grey: np.ndarray) -> float:
    """The variance of the Laplacian over the variance of the image (0 for a uniform image).

    Scaling the grey levels (a darker frame, less contrast) scales both alike, so only the loss of fine detail
    against coarse structure lowers it.
    """
    grey = np.asarray(grey, np.float32)
    variance = float(grey.var())
    return laplacian_variance(grey) / variance if variance > 1e-6 else 0.0


def exposure(grey: np.ndarray, under_level: float, over_level: float) -> Tuple[float, float]:
    """(share of pixels at or below ``under_level``, share at or above ``over_level``)."""
    grey = np.asarray(grey)
    n = grey.size
    return float(np.count_nonzero(grey <= under_level)) / n, float(np.count_nonzero(grey >= over_level)) / n


def repeated_share(image: np.ndarray) -> float:
    """Share of the pairs of neighbouring pixels (across and down) of an RGB or grey uint8 image of equal grey level.

    Near 1 for an image scaled up from a lower resolution by repeating pixels (4 x 4 blocks repeat 3 of 4 pairs
    each way) or a uniform one; a camera frame's noise and texture leave far fewer equal. ValueError for other
    images (see :func:`grey_thumbnail`).
    """
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8:
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    elif image.ndim == 2:
        grey = image
    else:
        raise ValueError(f'expected an H x W x 3 uint8 RGB image or an H x W grey one, got shape {image.shape} of '
                         f'{image.dtype}')
    h, w = grey.shape
    pairs = h * (w - 1) + (h - 1) * w
    if pairs <= 0:
        return 1.0
    across = np.count_nonzero(grey[:, 1:] == grey[:, :-1])
    down = np.count_nonzero(grey[1:] == grey[:-1])
    return float(across + down) / pairs


def mean_abs_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two grey images of one shape (inf when the shapes differ)."""
    if a.shape != b.shape:
        return math.inf
    return float(cv2.absdiff(np.asarray(a, np.float32), np.asarray(b, np.float32)).mean())


# --- prediction statistics -----------------------------------------------------------------------------------

def low_margin_share(margin: np.ndarray, max_margin: float, valid: Optional[np.ndarray] = None) -> float:
    """Share of pixels whose margin (top-1 minus top-2 probability) is below ``max_margin``.

    ``valid``: the pixels to count (bool, the margin's shape; None: all); 0.0 when there is none.
    """
    margin = np.asarray(margin)
    if valid is None:
        return float(np.count_nonzero(margin < max_margin)) / margin.size
    n = int(np.count_nonzero(valid))
    return float(np.count_nonzero((margin < max_margin) & valid)) / n if n else 0.0


def share_below(labels: np.ndarray, ids: Sequence[int], lower_frac: float,
                valid: Optional[np.ndarray] = None) -> float:
    """Share of the lowest ``lower_frac`` of the rows whose label is one of ``ids`` (1.0 with no such rows).

    ``valid``: the pixels to count (bool, the labels' shape; None: all).
    """
    h = labels.shape[0]
    rows = int(round(h * lower_frac))
    if rows <= 0:
        return 1.0
    lut = np.zeros(256, bool)
    lut[np.asarray(list(ids), np.int64)] = True
    lower = labels[h - rows:]
    if valid is None:
        return float(np.count_nonzero(lut[lower])) / lower.size
    keep = valid[h - rows:]
    n = int(np.count_nonzero(keep))
    return float(np.count_nonzero(lut[lower] & keep)) / n if n else 1.0


def dominant_share(labels: np.ndarray, valid: Optional[np.ndarray] = None) -> float:
    """Share of the pixels taken by the most frequent label (of the ``valid`` pixels only, when given)."""
    labels = np.asarray(labels, np.uint8)
    if valid is None:
        return float(np.bincount(labels.ravel(), minlength=256).max()) / labels.size
    n = int(np.count_nonzero(valid))
    return float(np.bincount(labels[valid], minlength=256).max()) / n if n else 0.0


def coarse_labels(labels: np.ndarray, cell_px: int) -> np.ndarray:
    """The majority label of each ``cell_px`` square cell (partial cells at the right and bottom dropped).

    Up to 4 x 4 samples per cell (every ``cell_px // 4``-th pixel), so the cost does not grow with the cell.
    """
    cell = int(cell_px)
    h, w = labels.shape
    ch, cw = h // cell, w // cell
    if ch == 0 or cw == 0:
        return np.zeros((ch, cw), np.uint8)
    offsets = np.arange(0, cell, max(cell // 4, 1))
    k = len(offsets)
    rows = (np.arange(ch)[:, None] * cell + offsets).ravel()
    cols = (np.arange(cw)[:, None] * cell + offsets).ravel()
    samples = labels[np.ix_(rows, cols)].reshape(ch, k, cw, k).transpose(0, 2, 1, 3).reshape(ch * cw, k * k)
    n = int(samples.max()) + 1
    counts = np.bincount((np.arange(ch * cw)[:, None] * n + samples).ravel(), minlength=ch * cw * n)
    return counts.reshape(ch * cw, n).argmax(axis=1).astype(np.uint8).reshape(ch, cw)


def changed_share(previous: np.ndarray, current: np.ndarray) -> float:
    """Share of cells whose label differs between two coarse label maps of one shape (NaN otherwise)."""
    if previous is None or previous.shape != current.shape or current.size == 0:
        return math.nan
    return float(np.count_nonzero(previous != current)) / current.size


# --- the verdict ---------------------------------------------------------------------------------------------

class TrustMonitor:
    """The trust check of one image stream: :meth:`assess` takes its frames in order.

    It remembers the previous frame's thumbnail and coarse labels and how many repeats came in a row; those
    checks (``frozen``, ``unstable``) need one monitor per camera, as the temporal flip check does. The history
    restarts when the image size changes or after :meth:`reset`.
    """

    def __init__(self):
        """Start with no history."""
        self.reset()

    def reset(self):
        """Forget the previous frame (a new stream, a jump in time)."""
        self._thumbnail = None
        self._coarse = None
        self._repeats = 0

    def assess(self, rgb: Optional[np.ndarray], labels: np.ndarray, margin: Optional[np.ndarray],
               classes: Union[Sequence[str], ClassIds], config: TrustConfig = TrustConfig(),
               ignore: Optional[np.ndarray] = None, grey: Optional[np.ndarray] = None) -> Trust:
        """The verdict on the stream's next frame.

        ``rgb``: the image the network saw (H x W x 3 uint8, any size; None: no image statistics); ``labels``:
        its label map and ``margin``: its top-1 minus top-2 probability (None: no margin statistic), at any
        resolution (the network's is cheapest); ``classes``: the model's class names, or their ClassIds;
        ``ignore``: the ego vehicle's pixels at the labels' resolution (H x W bool; None: none), left out of every
        statistic: the image's are taken on the rows above the vehicle (ego_mask.clear_rows), the prediction's
        over the other pixels; ``grey``: ``rgb``'s grey thumbnail at ``config.noise_width_px``
        (:func:`grey_thumbnail`) when the caller has made it (None: made here), unused when the image is cut above
        the vehicle.
        """
        if not config.enabled:
            self.reset()
            return Trust(False, (), TrustStatistics())
        c = config
        labels = np.asarray(labels)
        if labels.ndim != 2:
            raise ValueError(f'expected an H x W label map, got shape {labels.shape}')
        stats = {}
        valid = rows_clear = None
        if ignore is not None and np.any(ignore):
            ignore = np.asarray(ignore, bool)
            valid = ~ignore
            rows_clear = clear_rows(ignore) / labels.shape[0]
        if rgb is not None and rows_clear is not None:
            rows = int(round(rows_clear * rgb.shape[0]))
            if rows >= 8:       # too little left above the vehicle: the whole image
                rgb, grey = rgb[:rows], None
        if rgb is not None:
            if grey is None:
                grey = grey_thumbnail(rgb, c.noise_width_px)
            small = grey_thumbnail(grey, c.blur_width_px)
            under, over = exposure(grey, c.underexposed_level, c.overexposed_level)
            stats.update(noise_sigma=noise_sigma(grey), sharpness=sharpness(small),
                         laplacian_var=laplacian_variance(small), contrast=float(small.std()),
                         brightness=float(grey.mean()), underexposed_share=under, overexposed_share=over,
                         repeated_share=repeated_share(rgb))
            difference = math.inf if self._thumbnail is None else mean_abs_difference(self._thumbnail, grey)
            self._repeats = self._repeats + 1 if difference <= c.frozen_max_difference else 0
            self._thumbnail = grey
            stats.update(frame_difference=difference if math.isfinite(difference) else math.nan,
                         frozen_count=self._repeats)
        if margin is not None:
            margin = np.asarray(margin)
            keep = None if valid is None else resize_mask(valid, margin.shape)
            stats['low_margin_share'] = low_margin_share(margin, c.low_margin_max, keep)
        ids = class_ids(classes)
        road_or_vehicle = ids.drivable + ids.vehicle
        if road_or_vehicle:         # a model without either class cannot be judged by them
            if valid is None:
                below = share_below(labels, road_or_vehicle, c.lower_frac)
            else:       # the lower part of what the camera sees above the vehicle
                top = max(int(round(rows_clear * labels.shape[0])), 1)
                below = share_below(labels[:top], road_or_vehicle, c.lower_frac, valid[:top])
            stats['road_or_vehicle_below_share'] = below
        stats['one_class_share'] = dominant_share(labels, valid)
        coarse = coarse_labels(labels, c.unstable_cell_px)
        stats['unstable_share'] = changed_share(self._coarse, coarse)
        self._coarse = coarse
        statistics = TrustStatistics(**stats)
        reasons = judge(statistics, c)
        return Trust(bool(reasons), reasons, statistics)


def judge(statistics: TrustStatistics, config: TrustConfig = TrustConfig()) -> Tuple[str, ...]:
    """The reasons (in :data:`REASONS`' order) that ``statistics`` give for distrusting the frame under ``config``.

    A statistic that was not measured (NaN) gives no reason. The one place the thresholds are applied: the
    monitor calls it on what it measured, and a tuner on statistics measured once (benchmarks/tune_trust.py).
    """
    s, c = statistics, config
    held = set()
    flat = s.contrast < c.min_contrast
    if flat:
        held.add('black' if s.brightness <= c.underexposed_level else 'flat')
    if s.noise_sigma > c.max_noise_sigma:
        held.add('noise')
    if s.sharpness < c.min_sharpness and not flat:
        held.add('blur')
    if s.overexposed_share > c.max_overexposed_share:
        held.add('overexposed')
    if s.underexposed_share > c.max_underexposed_share:
        held.add('underexposed')
    if s.repeated_share > c.max_repeated_share and not flat:
        held.add('blocky')
    if s.frozen_count >= c.frozen_frames:
        held.add('frozen')
    if s.low_margin_share > c.max_low_margin_share:
        held.add('low_margin')
    if s.sharpness < c.blurred_below and not flat and s.low_margin_share > c.blurred_max_low_margin_share:
        held.add('blurred_unsure')
    if s.road_or_vehicle_below_share < c.min_road_or_vehicle_share:
        held.add('no_road_or_vehicle_below')
    if s.one_class_share > c.max_one_class_share:
        held.add('one_class')
    if s.unstable_share > c.max_unstable_share:
        held.add('unstable')
    return tuple(r for r in REASONS if r in held)


def assess_frame(rgb: Optional[np.ndarray], labels: np.ndarray, margin: Optional[np.ndarray],
                 classes: Union[Sequence[str], ClassIds], config: TrustConfig = TrustConfig()) -> Trust:
    """The verdict on a single frame, without a stream's history (``frozen`` and ``unstable`` cannot hold)."""
    return TrustMonitor().assess(rgb, labels, margin, classes, config)

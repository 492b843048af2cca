"""The ego vehicle in the camera's view: which pixels are the vehicle's own hood, bonnet or dashboard.

A camera that sees its own vehicle's hood sees something that is neither road nor obstacle: a network calls it
road in places, and the drivable area, grown from the bottom of the image, ends at the hood's edge. The ego mask
says which pixels are the vehicle; :meth:`Segmenter.postprocess <seg_perception.segmenter.Segmenter.postprocess>`
labels them 255 (outside), keeps them out of the drivable area and the checks, and grows the drivable area and
the free space from the mask's top edge, which acts as the image bottom.

One string names the mask, the same for ``Segmenter.default(ego_mask=...)`` and the node's ``ego_mask``
parameter (:func:`parse_ego_mask`):

- ``''``: no ego vehicle in view;
- ``bottom:F``: the lowest fraction F of the rows (0 < F < 1);
- a path to a PNG: non-zero pixels are the vehicle, resized with nearest neighbour to each frame's size;
- ``auto``: learned over the first frames of a stream (:class:`AutoEgoMask`): the region touching the bottom
  edge that stays the same while the rest of the scene moves, bounded by one smooth edge across the image;
  learned again when the camera changes.

Pure numpy and OpenCV; no ROS imports.
"""

import os
from dataclasses import dataclass
from typing import Callable, List, Optional, Tuple

import cv2
import numpy as np

FORMS = "'' (none), 'bottom:F' (the lowest fraction F of the rows, 0 < F < 1), the path of a mask PNG, or 'auto'"


@dataclass(frozen=True)
class AutoParams:
    """The settings of the learned mask (:class:`AutoEgoMask`)."""

    width_px: int = 160             # the grey thumbnail the temporal statistics are taken on
    learn_frames: int = 20          # frames in the learning window
    static_std: float = 1.5         # a thumbnail pixel is static when its temporal std is below this (grey levels)
    moving_std: float = 6.0         # ... and moving above this one
    min_moving_share: float = 0.03  # the scene moves when at least this share of the thumbnail does
    max_share: float = 0.6          # a static region over more of the frame is no hood: learn again
    min_bottom_share: float = 0.5   # the region must cover this share of the bottom row, else no ego vehicle
    edge_degree: int = 4            # the vehicle's edge: a polynomial of this degree across the image ...
    edge_tol_px: float = 2.0        # ... that the columns' static runs end within this many thumbnail rows of ...
    min_edge_share: float = 0.6     # ... in at least this share of the columns, else the window cannot tell
    edge_offset_px: float = 0.0     # the edge drawn this many thumbnail rows below where the static runs end
    change_level: float = 12.0      # the learned region changed by this mean grey level ...
    change_frames: int = 5          # ... in this many frames in a row: the camera changed, learn again


def bottom_mask(shape: Tuple[int, int], fraction: float) -> np.ndarray:
    """H x W bool: the lowest ``fraction`` of the rows (at least one row, never all of them)."""
    h, w = int(shape[0]), int(shape[1])
    rows = min(max(int(round(h * fraction)), 1), h - 1)
    mask = np.zeros((h, w), bool)
    mask[h - rows:] = True
    return mask


def load_mask_png(path: str) -> np.ndarray:
    """H x W bool of a mask image (non-zero: the ego vehicle); ValueError naming the file if it cannot be read."""
    if not os.path.isfile(path):
        raise ValueError(f'ego_mask {path!r}: no such file; expected {FORMS}')
    image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if image is None or image.size == 0:
        raise ValueError(f'ego_mask {path!r}: not a readable image')
    if image.ndim == 3:
        image = image.max(axis=2)       # any channel set (an alpha mask, a coloured painting) marks the vehicle
    mask = image > 0
    if mask.all():
        raise ValueError(f'ego_mask {path!r}: every pixel is set, which would leave nothing to segment')
    return mask


def resize_mask(mask: np.ndarray, shape: Tuple[int, int]) -> np.ndarray:
    """``mask`` (bool) at H x W ``shape``, nearest neighbour; as is when it has that size."""
    h, w = int(shape[0]), int(shape[1])
    if mask.shape == (h, w):
        return mask
    return cv2.resize(mask.view(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST_EXACT).view(bool)


def band_top(mask: np.ndarray) -> np.ndarray:
    """W int: per column, the first row of the masked run touching the bottom edge (H where the bottom is clear).

    The rows from it down are the vehicle; the row above it is that column's lowest view of the world.
    """
    mask = np.asarray(mask, bool)
    h = mask.shape[0]
    clear = ~mask[::-1]
    run = np.argmax(clear, axis=0)                 # masked rows counted from the bottom before the first clear one
    run = np.where(clear.any(axis=0), run, h)
    return (h - run).astype(np.int64)


def grow_over_edge(mask: np.ndarray, labels: np.ndarray, vehicle_ids, edge_px: int) -> np.ndarray:
    """``mask`` with its top edge raised, column by column, to the highest vehicle label just above it.

    A network labels the hood's edge region as a vehicle some pixels beyond it (its output is coarser than the
    image, and a hood is a car's), in a strip and in specks. In each column the edge moves up to the highest pixel
    labelled vehicle within ``edge_px`` rows above it (:func:`band_top`), taking the rows between: the mask stays
    one solid band, its top edge still the column's lowest view of the world. A vehicle ahead that reaches down
    to the hood keeps every pixel higher than that, so the free space still ends at it, ``edge_px`` rows higher
    at most.
    """
    mask = np.asarray(mask, bool)
    if edge_px <= 0 or not mask.any():
        return mask
    h = mask.shape[0]
    top = band_top(mask)
    rows = np.arange(h)[:, None]
    lut = np.zeros(256, bool)
    lut[np.asarray(list(vehicle_ids), np.int64)] = True
    spill = lut[labels] & (rows >= top[None, :] - int(edge_px)) & (rows < top[None, :])
    if not spill.any():
        return mask
    new_top = np.where(spill.any(axis=0), np.argmax(spill, axis=0), top)
    return mask | ((rows >= new_top[None, :]) & (rows < top[None, :]))


def clear_rows(mask: np.ndarray) -> int:
    """The rows above the band where most of each row is the vehicle: the rows the image statistics should see.

    The lowest row from which every row down to the bottom is at least half masked marks the band; its rows and
    those below it are left out (a curved hood's edge above it leaves a few vehicle pixels in).
    """
    mask = np.asarray(mask, bool)
    half = mask.mean(axis=1) >= 0.5
    clear = np.flatnonzero(~half)
    if clear.size == 0:
        return 0
    return int(clear[-1]) + 1


class AutoEgoMask:
    """The ego mask learned from one stream's frames: what stays the same at the bottom while the scene moves.

    :meth:`update` takes the frames in order. Over ``learn_frames`` frames it keeps small grey thumbnails; their
    per-pixel temporal standard deviation is low on the vehicle (it moves with the camera) and high on the road
    and the world going by. Once enough of the image moves, the static pixels connected to the bottom edge are
    the vehicle (none when they do not span ``min_bottom_share`` of the bottom row; a static region over
    ``max_share`` of the frame is a scene standing still, and the window starts again). Until then no mask is
    known (:meth:`update` returns None). The learned region is watched: a change of frame size, or the region
    differing from what was learned for ``change_frames`` frames in a row (another camera, another mounting),
    starts the learning again; with no vehicle learned, every further window of ``learn_frames`` frames is looked
    at again, and a vehicle found in one is learned.
    """

    def __init__(self, params: AutoParams = AutoParams()):
        """Start with nothing learned."""
        self.params = params
        self.relearned = 0                  # how many times the learning started again after a change
        self.reset()

    def reset(self):
        """Forget what was learned."""
        self._frames: List[np.ndarray] = []
        self._shape: Optional[Tuple[int, int]] = None
        self._mask_small: Optional[np.ndarray] = None      # bool, thumbnail size; set once learned
        self._reference: Optional[np.ndarray] = None       # the mean thumbnail over the learning window
        self._masks = {}                                    # frame size -> the mask at that size
        self._changed = 0
        self._edge = None                                   # the last window's edge (fit_edge), rows / height
        self._edge_adopted = None                           # the learned mask's edge

    @property
    def learned(self) -> bool:
        """Whether a mask (possibly empty: no vehicle in view) has been learned for the current camera."""
        return self._mask_small is not None

    def _thumbnail(self, rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        width = int(min(self.params.width_px, w))
        height = max(int(round(h * width / w)), 1)
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if rgb.ndim == 3 else rgb
        return cv2.resize(grey.astype(np.float32), (width, height), interpolation=cv2.INTER_AREA)

    def update(self, rgb: np.ndarray) -> Optional[np.ndarray]:
        """Take the stream's next frame (H x W x 3 uint8); the H x W bool mask once learned, else None."""
        rgb = np.asarray(rgb)
        shape = rgb.shape[:2]
        if self._shape is not None and shape != self._shape:
            if self.learned:
                self.relearned += 1
            self.reset()
        self._shape = shape
        small = self._thumbnail(rgb)
        if self.learned:
            if self._mask_small.any():
                change = float(np.abs(small - self._reference)[self._mask_small].mean())
                self._changed = self._changed + 1 if change > self.params.change_level else 0
                if self._changed >= self.params.change_frames:
                    self.relearned += 1
                    self.reset()
                    self._shape = shape
                    self._frames.append(small)
                    return None
            else:
                # no vehicle in view: keep looking, window after window, for one that comes into view (the
                # camera moved to another mounting); the empty mask holds meanwhile
                self._frames.append(small)
                if len(self._frames) >= self.params.learn_frames:
                    stack = np.stack(self._frames)
                    self._frames = []
                    region = self._region(stack)
                    if region is not None and region.any():
                        self.relearned += 1
                        self._adopt(region, stack)
            return self.mask(shape)
        self._frames.append(small)
        if len(self._frames) >= self.params.learn_frames:
            self._learn()
        return self.mask(shape) if self.learned else None

    def _region(self, stack: np.ndarray) -> Optional[np.ndarray]:
        """The vehicle's region in a window of thumbnails (empty: none in view); None when the window cannot tell.

        Per column, the static run from the bottom edge ends at the vehicle's edge, or higher where something
        that moves with the camera (a lead car at the same speed, a textureless tunnel wall) stands on it, or
        lower where a reflection moves over the hood. One smooth edge (:func:`fit_edge`) through the columns
        that agree with it is the vehicle's outline; what sticks out of it is left to the network.
        """
        p = self.params
        std = stack.std(axis=0)
        if np.mean(std > p.moving_std) < p.min_moving_share:
            return None                      # the scene stands still: nothing tells the vehicle from the world
        static = (std < p.static_std).astype(np.uint8)
        static = cv2.morphologyEx(static, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)).astype(bool)
        h, w = static.shape
        run_top = band_top(static)
        if np.mean(run_top < h) < p.min_bottom_share:
            return np.zeros((h, w), bool)    # the bottom moves: no vehicle in view
        edge = fit_edge(run_top, h, p.edge_degree, p.edge_tol_px, p.min_edge_share)
        if edge is None:
            return None                      # no one smooth edge: a still scene, or nothing to tell
        if p.edge_offset_px:
            fitted, offset = edge, p.edge_offset_px / h
            edge = lambda u: fitted(u) + offset      # noqa: E731
        region = edge_mask(edge, (h, w))
        if region.mean() > p.max_share:
            return None
        self._edge = edge
        return region

    def _adopt(self, region: np.ndarray, stack: np.ndarray):
        """Make ``region`` the learned mask, the mean of the window ``stack`` its reference."""
        self._mask_small = region
        self._edge_adopted = self._edge if region.any() else None
        self._reference = stack.mean(axis=0)
        self._masks = {}
        self._changed = 0

    def _learn(self):
        stack = np.stack(self._frames)
        region = self._region(stack)
        if region is None:
            self._frames.pop(0)
            return
        self._adopt(region, stack)
        self._frames = []

    def mask(self, shape: Tuple[int, int]) -> Optional[np.ndarray]:
        """The learned mask at H x W ``shape`` (None until learned): the rows below the learned edge."""
        if self._mask_small is None:
            return None
        key = (int(shape[0]), int(shape[1]))
        if key not in self._masks:
            self._masks[key] = (edge_mask(self._edge_adopted, key) if self._edge_adopted is not None
                                else np.zeros(key, bool))
        return self._masks[key]


def fit_edge(run_top: np.ndarray, height: int, degree: int = 4, tol_px: float = 2.0,
             min_share: float = 0.6, iterations: int = 8) -> Optional[Callable[[np.ndarray], np.ndarray]]:
    """One smooth edge through the columns' run tops; None when too few columns agree with any.

    ``run_top`` (W, rows; ``height`` where the column has no run) is fitted with a polynomial of ``degree`` in
    the column's position, robustly: the columns within 15% of the height of the median run top start it, then
    those within 6% of the fit, then those within ``tol_px`` of it, until that set stays the same. A protrusion
    (up: something still standing on the edge; down: something moving over the vehicle) is left out. When fewer
    than ``min_share`` of the columns lie on the edge, there is none. Returns the edge as a function of x in
    [0, 1] (the column centre over the width) giving rows / height.
    """
    run_top = np.asarray(run_top, np.float64)
    w = run_top.size
    u = 2 * (np.arange(w) + 0.5) / w - 1
    has_run = run_top < height
    if not has_run.any():
        return None
    tolerances = [max(0.15 * height, tol_px), max(0.06 * height, tol_px)] + [tol_px] * iterations
    inliers = has_run & (np.abs(run_top - np.median(run_top[has_run])) <= tolerances[0])
    coef = None
    for step, tol in enumerate(tolerances[1:]):
        if inliers.sum() < degree + 2:
            return None
        coef = np.polynomial.polynomial.polyfit(u[inliers], run_top[inliers], degree if step else min(degree, 2))
        again = has_run & (np.abs(run_top - np.polynomial.polynomial.polyval(u, coef)) <= tol)
        if step >= 2 and np.array_equal(again, inliers):
            break
        inliers = again
    if inliers.mean() < min_share:
        return None
    scaled = coef / float(height)
    return lambda x: np.polynomial.polynomial.polyval(2 * np.asarray(x, np.float64) - 1, scaled)


def edge_mask(edge: Callable[[np.ndarray], np.ndarray], shape: Tuple[int, int]) -> np.ndarray:
    """H x W bool: per column, the rows at and below ``edge`` (rows / height at the column's centre)."""
    h, w = int(shape[0]), int(shape[1])
    top = np.clip(edge((np.arange(w) + 0.5) / w) * h, 0.0, float(h))
    return (np.arange(h)[:, None] + 0.5) >= top[None, :]


class EgoMask:
    """One stream's ego mask from its string (see the module): :meth:`for_frame` gives each frame's mask.

    ``bottom:F`` and a PNG are fixed and may serve any number of streams; ``auto`` learns from the frames it is
    given, so each stream needs its own (:meth:`for_stream`).
    """

    def __init__(self, value: str = '', auto: AutoParams = AutoParams()):
        """Parse ``value``; ValueError naming it when it is none of the forms (or its PNG cannot be read)."""
        self.value, self.kind, self.fraction, self._png = parse_ego_mask(value)
        self._auto_params = auto
        self.learner = AutoEgoMask(auto) if self.kind == 'auto' else None
        self._fixed = {}

    def for_stream(self) -> 'EgoMask':
        """An ego mask for another stream: the same one when fixed, a fresh learner for ``auto``."""
        if self.learner is None:
            return self
        return EgoMask(self.value, self._auto_params)

    @property
    def enabled(self) -> bool:
        """Whether any pixel may be masked."""
        return self.kind != 'none'

    def for_frame(self, rgb: np.ndarray) -> Optional[np.ndarray]:
        """The H x W bool mask of this frame (None: nothing masked); ``auto`` learns from the frame first."""
        if self.kind == 'none':
            return None
        if self.learner is not None:
            mask = self.learner.update(rgb)
            return mask if mask is not None and mask.any() else None
        shape = rgb.shape[:2]
        if shape not in self._fixed:
            self._fixed[shape] = (bottom_mask(shape, self.fraction) if self.kind == 'bottom'
                                  else resize_mask(self._png, shape))
        return self._fixed[shape]

    def describe(self) -> str:
        """What the mask is now, for diagnostics: 'none', the value, or the state of the learning."""
        if self.kind == 'none':
            return 'none'
        if self.learner is None:
            return self.value.strip()
        learner = self.learner
        again = f', learned again {learner.relearned}x' if learner.relearned else ''
        if not learner.learned:
            return f'auto: learning{again}'
        share = float(np.mean(learner._mask_small))
        return f'auto: {share:.0%} of the frame{again}' if share else f'auto: no ego vehicle in view{again}'

    def __repr__(self) -> str:
        """The string it was made from."""
        return f'EgoMask({self.value!r})'


def parse_ego_mask(value) -> Tuple[str, str, float, Optional[np.ndarray]]:
    """(value, kind, fraction, PNG mask) of an ego mask string; kind is none, bottom, png or auto.

    ValueError naming ``value`` when it is none of the forms, F is out of range or the PNG cannot be read.
    """
    if value is None:
        value = ''
    if not isinstance(value, str):
        raise ValueError(f'ego_mask must be a string, {FORMS}; got {value!r}')
    text = value.strip()
    if text == '':
        return value, 'none', 0.0, None
    if text == 'auto':
        return value, 'auto', 0.0, None
    if text.startswith('bottom:'):
        number = text[len('bottom:'):]
        try:
            fraction = float(number)
        except ValueError:
            raise ValueError(f'ego_mask {value!r}: {number!r} is not a number; expected bottom:F with '
                             f'0 < F < 1') from None
        if not 0.0 < fraction < 1.0:
            raise ValueError(f'ego_mask {value!r}: F must lie strictly between 0 and 1, got {fraction:g}')
        return value, 'bottom', fraction, None
    if text.lower().endswith('.png'):
        return value, 'png', 0.0, load_mask_png(text)
    raise ValueError(f'ego_mask {value!r} is none of the forms: {FORMS}')

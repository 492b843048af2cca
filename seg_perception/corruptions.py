"""The 15 common corruptions of ImageNet-C at severities 1-5, for robustness benchmarks on street frames.

Hendrycks and Dietterich, "Benchmarking Neural Network Robustness to Common Corruptions and Perturbations"
(ICLR 2019) define 15 corruptions in four families (noise, blur, weather, digital), each at five severities;
Kamann and Rother ("Benchmarking the Robustness of Semantic Segmentation Models", CVPR 2020) score segmentation
under them. The per-severity constants below are those of the reference code (``make_imagenet_c.py``), in the
size-independent form of the ``imagecorruptions`` package (Michaelis et al. 2019, "Benchmarking Robustness in
Object Detection"), which applies them to frames of any size, as Cityscapes-C does. Each corruption is one small
function over float images in [0, 1] written with numpy and OpenCV only (the reference needs scikit-image, scipy
and ImageMagick, and its package breaks on NumPy 2); the result is truncated to uint8 as the reference's
``np.uint8`` does.

Deviations from the reference, all deliberate:

- ``frost`` blends a procedurally generated, seeded frost texture (:func:`frost_texture`) instead of the six
  frost photographs of ImageNet-C, which are not available here; its figures are not comparable with published
  frost figures. It is the one corruption whose content, not only its implementation, differs.
- ``motion_blur`` (and the streaks of ``snow``) sum shifted copies along a line weighted by a one-sided Gaussian,
  as ``imagecorruptions`` does, instead of calling ImageMagick's MotionBlurImage, which does the same.
- Gaussian filters are OpenCV's with the kernel radius and border mode of the scipy filters the reference calls;
  the elastic warp resamples with OpenCV's remap (1/32-pixel interpolation steps).

The benchmark must stay a test: training augmentation must not use this module or its constants.

Usable from a script::

    rng = np.random.default_rng(0)
    foggy = corrupt(rgb, 'fog', 3, rng)
"""

import math
from typing import Callable, Dict, Tuple

import cv2
import numpy as np

__all__ = ['BY_NAME', 'CORRUPTIONS', 'DEVIATIONS', 'FAMILIES', 'SEVERITIES', 'corrupt', 'family_of', 'frost_texture']

SEVERITIES = (1, 2, 3, 4, 5)

# what differs from the reference, one line each, for reports (the module docstring says why)
DEVIATIONS = ('frost: a procedural, seeded frost texture instead of the ImageNet-C frost photographs',
              'motion blur and snow streaks: shifted copies weighted by a one-sided Gaussian (as imagecorruptions), '
              'not ImageMagick')

# per-severity constants of the reference code, severity 1 first
GAUSSIAN_NOISE_STD = (0.08, 0.12, 0.18, 0.26, 0.38)
SHOT_NOISE_PHOTONS = (60, 25, 12, 5, 3)
IMPULSE_NOISE_AMOUNT = (0.03, 0.06, 0.09, 0.17, 0.27)
DEFOCUS_RADIUS_ALIAS = ((3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5))
GLASS_SIGMA_DELTA_ITERATIONS = ((0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2))
MOTION_RADIUS_SIGMA = ((10, 3), (15, 5), (15, 8), (15, 12), (20, 15))
ZOOM_FACTORS = (np.arange(1, 1.11, 0.01), np.arange(1, 1.16, 0.01), np.arange(1, 1.21, 0.02),
                np.arange(1, 1.26, 0.02), np.arange(1, 1.31, 0.03))
# snow: mean, std, zoom, threshold, streak radius, streak sigma, blend of the image
SNOW = ((0.1, 0.3, 3, 0.5, 10, 4, 0.8), (0.2, 0.3, 2, 0.5, 12, 4, 0.7), (0.55, 0.3, 4, 0.9, 12, 8, 0.7),
        (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65), (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55))
FROST_IMAGE_FROST = ((1, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75))
FOG_STRENGTH_DECAY = ((1.5, 2), (2.0, 2), (2.5, 1.7), (2.5, 1.5), (3.0, 1.4))
BRIGHTNESS_SHIFT = (0.1, 0.2, 0.3, 0.4, 0.5)
CONTRAST_FACTOR = (0.4, 0.3, 0.2, 0.1, 0.05)
ELASTIC_ALPHA = (250 * 0.05, 250 * 0.065, 250 * 0.085, 250 * 0.1, 250 * 0.12)
PIXELATE_FACTOR = (0.6, 0.5, 0.4, 0.3, 0.25)
JPEG_QUALITY = (25, 18, 15, 10, 7)


# --- helpers -------------------------------------------------------------------------------------------------

def _gaussian(x: np.ndarray, sigma_yx, truncate: float, border: int) -> np.ndarray:
    """scipy.ndimage.gaussian_filter over the image axes: radius int(truncate * sigma + 0.5) per axis."""
    sy, sx = (float(sigma_yx), float(sigma_yx)) if np.isscalar(sigma_yx) else (float(v) for v in sigma_yx)
    ky, kx = (2 * int(truncate * s + 0.5) + 1 for s in (sy, sx))
    return cv2.GaussianBlur(x, (kx, ky), sigmaX=sx, sigmaY=sy, borderType=border)


def _skimage_gaussian(x: np.ndarray, sigma: float) -> np.ndarray:
    """skimage.filters.gaussian as the reference calls it: truncate 4, 'nearest' borders."""
    return _gaussian(x, sigma, 4.0, cv2.BORDER_REPLICATE)


def _disk(radius: float, alias_blur: float) -> np.ndarray:
    """The reference's defocus kernel: a normalised disk of ``radius``, anti-aliased by a small Gaussian."""
    half = 8 if radius <= 8 else int(radius)
    ksize = (3, 3) if radius <= 8 else (5, 5)
    span = np.arange(-half, half + 1)
    xx, yy = np.meshgrid(span, span)
    disk = ((xx ** 2 + yy ** 2) <= radius ** 2).astype(np.float32)
    disk /= disk.sum()
    return cv2.GaussianBlur(disk, ksize, sigmaX=alias_blur)


def _zoom_linear(x: np.ndarray, zoom: float) -> np.ndarray:
    """scipy.ndimage.zoom(order=1) over the first two axes: output round(n * zoom), corners mapped to corners."""
    out_shape = [int(round(n * zoom)) for n in x.shape[:2]]
    for axis, (n, m) in enumerate(zip(x.shape[:2], out_shape)):
        pos = np.arange(m) * ((n - 1) / (m - 1) if m > 1 else 0.0)
        lo = np.clip(np.floor(pos).astype(np.int64), 0, n - 1)
        hi = np.minimum(lo + 1, n - 1)
        w = (pos - lo).astype(x.dtype)
        shape = [1] * x.ndim
        shape[axis] = m
        w = w.reshape(shape)
        x = np.take(x, lo, axis=axis) * (1 - w) + np.take(x, hi, axis=axis) * w
    return x


def _clipped_zoom(x: np.ndarray, zoom: float) -> np.ndarray:
    """Zoom into the centre by ``zoom``: the centre crop of 1/zoom of each side, scaled back up (top-left kept)."""
    h, w = x.shape[:2]
    ch, cw = int(np.ceil(h / zoom)), int(np.ceil(w / zoom))
    top, left = (h - ch) // 2, (w - cw) // 2
    return _zoom_linear(x[top:top + ch, left:left + cw], zoom)


def _shift(x: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """``x`` moved by (dx, dy) pixels, the uncovered border filled with the nearest edge pixels."""
    rows = np.clip(np.arange(x.shape[0]) - dy, 0, x.shape[0] - 1)
    cols = np.clip(np.arange(x.shape[1]) - dx, 0, x.shape[1] - 1)
    return x[rows][:, cols]


def _motion_blur(x: np.ndarray, radius: int, sigma: float, angle_deg: float) -> np.ndarray:
    """ImageMagick's motion blur, as imagecorruptions re-implements it.

    The sum of 2 radius + 1 copies shifted along the direction ``angle_deg``, weighted by a one-sided Gaussian
    of ``sigma`` (the nearest copy weighs most).
    """
    width = 2 * radius + 1
    kernel = np.exp(-np.arange(width) ** 2 / (2 * sigma ** 2))
    kernel /= kernel.sum()
    point = (width * np.sin(np.deg2rad(angle_deg)), width * np.cos(np.deg2rad(angle_deg)))
    hypot = math.hypot(*point)
    blurred = np.zeros(x.shape, np.float32)
    for i in range(width):
        dy = -math.ceil(i * point[0] / hypot - 0.5)
        dx = -math.ceil(i * point[1] / hypot - 0.5)
        if abs(dy) >= x.shape[0] or abs(dx) >= x.shape[1]:
            break                               # the motion left the image
        blurred += kernel[i] * _shift(x, dx, dy)
    return blurred


def plasma_fractal(map_size: int, wibble_decay: float, rng: np.random.Generator) -> np.ndarray:
    """Diamond-square height map (map_size x map_size, a power of two), normalised to [0, 1]: the fog layer."""
    if map_size & (map_size - 1):
        raise ValueError(f'plasma_fractal: map_size must be a power of two, got {map_size}')
    grid = np.zeros((map_size, map_size), np.float64)
    step = map_size
    wibble = 100.0

    def wibbled_mean(a):
        return a / 4 + wibble * rng.uniform(-wibble, wibble, a.shape)

    while step >= 2:
        half = step // 2
        corners = grid[0:map_size:step, 0:map_size:step]
        square = corners + np.roll(corners, -1, axis=0)
        square += np.roll(square, -1, axis=1)
        grid[half:map_size:step, half:map_size:step] = wibbled_mean(square)
        centres = grid[half:map_size:step, half:map_size:step]
        corners = grid[0:map_size:step, 0:map_size:step]
        left = centres + np.roll(centres, 1, axis=0) + corners + np.roll(corners, -1, axis=1)
        grid[0:map_size:step, half:map_size:step] = wibbled_mean(left)
        top = centres + np.roll(centres, 1, axis=1) + corners + np.roll(corners, -1, axis=0)
        grid[half:map_size:step, 0:map_size:step] = wibbled_mean(top)
        step //= 2
        wibble /= wibble_decay
    grid -= grid.min()
    return grid / grid.max()


def frost_texture(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A seeded, procedural H x W x 3 frost layer in [0, 255] (float32), standing in for ImageNet-C's photographs.

    Ice on a window pane: an uneven milky film (a plasma fractal, thicker in patches) carrying a dense mat of
    thin, bright needles with side branches (anti-aliased lines) and a fine crystalline grain, blue-white. The
    needle count scales with the frame area and their length with its size, so frames of any size look alike.
    """
    scale = min(h, w) / 360.0
    film = plasma_fractal(1 << (max(h, w, 2) - 1).bit_length(), 1.8, rng)[:h, :w].astype(np.float32)
    needles = np.zeros((h, w), np.float32)
    for _ in range(int(h * w / 250) + 1):
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        angle = rng.uniform(0, 2 * np.pi)
        length = rng.uniform(4, 30) * scale
        level = float(rng.uniform(0.25, 0.8))
        for _ in range(int(rng.integers(1, 4))):        # a needle, then branches off its end
            x2, y2 = x + length * np.cos(angle), y + length * np.sin(angle)
            cv2.line(needles, (int(x * 16), int(y * 16)), (int(x2 * 16), int(y2 * 16)), level, 1, cv2.LINE_AA, 4)
            x, y = x + 0.6 * (x2 - x), y + 0.6 * (y2 - y)
            angle += rng.choice((-1.0, 1.0)) * rng.uniform(0.6, 1.3)
            length *= 0.6
            level *= 0.85
    # needles grow where the film is thick
    needles = cv2.GaussianBlur(needles, (3, 3), 0.5) * (0.35 + film)
    grain = cv2.GaussianBlur(rng.normal(0.0, 0.12, (h, w)).astype(np.float32), (3, 3), 0.7)
    grey = np.clip(0.1 + 0.45 * film + needles + grain * film, 0, 1)
    tint = np.array((0.84, 0.92, 1.0), np.float32)      # R, G, B: ice looks blue-white
    return grey[:, :, None] * tint * 255.0


# --- noise ---------------------------------------------------------------------------------------------------

def gaussian_noise(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Additive Gaussian noise of std 0.08 ... 0.38 (ImageNet-C ``gaussian_noise``): sensor noise in low light."""
    c = GAUSSIAN_NOISE_STD[severity - 1]
    return np.clip(x + rng.normal(size=x.shape, scale=c), 0, 1)


def shot_noise(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Poisson (photon) noise: Poisson(x * c) / c with c = 60 ... 3 photons at full scale (``shot_noise``)."""
    c = SHOT_NOISE_PHOTONS[severity - 1]
    return np.clip(rng.poisson(x * c) / float(c), 0, 1)


def impulse_noise(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Salt-and-pepper noise, a share 0.03 ... 0.27 of the values set to 0 or 1 (``impulse_noise``).

    Each channel of each pixel on its own, salt and pepper with equal odds, as skimage's random_noise in mode
    's&p' that the reference calls.
    """
    c = IMPULSE_NOISE_AMOUNT[severity - 1]
    flipped = rng.random(x.shape) < c
    salted = rng.random(x.shape) < 0.5
    out = x.copy()
    out[flipped & salted] = 1.0
    out[flipped & ~salted] = 0.0
    return out


# --- blur ----------------------------------------------------------------------------------------------------

def defocus_blur(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Convolution with a disk of radius 3 ... 10 pixels (``defocus_blur``): an out-of-focus lens."""
    radius, alias = DEFOCUS_RADIUS_ALIAS[severity - 1]
    return np.clip(cv2.filter2D(x, -1, _disk(radius, alias)), 0, 1)


def glass_blur(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Blur, shuffle pixels locally, blur again (``glass_blur``): a view through frosted glass.

    The reference visits each pixel ``iterations`` times, bottom-right to top-left, and writes into it the pixel a
    random offset up to ``delta`` away. (Its ``x[h, w], x[h2, w2] = x[h2, w2], x[h, w]`` on numpy rows copies rather
    than swaps: both sides are views, so the second assignment writes back the value just copied. ImageNet-C was
    made with that code, so this copies too.)
    """
    sigma, delta, iterations = GLASS_SIGMA_DELTA_ITERATIONS[severity - 1]
    img = (_skimage_gaussian(x, sigma) * 255).astype(np.uint8)
    h, w = img.shape[:2]
    rows, cols = np.arange(h - delta, delta, -1), np.arange(w - delta, delta, -1)
    targets = (rows[:, None] * w + cols[None, :]).ravel().tolist()
    # track where each pixel's value comes from in a list of flat indices (fast in plain Python), then gather
    source = list(range(h * w))
    for _ in range(iterations):
        offsets = rng.integers(-delta, delta, size=(len(rows) * len(cols), 2))    # (dx, dy), high end excluded
        steps = (offsets[:, 1] * w + offsets[:, 0]).tolist()
        for target, step in zip(targets, steps):
            source[target] = source[target + step]
    img = img.reshape(h * w, 3)[np.asarray(source)].reshape(x.shape)
    return np.clip(_skimage_gaussian(img.astype(np.float32) / 255.0, sigma), 0, 1)


def motion_blur(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Blur along a line at a random angle within 45 degrees of horizontal, radius 10 ... 20 (``motion_blur``)."""
    radius, sigma = MOTION_RADIUS_SIGMA[severity - 1]
    return np.clip(_motion_blur(x, radius, sigma, rng.uniform(-45, 45)), 0, 1)


def zoom_blur(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """The mean of the image and its zooms into the centre by up to 1.1 ... 1.3 (``zoom_blur``).

    A camera moving fast towards the scene.
    """
    h, w = x.shape[:2]
    out = x.copy()
    factors = ZOOM_FACTORS[severity - 1]
    for zoom in factors:
        out += _clipped_zoom(x, zoom)[:h, :w]
    return np.clip(out / (len(factors) + 1), 0, 1)


# --- weather -------------------------------------------------------------------------------------------------

def snow(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Falling snow, ``snow``.

    Thresholded, zoomed Gaussian noise streaked by motion blur, added twice (the second copy rotated by 180
    degrees) over an image whitened towards 1.5 x grey + 0.5.
    """
    mean, std, zoom, threshold, radius, sigma, blend = SNOW[severity - 1]
    h, w = x.shape[:2]
    flakes = rng.normal(size=(h, w), loc=mean, scale=std).astype(np.float32)
    flakes = _clipped_zoom(flakes[..., None], zoom)[..., 0]
    flakes[flakes < threshold] = 0
    flakes = _motion_blur(np.clip(flakes, 0, 1), radius, sigma, rng.uniform(-135, -45))
    flakes = (np.round(flakes * 255).astype(np.uint8) / 255.0)[:h, :w, None].astype(np.float32)
    grey = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY)[..., None]
    x = blend * x + (1 - blend) * np.maximum(x, grey * 1.5 + 0.5)
    return np.clip(x + flakes + np.rot90(flakes, k=2), 0, 1)


def frost(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Ice on the lens, ``frost``: c0 x image + c1 x a frost layer, from c0, c1 = 1, 0.4 up to 0.6, 0.75.

    The layer is procedural (:func:`frost_texture`); the reference crops one of six photographs, not available
    here.
    """
    image_weight, frost_weight = FROST_IMAGE_FROST[severity - 1]
    layer = frost_texture(x.shape[0], x.shape[1], rng) / 255.0
    return np.clip(image_weight * x + frost_weight * layer, 0, 1)


def fog(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """A plasma-fractal haze of strength 1.5 ... 3 added and the result rescaled to the image's peak (``fog``)."""
    strength, decay = FOG_STRENGTH_DECAY[severity - 1]
    h, w = x.shape[:2]
    map_size = 1 << (max(h, w, 3) - 1).bit_length()         # the reference's next power of two of max(shape)
    peak = x.max()
    haze = plasma_fractal(map_size, decay, rng)[:h, :w, None].astype(np.float32)
    return np.clip((x + strength * haze) * peak / (peak + strength), 0, 1)


def brightness(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """V of HSV raised by 0.1 ... 0.5 and clipped at 1 (``brightness``): over-exposure.

    With hue and saturation kept, RGB is proportional to V, so the HSV round trip is a scaling of each pixel by
    V' / V (a black pixel, of saturation 0, becomes grey V').
    """
    c = BRIGHTNESS_SHIFT[severity - 1]
    v = x.max(axis=2, keepdims=True)
    v_new = np.minimum(v + c, 1.0)
    return np.where(v > 0, x * (v_new / np.maximum(v, 1e-12)), v_new)


# --- digital -------------------------------------------------------------------------------------------------

def contrast(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Each channel's deviation from its image mean scaled by 0.4 ... 0.05 (``contrast``)."""
    c = CONTRAST_FACTOR[severity - 1]
    means = x.mean(axis=(0, 1), keepdims=True)
    return np.clip((x - means) * c + means, 0, 1)


def elastic_transform(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """A smooth random warp (``elastic_transform``, in its size-independent form).

    Uniform displacements of at most 0.005 x height, smoothed by a Gaussian of 0.01 x the image size (truncated
    at 3 sigma, reflected borders), scaled by alpha = 12.5 ... 30, applied with bilinear resampling and reflected
    borders.
    """
    alpha = ELASTIC_ALPHA[severity - 1]
    h, w = x.shape[:2]
    sigma = (0.01 * h, 0.01 * w)
    max_d = 0.005 * h
    dx = (_gaussian(rng.uniform(-max_d, max_d, (h, w)), sigma, 3.0, cv2.BORDER_REFLECT) * alpha).astype(np.float32)
    dy = (_gaussian(rng.uniform(-max_d, max_d, (h, w)), sigma, 3.0, cv2.BORDER_REFLECT) * alpha).astype(np.float32)
    cols, rows = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    out = cv2.remap(x, cols + dx, rows + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return np.clip(out, 0, 1)


def _box_weights(n_in: int, n_out: int) -> np.ndarray:
    """PIL's BOX resampling weights, n_out x n_in.

    Each output pixel is the mean of the input pixels whose centres fall in its footprint (Pillow's
    ``precompute_coeffs`` with ``box_filter``), not an area-weighted mean as OpenCV's INTER_AREA.
    """
    scale = n_in / n_out
    support = 0.5 * max(scale, 1.0)
    weights = np.zeros((n_out, n_in), np.float64)
    for i in range(n_out):
        centre = (i + 0.5) * scale
        lo, hi = max(int(centre - support + 0.5), 0), min(int(centre + support + 0.5), n_in)
        x = (np.arange(lo, hi) - centre + 0.5) / max(scale, 1.0)
        weights[i, lo:hi] = (x > -0.5) & (x <= 0.5)
    return weights / np.maximum(weights.sum(axis=1, keepdims=True), 1e-12)


def pixelate(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Box-filtered down to 0.6 ... 0.25 of each side, then nearest-neighbour back up (``pixelate``).

    As the reference's PIL resizes of the uint8 image: BOX (rows first, each pass rounded to uint8), then NEAREST,
    which OpenCV's INTER_NEAREST_EXACT reproduces.
    """
    c = PIXELATE_FACTOR[severity - 1]
    h, w = image.shape[:2]
    small_w, small_h = max(int(w * c), 1), max(int(h * c), 1)
    x = image.astype(np.float64)
    rows = np.floor(np.matmul(_box_weights(w, small_w), x.transpose(0, 2, 1)[..., None])[..., 0] + 0.5)   # h, c, w'
    small = np.floor(np.matmul(_box_weights(h, small_h), rows.transpose(1, 0, 2)) + 0.5)                 # c, h', w'
    small = small.clip(0, 255).astype(np.uint8).transpose(1, 2, 0)
    return cv2.resize(np.ascontiguousarray(small), (w, h), interpolation=cv2.INTER_NEAREST_EXACT)


def jpeg_compression(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """The uint8 image encoded as JPEG at quality 25 ... 7 and decoded (``jpeg_compression``).

    libjpeg with 4:2:0 chroma subsampling, PIL's default: the same pixels as the reference's PIL save.
    """
    quality = JPEG_QUALITY[severity - 1]
    ok, data = cv2.imencode('.jpg', image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError(f'OpenCV could not encode a {image.shape[1]}x{image.shape[0]} frame as JPEG')
    return np.ascontiguousarray(cv2.imdecode(data, cv2.IMREAD_COLOR)[:, :, ::-1])


# --- the table and the entry point ---------------------------------------------------------------------------

FAMILIES: Dict[str, Tuple[str, ...]] = {
    'noise': ('gaussian_noise', 'shot_noise', 'impulse_noise'),
    'blur': ('defocus_blur', 'glass_blur', 'motion_blur', 'zoom_blur'),
    'weather': ('snow', 'frost', 'fog', 'brightness'),
    'digital': ('contrast', 'elastic_transform', 'pixelate', 'jpeg_compression'),
}

_FUNCTIONS: Dict[str, Callable[[np.ndarray, int, np.random.Generator], np.ndarray]] = {
    f.__name__: f for f in (gaussian_noise, shot_noise, impulse_noise, defocus_blur, glass_blur, motion_blur,
                            zoom_blur, snow, frost, fog, brightness, contrast, elastic_transform, pixelate,
                            jpeg_compression)}

# these two work on the uint8 image, as the reference's PIL calls do; the others on floats in [0, 1]
_ON_UINT8 = ('pixelate', 'jpeg_compression')

CORRUPTIONS: Tuple[str, ...] = tuple(name for names in FAMILIES.values() for name in names)


def family_of(name: str) -> str:
    """The family (noise, blur, weather, digital) of a corruption."""
    for family, names in FAMILIES.items():
        if name in names:
            return family
    raise ValueError(f'unknown corruption {name!r}; choose from {", ".join(CORRUPTIONS)}')


def _to_uint8(x: np.ndarray) -> np.ndarray:
    # the reference's np.uint8(...) of the [0, 255] float result: truncation, not rounding
    return (np.clip(x, 0, 1) * 255).astype(np.uint8)


def corrupt(image: np.ndarray, name: str, severity: int, rng: np.random.Generator) -> np.ndarray:
    """``image`` (H x W x 3 RGB uint8) under corruption ``name`` at ``severity`` (1-5), drawn from ``rng``.

    Returns a new uint8 image of the same shape; the same ``rng`` state gives the same image. ValueError for an
    unknown name or severity (naming the valid ones) or an image that is not H x W x 3 uint8.
    """
    if name not in _FUNCTIONS:
        raise ValueError(f'unknown corruption {name!r}; choose from {", ".join(CORRUPTIONS)}')
    if isinstance(severity, bool) or not isinstance(severity, (int, np.integer)) or severity not in SEVERITIES:
        raise ValueError(f'{name}: severity must be one of {", ".join(map(str, SEVERITIES))}, got {severity!r}')
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 1:
        raise ValueError(f'{name}: expected an H x W x 3 uint8 RGB image, got {image.dtype} of shape {image.shape}')
    if name in _ON_UINT8:
        return _FUNCTIONS[name](np.ascontiguousarray(image), int(severity), rng)
    return _to_uint8(_FUNCTIONS[name](image.astype(np.float32) / 255.0, int(severity), rng))


def _bound(name: str) -> Callable[[np.ndarray, int, np.random.Generator], np.ndarray]:
    def apply(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
        return corrupt(image, name, severity, rng)
    apply.__name__ = name
    apply.__doc__ = f'``image`` under {name} at ``severity``: :func:`corrupt` with the name bound.'
    return apply


# name -> f(image, severity, rng), every corruption with the checks of :func:`corrupt`, in CORRUPTIONS' order
# (the plug-in form benchmarks/trust_figures.py takes: ``--corruptions seg_perception.corruptions:BY_NAME``)
BY_NAME: Dict[str, Callable[[np.ndarray, int, np.random.Generator], np.ndarray]] = {
    name: _bound(name) for name in CORRUPTIONS}

"""Training augmentation for robustness to the cameras users have: sensor noise, blur, weather, light, colour.

``--augment robust`` in ``seg-perception train``. Built with albumentations (Buslaev et al., "Albumentations:
fast and flexible image augmentations", Information 2020), which is segmentation-aware: the label map goes through
the geometric transforms (scale, aspect, roll, crop, flip) with nearest-neighbour interpolation and void padding,
and never through the photometric ones. The photometric groups run first, on the whole frame at the camera's
resolution, where a camera adds them; then the frame is rescaled and cropped as a network sees it. Groups, in
that order (each one transform of its list, drawn with the group's probability):

- ``colour``: colour temperature (Planckian jitter), per-channel gains, hue and saturation (colour constancy);
- ``exposure``: gain and offset, contrast about the mean, gamma (under- and over-exposure);
- ``weather``: fog, rain, snow, sun glare;
- ``low_light``: a shorter exposure (gain and gamma) followed by the sensor noise a raised gain brings;
- ``blur``: defocus, motion;
- ``noise``: Gaussian (per channel or luminance), Poisson (shot), salt-and-pepper, ISO noise;
- ``jpeg``: JPEG compression.

One strength knob: ``strength`` scales every magnitude range from the identity (0: no photometric change, 1:
the ranges below, 2: twice as far from the identity, clamped to what the library accepts), ``p`` scales every
group's probability (:data:`GROUP_P`; 0: scale, crop and flip only).

The benchmark stays a test. :mod:`seg_perception.robustness` corrupts with :mod:`seg_perception.corruptions`
(the reference code's numpy functions and the paper's five constants per corruption); this module uses neither:
albumentations' own implementations, with parameters drawn from continuous ranges. How they differ is
:data:`BENCHMARK_DIFFERENCES` (one line each, for the model manifest). Glass blur, zoom blur, frost, elastic
transform and pixelation are not trained on at all: the benchmark's figures on them measure generalisation only.

Usable from a script::

    augment = RobustAugment(crop_hw=(288, 384), ignore_index=11, scale_range=(0.85, 1.45), strength=1.0)
    image, labels = augment(rgb, labels, np.random.default_rng(0))
"""

import os
from typing import Dict, Optional, Sequence, Tuple

import cv2
import numpy as np

os.environ.setdefault('NO_ALBUMENTATIONS_UPDATE', '1')      # no network look-up for a newer version at import

__all__ = ['BENCHMARK_DIFFERENCES', 'GROUP_P', 'GROUPS', 'MAX_STRENGTH', 'RobustAugment', 'available', 'geometric',
           'photometric']

# the photometric groups in the order they are applied, and each one's probability at p = 1
GROUPS = ('colour', 'exposure', 'weather', 'low_light', 'blur', 'noise', 'jpeg')
GROUP_P = {'colour': 0.3, 'exposure': 0.3, 'weather': 0.15, 'low_light': 0.1, 'blur': 0.25, 'noise': 0.3,
           'jpeg': 0.2}
# the geometric ones beyond scale, crop and flip, with their probabilities at p = 1
GEOMETRIC_P = {'aspect': 0.5, 'roll': 0.3}
MAX_STRENGTH = 2.0
MAX_P = 4.0

# how the training corruptions differ from the benchmark's (seg_perception.corruptions), at strength 1
BENCHMARK_DIFFERENCES = (
    'implementations: albumentations 2.0.8 transforms, never seg_perception.corruptions; parameters drawn from '
    'continuous ranges, never the benchmark\'s five constants per corruption',
    'Gaussian noise: std U(0.01, 0.20) of the range, per channel or luminance only (benchmark 0.08, 0.12, 0.18, '
    '0.26, 0.38, per channel)',
    'shot noise: Poisson in linear light (gamma 2.2), scale U(0.005, 0.1) (benchmark: Poisson on sRGB values, '
    '60, 25, 12, 5, 3 photons)',
    'impulse noise: salt-and-pepper on U(0.5, 5)% of the pixels (benchmark 3, 6, 9, 17, 27%)',
    'defocus blur: disc radius 1-5 px (benchmark 3, 4, 6, 8, 10)',
    'motion blur: albumentations line kernel of 3-15 px, any angle (benchmark: one-sided Gaussian streak, '
    'radius 10-20, sigma 3-15)',
    'fog: albumentations circles of haze, coefficient U(0.1, 0.45) (benchmark: plasma-fractal fog)',
    'snow: albumentations bleaching of bright pixels (benchmark: a motion-blurred snow layer); rain and sun glare '
    'are not in the benchmark',
    'exposure: gain 0.7-1.3 with an offset of +-0.2 of the range, or gamma 0.6-1.6 (benchmark brightness: HSV value '
    '+0.1 to +0.5); low light: gain 0.25-0.6 and gamma 1-1.4, then Gaussian, shot or ISO noise',
    'contrast: a blend with the mean grey, factor 0.55-1.3 (benchmark 0.4, 0.3, 0.2, 0.1, 0.05, all below the '
    'training range)',
    'JPEG: quality 30-95 (benchmark 25, 18, 15, 10, 7, all below the training range)',
    'not trained on: glass blur, zoom blur, frost, elastic transform, pixelation',
)


def available() -> bool:
    """Whether albumentations can be imported (the ``train`` extra installs it)."""
    try:
        import albumentations  # noqa: F401
    except ImportError:
        return False
    return True


def _albumentations():
    try:
        import albumentations as A
    except ImportError:
        raise ImportError('--augment robust needs albumentations: pip install albumentations==2.0.8 (or the package\'s '
                          '"train" extra)') from None
    return A


def _check(strength: float, p: float) -> None:
    if not 0.0 <= strength <= MAX_STRENGTH:
        raise ValueError(f'augmentation strength must be from 0 to {MAX_STRENGTH:g}, got {strength}')
    if not 0.0 <= p <= MAX_P:
        raise ValueError(f'augmentation p (the scale of every group\'s probability) must be from 0 to {MAX_P:g}, '
                         f'got {p}')


def _toward(identity: float, value: float, strength: float) -> float:
    """``value`` moved from ``identity`` by ``strength`` (1: ``value`` itself)."""
    return identity + (value - identity) * strength


def _odd(value: float) -> int:
    return max(3, int(round(value)) | 1)


def _groups(strength: float) -> Dict[str, list]:
    """The transforms of each photometric group at ``strength`` (each with p=1; the group draws one of them)."""
    A = _albumentations()
    s = strength

    def gauss(lo, hi, per_channel=True):
        return A.GaussNoise(std_range=(lo * s, min(hi * s, 1.0)), per_channel=per_channel, p=1.0)

    def darken():
        # a shorter exposure: a gain of 0.25-0.6 about black, then a little gamma
        return A.Sequential([
            A.RandomBrightnessContrast(brightness_limit=(0.0, 0.0),
                                       contrast_limit=(max(-0.75 * s, -0.95), max(-0.4 * s, -0.95)), p=1.0),
            A.RandomGamma(gamma_limit=(100, _toward(100, 140, s)), p=1.0)], p=1.0)

    return {
        'colour': [
            A.PlanckianJitter(mode='blackbody', p=1.0,
                              temperature_limit=(int(max(3000, 6500 - 3000 * s)), int(min(15000, 6500 + 4500 * s)))),
            A.MultiplicativeNoise(multiplier=(max(_toward(1, 0.85, s), 0.05), _toward(1, 1.15, s)),
                                  per_channel=True, elementwise=False, p=1.0),
            A.HueSaturationValue(hue_shift_limit=6 * s, sat_shift_limit=40 * s, val_shift_limit=0, p=1.0),
        ],
        'exposure': [
            A.RandomBrightnessContrast(brightness_limit=(-0.2 * s, 0.2 * s),
                                       contrast_limit=(max(-0.3 * s, -0.95), 0.3 * s), p=1.0),
            A.ColorJitter(brightness=(1.0, 1.0), contrast=(max(_toward(1, 0.55, s), 0.05), _toward(1, 1.3, s)),
                          saturation=(1.0, 1.0), hue=(0.0, 0.0), p=1.0),
            A.RandomGamma(gamma_limit=(max(_toward(100, 60, s), 10), _toward(100, 160, s)), p=1.0),
        ],
        'weather': [
            A.RandomFog(fog_coef_range=(min(0.1 * s, 1.0), min(0.45 * s, 1.0)), alpha_coef=0.08, p=1.0),
            A.RandomRain(slant_range=(-15, 15), drop_width=1, blur_value=3,
                         brightness_coefficient=max(_toward(1, 0.75, s), 0.1), rain_type='default', p=1.0),
            A.RandomSnow(snow_point_range=(min(0.05 * s, 1.0), min(0.25 * s, 1.0)), brightness_coeff=1 + 1.5 * s,
                         method='bleach', p=1.0),
            A.RandomSunFlare(flare_roi=(0, 0, 1, 0.5), src_radius=max(int(60 + 120 * s), 1),
                             num_flare_circles_range=(3, max(3, int(round(8 * s)))), method='overlay', p=1.0),
        ],
        'low_light': [
            A.Sequential([darken(), gauss(0.02, 0.12)], p=1.0),
            A.Sequential([darken(), A.ShotNoise(scale_range=(0.005 * s, 0.08 * s), p=1.0)], p=1.0),
            A.Sequential([darken(), A.ISONoise(color_shift=(0.01, 0.05), intensity=(0.2 * s, 0.8 * s), p=1.0)],
                         p=1.0),
        ],
        'blur': [
            A.Defocus(radius=(1, max(1, int(round(5 * s)))), alias_blur=(0.1, 0.5), p=1.0),
            A.MotionBlur(blur_limit=(3, _odd(15 * s)), allow_shifted=True, p=1.0),
        ],
        'noise': [
            gauss(0.01, 0.20),
            gauss(0.01, 0.20, per_channel=False),
            A.ShotNoise(scale_range=(0.005 * s, 0.1 * s), p=1.0),
            A.SaltAndPepper(amount=(0.005 * s, min(0.05 * s, 1.0)), salt_vs_pepper=(0.4, 0.6), p=1.0),
            A.ISONoise(color_shift=(0.01, 0.05), intensity=(0.1 * s, 0.6 * s), p=1.0),
        ],
        'jpeg': [
            A.ImageCompression(compression_type='jpeg',
                               quality_range=(int(max(1, _toward(100, 30, s))), int(max(1, _toward(100, 95, s)))),
                               p=1.0),
        ],
    }


def photometric(strength: float = 1.0, p: float = 1.0, group_p: Optional[Dict[str, float]] = None):
    """The photometric part: an albumentations Compose that changes pixel values only, never the label map.

    ``group_p``: each group's probability at p = 1 (default :data:`GROUP_P`; groups left out are not applied).
    ValueError for a strength or p out of range or an unknown group.
    """
    A = _albumentations()
    _check(strength, p)
    group_p = dict(GROUP_P if group_p is None else group_p)
    unknown = sorted(set(group_p) - set(GROUPS))
    if unknown:
        raise ValueError(f'unknown augmentation group {", ".join(unknown)}; the groups are {", ".join(GROUPS)}')
    steps = []
    if strength > 0:
        groups = _groups(strength)
        for name in GROUPS:
            chance = min(1.0, group_p.get(name, 0.0) * p)
            if chance > 0:
                steps.append(A.OneOf(groups[name], p=chance))
    return A.Compose(steps)


def geometric(crop_hw: Tuple[int, int], ignore_index: int, scale_range: Sequence[float] = (0.75, 1.5),
              strength: float = 1.0, p: float = 1.0, flip: float = 0.5):
    """The geometric part: scale, aspect, roll, crop (padding with void) and horizontal flip, labels included.

    Scale: the frame's pixel size times U(scale_range) (as ``augmentation.augment``), the label map by centred
    nearest neighbour; aspect: the width alone stretched by up to +-15% x strength (other cameras' pixel shapes
    and lenses); roll: up to +-3 degrees x strength; padding and the rotated corners are void in the labels.
    """
    A = _albumentations()
    _check(strength, p)
    lo, hi = scale_range
    if not 0 < lo <= hi:
        raise ValueError(f'scale range must be 0 < LO <= HI, got {tuple(scale_range)}')
    steps = [A.RandomScale(scale_limit=(lo - 1.0, hi - 1.0), interpolation=cv2.INTER_LINEAR,
                           mask_interpolation=cv2.INTER_NEAREST_EXACT, p=1.0)]
    aspect = 0.15 * strength
    chance = min(1.0, GEOMETRIC_P['aspect'] * p)
    if aspect > 0 and chance > 0:
        steps.append(A.Affine(scale={'x': (max(1 - aspect, 0.5), 1 + aspect), 'y': (1.0, 1.0)}, keep_ratio=False,
                              fit_output=True, interpolation=cv2.INTER_LINEAR, mask_interpolation=cv2.INTER_NEAREST,
                              border_mode=cv2.BORDER_REPLICATE, p=chance))     # the edges: no blend with black
    roll = 3.0 * strength
    chance = min(1.0, GEOMETRIC_P['roll'] * p)
    if roll > 0 and chance > 0:
        steps.append(A.Affine(rotate=(-roll, roll), interpolation=cv2.INTER_LINEAR,
                              mask_interpolation=cv2.INTER_NEAREST, border_mode=cv2.BORDER_CONSTANT, fill=0,
                              fill_mask=ignore_index, p=chance))
    ch, cw = crop_hw
    steps.append(A.RandomCrop(height=ch, width=cw, pad_if_needed=True, pad_position='top_left',
                              border_mode=cv2.BORDER_CONSTANT, fill=0, fill_mask=ignore_index, p=1.0))
    if flip > 0:
        steps.append(A.HorizontalFlip(p=flip))
    return A.Compose(steps)


class RobustAugment:
    """Photometric groups on the frame, then scale, aspect, roll, crop and flip; a pure function of its rng.

    ``__call__(image, labels, rng)``: an RGB uint8 frame and its uint8 label map to a ``crop_hw`` pair; every
    random draw comes from ``rng`` (a numpy Generator), so (seed, iteration) decide a training batch as before.
    """

    def __init__(self, crop_hw: Tuple[int, int], ignore_index: int, scale_range: Sequence[float] = (0.75, 1.5),
                 strength: float = 1.0, p: float = 1.0, group_p: Optional[Dict[str, float]] = None,
                 flip: float = 0.5):
        self.strength, self.p = float(strength), float(p)
        self.photometric = photometric(strength, p, group_p)
        self.geometric = geometric(crop_hw, ignore_index, scale_range, strength, p, flip)

    def describe(self) -> str:
        """One line for logs and the manifest."""
        groups = ', '.join(f'{name} {min(1.0, GROUP_P[name] * self.p):.2f}' for name in GROUPS)
        return (f'robust (albumentations, photometric then geometric): strength {self.strength:g}, p {self.p:g} '
                f'({groups}; aspect {min(1.0, GEOMETRIC_P["aspect"] * self.p):.2f}, roll '
                f'{min(1.0, GEOMETRIC_P["roll"] * self.p):.2f})')

    def __call__(self, image: np.ndarray, labels: np.ndarray,
                 rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
        """Augment one (image, labels) pair with draws from ``rng``."""
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f'expected an H x W x 3 uint8 RGB image, got {image.shape} {image.dtype}')
        if labels.dtype != np.uint8 or labels.shape != image.shape[:2]:
            raise ValueError(f'expected an H x W uint8 label map of the image\'s size {image.shape[:2]}, got '
                             f'{labels.shape} {labels.dtype}')
        seeds = rng.integers(0, 2 ** 31, size=2)
        self.photometric.set_random_seed(int(seeds[0]))
        self.geometric.set_random_seed(int(seeds[1]))
        image = self.photometric(image=np.ascontiguousarray(image))['image']
        out = self.geometric(image=image, mask=np.ascontiguousarray(labels))
        return np.ascontiguousarray(out['image']), np.ascontiguousarray(out['mask'])

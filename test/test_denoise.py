"""Test-time denoising (seg_perception.denoise): which frames are filtered, how, and what the checks still see."""

from dataclasses import replace

import numpy as np
import pytest

from seg_perception import denoise
from seg_perception.model_files import ModelFiles
from seg_perception.safety_config import DenoiseParams, SafetyConfig
from seg_perception.segmenter import Segmenter
from seg_perception.trust import grey_thumbnail, noise_sigma

PARAMS = DenoiseParams()
WIDTH = SafetyConfig().trust.noise_width_px


def measure(rgb, params=PARAMS):
    return denoise.measure(rgb, grey_thumbnail(rgb, WIDTH), params)


def textured(seed=0, shape=(240, 320)):
    """A smooth, textured frame without noise: blocks of colour blended by a blur."""
    import cv2
    rng = np.random.default_rng(seed)
    cells = (shape[0] // 16, shape[1] // 16)
    # grey levels over the whole range (a camera frame's contrast), each cell's colour a little off its grey
    small = np.clip(rng.integers(10, 246, cells + (1,)) + rng.integers(-20, 21, cells + (3,)), 0, 255).astype(np.uint8)
    return cv2.GaussianBlur(cv2.resize(small, shape[::-1], interpolation=cv2.INTER_NEAREST), (0, 0), 1.0)


def gaussian_noise(rgb, sigma, seed=1):
    noisy = rgb + np.random.default_rng(seed).normal(0, sigma, rgb.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def salt_and_pepper(rgb, share, seed=2):
    out = rgb.copy()
    rng = np.random.default_rng(seed)
    hit = rng.random(rgb.shape) < share
    out[hit] = np.where(rng.random(int(hit.sum())) < 0.5, 0, 255)
    return out


def test_a_clean_frame_wants_no_filter():
    sigma, impulses = measure(textured())
    assert sigma < PARAMS.max_noise_sigma and impulses <= PARAMS.max_impulse_share
    assert not denoise.wants_blur(sigma, PARAMS) and not denoise.wants_median(impulses, PARAMS)


def test_gaussian_noise_wants_a_blur_that_lowers_it():
    noisy = gaussian_noise(textured(), 20.0)
    sigma, impulses = measure(noisy)
    assert denoise.wants_blur(sigma, PARAMS) and not denoise.wants_median(impulses, PARAMS)
    assert noise_sigma(grey_thumbnail(denoise.blur(noisy, PARAMS), WIDTH)) < sigma / 2


def test_salt_and_pepper_wants_a_median_that_removes_it():
    noisy = salt_and_pepper(textured(), 0.05)
    _, impulses = measure(noisy)
    assert denoise.wants_median(impulses, PARAMS)
    cleaned = denoise.median(noisy)
    assert denoise.impulse_share(cleaned, PARAMS.impulse_level) < PARAMS.max_impulse_share
    assert np.abs(cleaned.astype(int) - textured().astype(int)).mean() < 3


def test_disabled_filters_nothing():
    off = replace(PARAMS, enabled=False)
    noisy = salt_and_pepper(gaussian_noise(textured(), 20.0), 0.05)
    sigma, impulses = measure(noisy, off)
    assert not denoise.wants_blur(sigma, off) and not denoise.wants_median(impulses, off)


def low_contrast(rgb, factor):
    """Each channel's deviation from its mean scaled by ``factor`` (the contrast corruption's form)."""
    means = rgb.reshape(-1, 3).mean(axis=0)
    return np.clip((rgb - means) * factor + means, 0, 255).astype(np.uint8)


def test_grey_range_is_the_1st_to_99th_percentile_range():
    ramp = np.tile(np.arange(256, dtype=np.float32), (4, 1))
    assert denoise.grey_range(ramp) == pytest.approx(np.percentile(ramp, 99) - np.percentile(ramp, 1), abs=1.0)
    assert denoise.grey_range(np.full((8, 8), 77.0, np.float32)) == 0.0


def test_a_flat_frame_is_stretched_back_and_a_clean_one_is_not():
    frame = textured()
    assert denoise.stretch_gain(denoise.grey_range(grey_thumbnail(frame, WIDTH)), PARAMS) == 1.0
    flat = low_contrast(frame, 0.2)
    gain = denoise.stretch_gain(denoise.grey_range(grey_thumbnail(flat, WIDTH)), PARAMS)
    assert 1.0 < gain <= PARAMS.max_stretch
    restored = denoise.stretch(flat, gain)
    error = lambda im: np.abs(im.astype(int) - frame.astype(int)).mean()     # noqa: E731
    assert error(restored) < error(flat) / 3
    # the gain is capped, and a range at or above the threshold (or stretching off) gives none
    assert denoise.stretch_gain(1.0, PARAMS) == PARAMS.max_stretch
    assert denoise.stretch_gain(PARAMS.stretch_below_range, PARAMS) == 1.0
    assert denoise.stretch_gain(10.0, replace(PARAMS, stretch_below_range=0.0)) == 1.0
    assert denoise.stretch_gain(10.0, replace(PARAMS, enabled=False)) == 1.0


def soft_of(grey):
    from seg_perception.trust import sharpness
    return sharpness(grey_thumbnail(grey, SafetyConfig().trust.blur_width_px))


def test_a_soft_frame_wants_an_unsharp_mask_that_sharpens_it_and_a_clean_one_does_not():
    import cv2
    frame = textured()
    assert not denoise.wants_sharpen(soft_of(grey_thumbnail(frame, WIDTH)), PARAMS)
    soft = cv2.GaussianBlur(frame, (0, 0), 4.0)         # a defocused lens
    assert denoise.wants_sharpen(soft_of(grey_thumbnail(soft, WIDTH)), PARAMS)
    sharpened = denoise.sharpen(soft, PARAMS)
    assert soft_of(grey_thumbnail(sharpened, WIDTH)) > 1.5 * soft_of(grey_thumbnail(soft, WIDTH))
    error = lambda im: np.abs(im.astype(int) - frame.astype(int)).mean()     # noqa: E731
    assert error(sharpened) < error(soft)
    assert not denoise.wants_sharpen(0.0, replace(PARAMS, sharpen_below=0.0))
    assert not denoise.wants_sharpen(0.0, replace(PARAMS, enabled=False))


def pixelated(rgb, block=4):
    """``rgb`` at 1/``block`` of its size, scaled back up by repeating pixels (Hendrycks and Dietterich's pixelate)."""
    import cv2
    h, w = rgb.shape[:2]
    small = cv2.resize(rgb, (w // block, h // block), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)


def test_a_pixelated_frame_wants_a_deblocking_blur_and_a_camera_frame_does_not():
    from seg_perception.trust import repeated_share
    camera = gaussian_noise(textured(), 2.0)        # a camera's own noise leaves few neighbours equal
    assert not denoise.wants_deblock(repeated_share(camera), PARAMS)
    blocky = pixelated(camera)
    assert denoise.wants_deblock(repeated_share(blocky), PARAMS)
    smoothed = denoise.deblock(blocky, PARAMS)
    edges = lambda im: np.abs(np.diff(im.astype(int), axis=1))[:, 3::4].mean()    # noqa: E731 - across block edges
    assert edges(smoothed) < 0.7 * edges(blocky)
    assert not denoise.wants_deblock(1.0, replace(PARAMS, deblock_above_repeated=1.0))
    assert not denoise.wants_deblock(1.0, replace(PARAMS, enabled=False))


def test_the_settings_are_flat_parameters_like_the_checks():
    config = SafetyConfig.from_flat({'denoise_enabled': False, 'denoise_max_noise_sigma': 5.0})
    assert config.denoise == DenoiseParams(enabled=False, max_noise_sigma=5.0)
    assert SafetyConfig().flat()['denoise_blur_sigma'] == PARAMS.blur_sigma


@pytest.fixture(scope='module')
def segmenters(tiny_model):
    from seg_perception import backends
    model = ModelFiles.load(str(tiny_model))
    on = Segmenter(model, backends.create('onnxruntime', model, threads=1))
    off = Segmenter(model, backends.create('onnxruntime', model, threads=1),
                    safety=replace(SafetyConfig(), denoise=replace(PARAMS, enabled=False)))
    return on, off


def test_the_segmenter_filters_noisy_and_flat_frames_only_and_what_the_trust_check_then_sees(segmenters):
    on, off = segmenters
    clean = gaussian_noise(textured(shape=(120, 160)), 1.5)     # a camera's own noise: few neighbours equal
    a, b = on.segment(clean), off.segment(clean)
    assert a.denoised == '' and b.denoised == ''
    np.testing.assert_array_equal(a.labels, b.labels)
    noisy = gaussian_noise(clean, 25.0)
    a, b = on.segment(noisy), off.segment(noisy)
    assert a.denoised == 'blur' and b.denoised == ''
    assert a.trust.statistics.noise_sigma == b.trust.statistics.noise_sigma
    # the thumbnail measured for denoising and handed on gives the trust check the statistics it makes itself
    assert str(on.segment(clean).trust.statistics) == str(off.segment(clean).trust.statistics)
    image_statistics = ('noise_sigma', 'sharpness', 'laplacian_var', 'contrast', 'brightness', 'overexposed_share',
                        'underexposed_share', 'repeated_share')
    for name in image_statistics:       # the noisy frame's labels differ (denoised), its image statistics not
        assert getattr(a.trust.statistics, name) == getattr(b.trust.statistics, name)
    speckled = salt_and_pepper(clean, 0.05)
    cleaned, unfiltered = on.segment(speckled), off.segment(speckled)
    assert cleaned.denoised == 'median'
    # the median alone restored it: the checks judge the frame without its impulses
    assert cleaned.trust.statistics.noise_sigma < unfiltered.trust.statistics.noise_sigma / 3
    both = salt_and_pepper(gaussian_noise(clean, 25.0), 0.05)
    a_both, b_both = on.segment(both), off.segment(both)
    assert a_both.denoised == 'median+blur'
    # noise the blur only lessens stays for the trust check's noise reason
    assert a_both.trust.statistics.noise_sigma == b_both.trust.statistics.noise_sigma
    import cv2
    soft = cv2.GaussianBlur(clean, (0, 0), 3.0)
    sharpened, unsharpened = on.segment(soft), off.segment(soft)
    assert sharpened.denoised == 'sharpen'
    assert sharpened.trust.statistics.sharpness == unsharpened.trust.statistics.sharpness    # judged as it came
    # a soft frame with noise is blurred, never sharpened
    assert on.segment(gaussian_noise(soft, 25.0)).denoised == 'blur'
    blocky = pixelated(clean)
    smoothed, unsmoothed = on.segment(blocky), off.segment(blocky)
    assert smoothed.denoised == 'deblock'
    assert smoothed.trust.statistics.repeated_share == unsmoothed.trust.statistics.repeated_share    # as it came
    flat = low_contrast(clean, 0.05)          # under the trust check's min_contrast
    stretched, unfiltered = on.segment(flat), off.segment(flat)
    assert stretched.denoised == 'stretch'
    # the checks see the contrast the stretch restored (the trust check's flat reason), not the flat frame
    assert stretched.trust.statistics.contrast > 5 * unfiltered.trust.statistics.contrast
    assert 'flat' in unfiltered.trust.reasons and 'flat' not in stretched.trust.reasons
    # noise in a flat frame is stretched with it, and then blurred
    assert on.segment(gaussian_noise(low_contrast(clean, 0.1), 2.5)).denoised == 'stretch+blur'
    # the node's path (infer, then finish) says the same
    inferred = on.infer_cameras([noisy, clean])
    assert inferred.denoised == ['blur', '']
    assert [r.denoised for r in on.finish_cameras(inferred, [None, None], [None, None])] == ['blur', '']

"""The frame-level trust check: each statistic on hand-made images and label maps, and what a degraded frame does."""

import math
import os
from dataclasses import fields, replace

import cv2
import numpy as np
import pytest

from seg_perception.safety_config import SafetyConfig, TrustConfig
from seg_perception.taxonomy import CAMVID_CLASSES
from seg_perception.trust import (REASONS, TrustMonitor, TrustStatistics, assess_frame, changed_share, coarse_labels,
                                  dominant_share, exposure, grey_thumbnail, laplacian_variance, low_margin_share,
                                  judge, mean_abs_difference, median_of, noise_sigma, repeated_share, share_below,
                                  sharpness)

H, W = 120, 160
SKY, BUILDING, ROAD, TREE, CAR = (CAMVID_CLASSES.index(n) for n in ('sky', 'building', 'road', 'tree', 'car'))


def street_image(seed=0):
    """A 120 x 160 RGB frame of sharp-edged blocks (structure, no pixel noise), mid-grey on average."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(40, 216, (12, 16, 3), dtype=np.uint8)
    return cv2.resize(blocks, (W, H), interpolation=cv2.INTER_NEAREST)


def camera_frame(image=None, sigma=0.8, seed=0):
    """``image`` (default: street_image()) as a camera gives it: with a little seeded sensor noise, rounded."""
    image = street_image() if image is None else image
    noise = np.random.default_rng(seed).normal(0.0, sigma, image.shape)
    return np.clip(np.round(image + noise), 0, 255).astype(np.uint8)


def street_labels():
    """Sky above, buildings at the sides, road in the lower half with a car on it."""
    labels = np.full((H, W), SKY, np.uint8)
    labels[40:] = BUILDING
    labels[60:, 20:140] = ROAD
    labels[70:90, 60:90] = CAR
    return labels


def confident():
    return np.full((H, W), 0.9, np.float32)


def noisy(rgb, sigma, seed=1):
    return np.clip(rgb + np.random.default_rng(seed).normal(0.0, sigma, rgb.shape), 0, 255).astype(np.uint8)


# --- image statistics ----------------------------------------------------------------------------------------

def test_noise_sigma_measures_added_gaussian_noise_and_ignores_edges():
    grey = cv2.cvtColor(street_image(), cv2.COLOR_RGB2GRAY).astype(np.float32)
    assert noise_sigma(grey) < 0.5                       # sharp edges everywhere, no noise
    rng = np.random.default_rng(0)
    for sigma in (2.0, 5.0, 20.0):
        estimate = noise_sigma(grey + rng.normal(0.0, sigma, grey.shape).astype(np.float32))
        assert estimate == pytest.approx(sigma, rel=0.15)


def test_median_of_is_numpys_median_for_odd_even_and_tied_counts():
    rng = np.random.default_rng(3)
    for values in (rng.normal(size=7), rng.normal(size=8), np.zeros(10), np.repeat([0.0, 1.0, 2.0], [5, 1, 4]),
                   np.float32([[3, 1], [2, 9]]), np.array([4.0])):
        assert median_of(values) == pytest.approx(float(np.median(values)))
    with pytest.raises(ValueError):
        median_of(np.array([]))


def test_noise_sigma_is_zero_on_a_plane():
    rows, cols = np.mgrid[0:H, 0:W].astype(np.float32)
    assert noise_sigma(0.5 * rows + 0.3 * cols + 10.0) == pytest.approx(0.0, abs=1e-4)


def test_laplacian_variance_falls_when_the_image_is_blurred():
    grey = cv2.cvtColor(street_image(), cv2.COLOR_RGB2GRAY).astype(np.float32)
    sharp = laplacian_variance(grey)
    blurred = [laplacian_variance(cv2.GaussianBlur(grey, (0, 0), s)) for s in (1.0, 2.0, 4.0)]
    assert sharp > blurred[0] > blurred[1] > blurred[2]
    assert laplacian_variance(np.full((H, W), 77.0, np.float32)) == 0.0


def test_sharpness_ignores_darkness_and_contrast_but_not_blur():
    grey = cv2.cvtColor(street_image(), cv2.COLOR_RGB2GRAY).astype(np.float32)
    assert sharpness(0.2 * grey + 3.0) == pytest.approx(sharpness(grey), rel=1e-4)
    assert sharpness(cv2.GaussianBlur(grey, (0, 0), 2.0)) < 0.3 * sharpness(grey)
    assert sharpness(np.full((H, W), 77.0, np.float32)) == 0.0


def test_exposure_counts_pixels_near_black_and_near_white():
    grey = np.full((10, 10), 128, np.uint8)
    grey[:3] = 255
    grey[9] = 2
    assert exposure(grey, under_level=8, over_level=250) == (0.1, 0.3)


def test_thumbnail_keeps_the_aspect_ratio_and_refuses_what_is_not_rgb():
    assert grey_thumbnail(np.zeros((360, 480, 3), np.uint8), 160).shape == (120, 160)
    assert grey_thumbnail(np.zeros((50, 60, 3), np.uint8), 160).shape == (50, 60)      # never enlarged
    assert grey_thumbnail(np.zeros((50, 60), np.float32), 30).shape == (25, 30)         # grey in, too
    with pytest.raises(ValueError, match='H x W x 3 uint8'):
        grey_thumbnail(np.zeros((50, 60, 4), np.uint8), 160)


def test_repeated_share_is_high_for_a_frame_scaled_up_by_repeating_pixels():
    frame = camera_frame()
    assert repeated_share(frame) < 0.5                     # sensor noise: few neighbours of one grey level
    small = cv2.resize(frame, (W // 4, H // 4), interpolation=cv2.INTER_AREA)
    blocky = cv2.resize(small, (W, H), interpolation=cv2.INTER_NEAREST)
    assert repeated_share(blocky) >= 0.75                  # 4 x 4 blocks: 3 of 4 pairs each way repeat
    assert repeated_share(np.full((H, W), 7, np.uint8)) == 1.0
    assert repeated_share(np.zeros((1, 1), np.uint8)) == 1.0
    with pytest.raises(ValueError, match='uint8 RGB'):
        repeated_share(np.zeros((H, W, 4), np.uint8))


def test_mean_abs_difference_of_different_shapes_is_infinite():
    a = np.zeros((4, 4), np.float32)
    assert mean_abs_difference(a, a + 2.0) == 2.0
    assert mean_abs_difference(a, np.zeros((4, 5), np.float32)) == math.inf


# --- prediction statistics -----------------------------------------------------------------------------------

def test_low_margin_share_counts_pixels_under_the_margin():
    margin = np.full((10, 10), 0.9, np.float32)
    margin[:4] = 0.1
    assert low_margin_share(margin, 0.3) == 0.4


def test_share_below_looks_at_the_lowest_rows_only():
    labels = np.full((10, 10), TREE, np.uint8)
    labels[:5] = ROAD                                   # road in the upper half does not count
    assert share_below(labels, [ROAD], 0.3) == 0.0
    labels[8:, :5] = ROAD
    assert share_below(labels, [ROAD], 0.3) == pytest.approx(10 / 30)


def test_dominant_share_is_the_largest_class_share():
    labels = street_labels()
    assert dominant_share(labels) == pytest.approx(np.count_nonzero(labels == ROAD) / labels.size)
    assert dominant_share(np.full((5, 5), TREE, np.uint8)) == 1.0


def test_coarse_labels_take_each_cells_majority():
    labels = np.zeros((32, 48), np.uint8)
    labels[:, 16:] = 3
    labels[:10, 32:] = 5                                # 10 of 16 rows of the top-right cell
    assert coarse_labels(labels, 16).tolist() == [[0, 3, 5], [0, 3, 3]]
    assert coarse_labels(labels[:, :47], 16).shape == (2, 2)     # partial cells dropped


def test_a_moving_boundary_changes_few_cells_a_relabelled_frame_most():
    labels = street_labels()
    moved = np.roll(labels, 3, axis=1)                  # the camera pans by 3 pixels
    scrambled = np.random.default_rng(0).integers(0, 11, labels.shape).astype(np.uint8)
    before = coarse_labels(labels, 16)
    assert changed_share(before, coarse_labels(moved, 16)) < 0.1
    assert changed_share(before, coarse_labels(scrambled, 16)) > 0.7
    assert math.isnan(changed_share(None, before))


# --- the verdict ---------------------------------------------------------------------------------------------

def test_a_clean_street_is_trusted():
    trust = assess_frame(camera_frame(), street_labels(), confident(), CAMVID_CLASSES)
    assert not trust.degraded and trust.reasons == ()
    s = trust.statistics
    assert s.noise_sigma < 1.0 and s.road_or_vehicle_below_share > 0.5 and s.low_margin_share == 0.0
    assert math.isnan(s.unstable_share) and math.isnan(s.frame_difference)      # no previous frame


def test_noise_degrades_the_frame():
    trust = assess_frame(noisy(camera_frame(), 30.0), street_labels(), confident(), CAMVID_CLASSES)
    assert trust.degraded and 'noise' in trust.reasons
    assert trust.statistics.noise_sigma > TrustConfig().max_noise_sigma


def test_blur_degrades_the_frame():
    # the lens blurs, the sensor adds its noise
    blurred = camera_frame(cv2.GaussianBlur(street_image(), (0, 0), 3.0), sigma=0.5)
    on = TrustConfig(min_sharpness=0.02)
    trust = assess_frame(blurred, street_labels(), confident(), CAMVID_CLASSES, on)
    assert trust.reasons == ('blur',) and trust.statistics.sharpness < on.min_sharpness
    # off by default (the default model's blurred failures raise low_margin first); still measured
    assert assess_frame(blurred, street_labels(), confident(), CAMVID_CLASSES).reasons == ()


def test_a_frame_scaled_up_from_a_low_resolution_is_blocky():
    small = cv2.resize(camera_frame(), (W // 5, H // 5), interpolation=cv2.INTER_AREA)
    blocky = cv2.resize(small, (W, H), interpolation=cv2.INTER_NEAREST)
    on = TrustConfig(max_repeated_share=0.75)
    trust = assess_frame(blocky, street_labels(), confident(), CAMVID_CLASSES, on)
    assert trust.reasons == ('blocky',) and trust.statistics.repeated_share > on.max_repeated_share
    assert not assess_frame(camera_frame(), street_labels(), confident(), CAMVID_CLASSES, on).degraded
    assert assess_frame(blocky, street_labels(), confident(), CAMVID_CLASSES).reasons == ('blocky',)    # default
    off = TrustConfig(max_repeated_share=1.0)
    assert not assess_frame(blocky, street_labels(), confident(), CAMVID_CLASSES, off).degraded


@pytest.mark.parametrize('value, reasons', [(0, ('black', 'underexposed')), (128, ('flat',)),
                                            (255, ('flat', 'overexposed'))])
def test_a_uniform_frame_is_black_or_flat(value, reasons):
    trust = assess_frame(np.full((H, W, 3), value, np.uint8), street_labels(), confident(), CAMVID_CLASSES)
    assert trust.reasons == reasons                    # and never blur: a uniform frame has no edges to blur


def test_a_burnt_out_frame_is_overexposed_and_a_dark_one_underexposed():
    image = camera_frame()
    burnt = image.copy()
    burnt[:80] = 255
    dark = (image // 40).astype(np.uint8)              # grey levels 1..5, but still with structure
    assert 'overexposed' in assess_frame(burnt, street_labels(), confident(), CAMVID_CLASSES).reasons
    assert 'underexposed' in assess_frame(dark, street_labels(), confident(), CAMVID_CLASSES).reasons


def test_the_same_frame_repeated_becomes_frozen_after_frozen_frames():
    config = TrustConfig(frozen_frames=3)
    monitor = TrustMonitor()
    image = camera_frame()
    verdicts = [monitor.assess(image, street_labels(), confident(), CAMVID_CLASSES, config) for _ in range(5)]
    assert [v.statistics.frozen_count for v in verdicts] == [0, 1, 2, 3, 4]
    assert [('frozen' in v.reasons) for v in verdicts] == [False, False, False, True, True]
    fresh = monitor.assess(camera_frame(street_image(seed=5)), street_labels(), confident(), CAMVID_CLASSES, config)
    assert not fresh.degraded and fresh.statistics.frozen_count == 0


def test_a_single_frame_is_never_frozen_nor_unstable():
    config = TrustConfig(frozen_frames=1)
    trust = assess_frame(camera_frame(), street_labels(), confident(), CAMVID_CLASSES, config)
    assert not trust.degraded


def test_a_network_that_hesitates_everywhere_is_low_margin():
    margin = confident()
    margin[:, :100] = 0.05
    trust = assess_frame(camera_frame(), street_labels(), margin, CAMVID_CLASSES)
    assert trust.reasons == ('low_margin',) and trust.statistics.low_margin_share == pytest.approx(100 / 160)


def test_trees_everywhere_have_no_road_below_and_one_class():
    labels = np.full((H, W), TREE, np.uint8)
    trust = assess_frame(camera_frame(), labels, confident(), CAMVID_CLASSES)
    assert trust.reasons == ('no_road_or_vehicle_below', 'one_class')


def test_a_car_filling_the_lower_image_is_road_or_vehicle_below():
    labels = street_labels()
    labels[60:] = CAR                                   # stopped behind a lorry: no road visible, still plausible
    assert not assess_frame(camera_frame(), labels, confident(), CAMVID_CLASSES).degraded


def test_labels_that_change_everywhere_between_frames_are_unstable():
    monitor = TrustMonitor()
    rng = np.random.default_rng(0)
    first = monitor.assess(None, street_labels(), None, CAMVID_CLASSES)
    panned = monitor.assess(None, np.roll(street_labels(), 3, axis=1), None, CAMVID_CLASSES)
    scrambled = street_labels()
    scrambled[:60] = rng.integers(0, 11, (60, W))      # coarse blocks of random classes above the road
    scrambled[:60] = cv2.resize(rng.integers(0, 11, (4, 10)).astype(np.uint8), (W, 60),
                                interpolation=cv2.INTER_NEAREST)
    unstable = monitor.assess(None, scrambled, None, CAMVID_CLASSES, TrustConfig(max_unstable_share=0.2))
    assert not first.degraded and not panned.degraded and panned.statistics.unstable_share < 0.1
    assert 'unstable' in unstable.reasons


def test_a_model_without_road_or_vehicle_classes_is_not_judged_by_them():
    classes = ('sky', 'tree', 'building')
    trust = assess_frame(camera_frame(), np.full((H, W), 1, np.uint8), confident(), classes)
    assert trust.reasons == ('one_class',) and math.isnan(trust.statistics.road_or_vehicle_below_share)


def test_without_an_image_or_margin_only_the_label_statistics_run():
    trust = assess_frame(None, street_labels(), None, CAMVID_CLASSES)
    assert not trust.degraded
    assert math.isnan(trust.statistics.noise_sigma) and math.isnan(trust.statistics.low_margin_share)


def test_a_disabled_check_trusts_everything():
    trust = assess_frame(np.zeros((H, W, 3), np.uint8), np.full((H, W), TREE, np.uint8), confident(),
                         CAMVID_CLASSES, TrustConfig(enabled=False))
    assert not trust.degraded and trust.reasons == ()


def test_every_reason_is_listed():
    assert len(set(REASONS)) == len(REASONS) == 13


# --- parameters ----------------------------------------------------------------------------------------------

def test_every_threshold_is_a_safety_setting_with_a_description_and_a_range_holding_its_default():
    declared = {name: (default, description, bounds)
                for name, default, description, bounds in SafetyConfig.declarations()}
    for f in fields(TrustConfig):
        default, description, bounds = declared[f'trust_{f.name}']
        assert description and default == f.default
        if isinstance(default, bool):
            continue
        low, high = bounds
        assert low <= default <= high and type(low) is type(default), f.name
    config = SafetyConfig.from_flat({'trust_max_noise_sigma': 9.0, 'trust_enabled': False})
    assert config.trust == TrustConfig(max_noise_sigma=9.0, enabled=False)
    assert SafetyConfig.from_flat(config.flat()) == config


# --- in the segmenter ----------------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def segmenter(tiny_model):
    from seg_perception import Segmenter

    return Segmenter.from_model(tiny_model, threads=1)


def test_a_degraded_frame_has_no_drivable_area_an_unknown_free_space_and_its_labels(segmenter):
    labels = street_labels()
    clean = segmenter.postprocess(labels, confident(), (H, W), {}, rgb_net=camera_frame())
    assert not clean.degraded and clean.drivable.any() and (clean.freespace >= -1).all()
    black = segmenter.postprocess(labels, confident(), (H, W), {}, rgb_net=np.zeros((H, W, 3), np.uint8))
    assert black.degraded and black.degraded_reasons == ('black', 'underexposed')
    assert black.drivable.shape == (H, W) and not black.drivable.any()
    assert black.freespace.shape == (W,) and np.isnan(black.freespace).all()
    np.testing.assert_array_equal(black.labels, labels)
    assert black.trust.statistics.contrast == 0.0


def test_each_camera_keeps_its_own_trust_monitor(segmenter):
    stuck, moving = TrustMonitor(), TrustMonitor()
    frame = camera_frame()
    config = segmenter.safety
    try:
        from dataclasses import replace

        segmenter.safety = replace(config, trust=replace(config.trust, frozen_frames=2))
        for i in range(3):
            moved = camera_frame(street_image(seed=10 + i))
            stuck_out, moving_out = segmenter.segment_cameras([frame, moved], [None, None], [None, None],
                                                              [stuck, moving])
        assert 'frozen' in stuck_out.degraded_reasons and 'frozen' not in moving_out.degraded_reasons
        # without a monitor each frame stands alone: a repeated frame is never frozen
        alone = [segmenter.segment(frame) for _ in range(3)]
        assert all('frozen' not in out.degraded_reasons for out in alone)
    finally:
        segmenter.safety = config


# --- the shipped model on the bundled sample sequence --------------------------------------------------------

@pytest.fixture(scope='module')
def sample_frames():
    from seg_perception.data.make_sample import SAMPLE_DIR

    paths = [os.path.join(SAMPLE_DIR, f'frame_{i:03d}.jpg') for i in range(12)]
    return [cv2.imread(p)[:, :, ::-1].copy() for p in paths]


def test_the_shipped_model_trusts_the_sample_sequence_frame_after_frame(sample_frames):
    from seg_perception import Segmenter

    segmenter, monitor = Segmenter.default(threads=2), TrustMonitor()
    results = [segmenter.segment(rgb, trust=monitor) for rgb in sample_frames]
    assert [r.degraded_reasons for r in results] == [()] * len(results)
    assert all(r.trust.statistics.unstable_share < TrustConfig().max_unstable_share for r in results[1:])


def test_the_shipped_model_is_degraded_on_a_noisy_sample_frame(sample_frames):
    from seg_perception import Segmenter

    undenoised = replace(SafetyConfig(), denoise=replace(SafetyConfig().denoise, enabled=False))
    seg = Segmenter.default(threads=2, safety=undenoised)
    clean = seg.segment(sample_frames[0])
    out = seg.segment(noisy(sample_frames[0], 0.18 * 255))     # severity 3's sigma
    assert not clean.degraded and out.degraded and not out.drivable.any()
    assert set(out.degraded_reasons) & {'noise', 'low_margin'}       # the image's noise, or the network unsure
    # denoised before the network (the default), the same frame is read closer to the clean frame's labels
    denoised = Segmenter.default(threads=2).segment(noisy(sample_frames[0], 0.18 * 255))
    assert denoised.denoised == 'blur' and out.denoised == ''
    assert np.mean(denoised.labels == clean.labels) > np.mean(out.labels == clean.labels)
    # and under severity 5's noise it is still degraded
    worst = Segmenter.default(threads=2).segment(noisy(sample_frames[0], 0.38 * 255))
    assert worst.denoised and worst.degraded and not worst.drivable.any()


def test_judge_applies_each_threshold_and_a_statistic_not_measured_gives_no_reason():
    fine = TrustStatistics(noise_sigma=1.0, sharpness=0.4, contrast=60.0, brightness=120.0, overexposed_share=0.0,
                           underexposed_share=0.0, repeated_share=0.2, low_margin_share=0.02,
                           road_or_vehicle_below_share=0.9, one_class_share=0.4, unstable_share=0.1)
    assert judge(replace(fine, sharpness=0.0), TrustConfig(min_sharpness=0.0)) == ()    # 0: blur off
    config = TrustConfig(min_sharpness=0.05, blurred_below=0.2)
    assert judge(fine, config) == () and judge(TrustStatistics(), config) == ()      # all NaN: nothing measured
    cases = {'noise': {'noise_sigma': config.max_noise_sigma + 0.1},
             'blur': {'sharpness': config.min_sharpness / 2},
             'low_margin': {'low_margin_share': config.max_low_margin_share + 0.01},
             'blurred_unsure': {'sharpness': config.blurred_below / 2, 'low_margin_share':
                                config.blurred_max_low_margin_share + 0.01},
             'no_road_or_vehicle_below': {'road_or_vehicle_below_share': 0.0},
             'one_class': {'one_class_share': 0.99}, 'unstable': {'unstable_share': 0.9},
             'frozen': {'frozen_count': config.frozen_frames}}
    for reason, change in cases.items():
        assert judge(replace(fine, **change), config) == (reason,), reason
    # blurred_unsure needs both: a sharp frame is held to the share of sharp frames, a sure blurred one passes
    assert judge(replace(fine, low_margin_share=config.blurred_max_low_margin_share + 0.01), config) == ()
    assert judge(replace(fine, sharpness=config.blurred_below / 2), config) == ()
    # what the monitor decides is what judge decides on the statistics it reports
    trust = assess_frame(camera_frame(sigma=30.0), street_labels(), confident(), CAMVID_CLASSES)
    assert trust.reasons == judge(trust.statistics) and 'noise' in trust.reasons


def test_the_tuner_reads_trust_figures_rows_and_finds_thresholds_within_the_goals(tmp_path):
    import csv
    import subprocess
    import sys

    names = [f.name for f in fields(TrustStatistics)]
    path = tmp_path / 'rows.csv'
    with open(path, 'w', newline='') as f:
        out = csv.writer(f)
        out.writerow(['frame', 'corruption', 'severity', 'accuracy', 'alarm', 'degraded', 'reasons', 'checks_ms']
                     + names)
        good = dict(noise_sigma=1.0, sharpness=0.4, contrast=60.0, brightness=120.0, overexposed_share=0.0,
                    underexposed_share=0.0, repeated_share=0.2, low_margin_share=0.02,
                    road_or_vehicle_below_share=0.9, one_class_share=0.4, frozen_count=0)
        rows = [('clean', 0.95, good), ('gaussian_noise', 0.9, dict(good, noise_sigma=4.0)),      # noisy, right
                ('gaussian_noise', 0.5, dict(good, noise_sigma=12.0, low_margin_share=0.2))]     # noisy, wrong
        for i, (corruption, accuracy, stats) in enumerate(rows):
            out.writerow([f'f{i}', corruption, 1, accuracy, False, False, ''] + [1.0]
                         + [stats.get(n, 'nan') for n in names])
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    run = subprocess.run([sys.executable, os.path.join(root, 'benchmarks', 'tune_trust.py'), str(path)],
                         capture_output=True, text=True, cwd=root, timeout=120)
    assert run.returncode == 0, run.stderr
    chosen = run.stdout.split('chosen:')[1]
    # the noisy frame that stays right is not stopped for, the wrong one is caught
    assert 'trust_max_noise_sigma=2.5 ' not in chosen and '| 0.0% (0/2) | 0.0% | 0.0% (0/1) |' in run.stdout


def test_the_tuner_chooses_the_margin_of_unsure_pixels_from_the_shares_at_each_margin(tmp_path):
    import csv
    import subprocess
    import sys

    names = [f.name for f in fields(TrustStatistics)]
    levels = ['low_margin_share@0.3', 'low_margin_share@0.5']
    path = tmp_path / 'rows.csv'
    good = dict(noise_sigma=1.0, sharpness=0.4, contrast=60.0, brightness=120.0, overexposed_share=0.0,
                underexposed_share=0.0, repeated_share=0.2, road_or_vehicle_below_share=0.9, one_class_share=0.4,
                frozen_count=0)
    # at margin 0.3 the right and the wrong corrupted frame have the same share of unsure pixels; at 0.5 they differ
    rows = [('clean', 0.95, 0.02, 0.03), ('motion_blur', 0.9, 0.2, 0.3), ('motion_blur', 0.5, 0.2, 0.6)]
    with open(path, 'w', newline='') as f:
        out = csv.writer(f)
        out.writerow(['frame', 'corruption', 'severity', 'accuracy', 'alarm', 'degraded', 'reasons', 'checks_ms']
                     + names + levels)
        for i, (corruption, accuracy, at3, at5) in enumerate(rows):
            stats = dict(good, low_margin_share=at3)
            out.writerow([f'f{i}', corruption, 1, accuracy, False, False, '', 1.0]
                         + [stats.get(n, 'nan') for n in names] + [at3, at5])
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    run = subprocess.run([sys.executable, os.path.join(root, 'benchmarks', 'tune_trust.py'), str(path), '--top', '3'],
                         capture_output=True, text=True, cwd=root, timeout=120)
    assert run.returncode == 0, run.stderr
    chosen = run.stdout.split('chosen:')[1]
    assert 'trust_low_margin_max=0.5 ' in chosen and '| 0.0% (0/2) | 0.0% | 0.0% (0/1) |' in run.stdout
    assert run.stdout.split('|---|')[-1].splitlines()[1].startswith('| 0.5 |')     # the best row first


def test_the_tuner_holds_each_csvs_clean_frames_to_the_false_degraded_goal(tmp_path):
    import csv
    import subprocess
    import sys

    names = [f.name for f in fields(TrustStatistics)]
    good = dict(noise_sigma=1.0, sharpness=0.4, contrast=60.0, brightness=120.0, overexposed_share=0.0,
                underexposed_share=0.0, repeated_share=0.2, low_margin_share=0.02,
                road_or_vehicle_below_share=0.9, one_class_share=0.4, frozen_count=0)

    def write(path, rows):
        with open(path, 'w', newline='') as f:
            out = csv.writer(f)
            out.writerow(['frame', 'corruption', 'severity', 'accuracy', 'alarm', 'degraded', 'reasons', 'checks_ms']
                         + names)
            for i, (corruption, accuracy, stats) in enumerate(rows):
                out.writerow([f'f{i}', corruption, 1, accuracy, False, False, '', 1.0]
                             + [stats.get(n, 'nan') for n in names])

    # 99 quiet clean frames in one set; the other set's one clean frame is as noisy as the only failing frame,
    # so catching that frame stops 1% of all clean frames but every clean frame of the second set
    write(tmp_path / 'a.csv', [('clean', 0.95, good)] * 99)
    write(tmp_path / 'b.csv', [('clean', 0.95, dict(good, noise_sigma=7.0)),
                               ('gaussian_noise', 0.5, dict(good, noise_sigma=7.0))])
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    tuner = [sys.executable, os.path.join(root, 'benchmarks', 'tune_trust.py'), str(tmp_path / 'a.csv'),
             str(tmp_path / 'b.csv')]
    run = subprocess.run(tuner, capture_output=True, text=True, cwd=root, timeout=120)
    assert run.returncode == 1 and 'no combination meets the goals' in run.stderr, run.stdout + run.stderr
    run = subprocess.run(tuner + ['--false-degraded', '1'], capture_output=True, text=True, cwd=root, timeout=120)
    assert run.returncode == 0, run.stderr
    assert '| 0.0% (0/1) | 100.0% |' in run.stdout       # silent 0 of 1, the second set's clean frame stopped


def test_trust_figures_takes_the_hazard_free_frames_of_the_scenario_seeds():
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'benchmarks'))
    from trust_figures import scenario_frames

    from seg_perception.sim.scenarios import scenario

    data = scenario_frames(range(3, 5))
    assert data.names == [f'seed_{s}_{scenario(s, False).case}' for s in (3, 4)]
    frame = scenario(4, False).render()
    assert np.array_equal(data.images[1], frame.rgb) and np.array_equal(data.labels[1], frame.labels)
    assert not scenario(4, False).hazardous

"""Tests of the renderer's variations (camera, vehicle colours, dusk and night, wet roads) and varied scene sets."""

import hashlib
from functools import lru_cache

import numpy as np
import pytest

from seg_perception.datasets import rendered_scenes
from seg_perception.sim.scenes import CAR, ROAD, SKY, VARIED_SIZES, render_frame, varied_options

# Frames rendered before the variations existed: the sha256 (first 16 hex digits) of their labels, hazard and ego
# masks, exact, and the mean of each colour channel of their rgb to within 0.25 grey levels (the rgb's last bits
# follow the NumPy and OpenCV builds' floating point, so a hash of them would test the libraries). The scenario
# figures and the bundled frames depend on every seed rendering as it did.
DEFAULT_FRAMES = (
    (0, 360, 480, {}, '3e3c9058c5e2a6d3', (115.3, 112.9, 111.5)),
    (3, 120, 160, {'t': 0.4}, 'e5c7bf273499a36d', (113.2, 108.4, 106.1)),
    (5, 120, 160, {'hazard': 'white_trailer'}, '26df4b907cfe59fb', (127.3, 130.6, 135.4)),
    (7, 120, 160, {'hazard': 'sky_trailer', 'overcast': True, 'pitch_deg': 1.5}, 'f1a0410cc7b1b338',
     (104.8, 102.2, 98.5)),
    (2, 120, 160, {'hazard': 'truck_side', 'hazard_distance': 25.0}, '9ccf32ab227a6de0', (115.6, 117.9, 118.6)),
    (8, 120, 160, {'structure': 'tunnel_exit'}, '8ed521bb20040256', (43.5, 43.9, 43.9)),
    (9, 120, 160, {'structure': 'overpass', 'low_sun': True}, '7123a3c1b6e99b8e', (148.7, 151.8, 150.9)),
    (11, 120, 160, {'hood': 0.2, 'pitch_deg': -1.0}, '556cfa17a372c342', (129.2, 133.8, 135.8)),
)
# the same for rendered_scenes(3, seed=1, height=90, width=120, hazards=...): the labels' digest, each image's mean
DEFAULT_SETS = ((False, '4eb554f76a612e56', (120.0, 126.2, 111.3)), (True, 'cb3e434f5c69ab39', (126.2, 113.6, 123.1)))


def _digest(*arrays):
    d = hashlib.sha256()
    for a in arrays:
        d.update(np.ascontiguousarray(a).tobytes())
    return d.hexdigest()[:16]


@pytest.mark.parametrize('seed, height, width, options, masks, means', DEFAULT_FRAMES)
def test_default_frames_render_as_before(seed, height, width, options, masks, means):
    frame = render_frame(seed, height, width, **options)
    assert _digest(frame.labels, frame.hazard, frame.ego) == masks
    assert frame.rgb.reshape(-1, 3).mean(axis=0) == pytest.approx(means, abs=0.25)


@pytest.mark.parametrize('hazards, masks, means', DEFAULT_SETS)
def test_default_scene_sets_render_as_before(hazards, masks, means):
    data = rendered_scenes(3, seed=1, height=90, width=120, hazards=hazards)
    assert _digest(*data.labels) == masks
    assert [float(image.mean()) for image in data.images] == pytest.approx(means, abs=0.25)
    assert data.names == ['scene_1_0', 'scene_1_1', 'scene_1_2']


# ------------------------------ the camera
NO_PARKING = 2          # a street without parked cars: its road edges are in view along the whole road


def test_default_camera_is_a_car_camera_with_focal_length_0_9_of_the_width():
    camera = render_frame(0, 120, 160).camera
    assert camera.fx == camera.fy == pytest.approx(0.9 * 160) and camera.height_m == 1.5


@pytest.mark.parametrize('height_m, hfov_deg', [(2.6, None), (1.1, 50.0), (1.5, 100.0)])
def test_a_taller_camera_or_a_wider_view_moves_the_road_as_the_camera_model_says(height_m, hfov_deg):
    from seg_perception.sim.scenes.layout import _street

    shape = (120, 160)
    base = render_frame(NO_PARKING, *shape)
    frame = render_frame(NO_PARKING, *shape, camera_height_m=height_m, hfov_deg=hfov_deg)
    camera = frame.camera
    assert camera.height_m == height_m
    if hfov_deg is not None:
        assert camera.fx == pytest.approx(shape[1] / 2 / np.tan(np.radians(hfov_deg) / 2))
    street = _street(NO_PARKING)
    for depth in (5.0, 7.0, 9.0):
        # the row where the road is `depth` metres ahead, by each frame's own camera model
        row = int(round(camera.cy + camera.fy * camera.height_m / depth))
        base_row = int(round(base.camera.cy + base.camera.fy * base.camera.height_m / depth))
        if row >= shape[0]:
            continue
        assert frame.labels[row, int(round(camera.cx))] == ROAD
        # the road's edges at that depth are where the model projects the kerbs
        cols = np.flatnonzero(frame.labels[row] == ROAD)
        left = camera.cx + camera.fx * street.road_left / depth
        right = camera.cx + camera.fx * street.road_right / depth
        assert cols[0] == pytest.approx(max(left, 0), abs=2) and cols[-1] == pytest.approx(min(right, 159), abs=2)
        if hfov_deg is None:
            # same focal length: the row at the same depth holds the same labels, seen from another height
            assert abs(row - base_row) > 3
            assert (frame.labels[row] == base.labels[base_row]).mean() > 0.95


@pytest.mark.parametrize('hfov_deg, pitch_deg', [(50.0, 4.0), (100.0, 4.0), (80.0, -2.0)])
def test_the_road_vanishes_at_the_horizon_row_of_the_camera_model(hfov_deg, pitch_deg):
    from seg_perception.camera import estimate_horizon

    frame = render_frame(NO_PARKING, 180, 240, camera_height_m=2.2, hfov_deg=hfov_deg, pitch_deg=pitch_deg)
    expected = frame.camera.horizon_row((180, 240))
    assert estimate_horizon(frame.labels == ROAD) == pytest.approx(expected, abs=1.5)
    assert abs(expected - render_frame(NO_PARKING, 180, 240).camera.horizon_row((180, 240))) > 3


@pytest.mark.parametrize('option, value', [('camera_height_m', 9.0), ('hfov_deg', 10.0), ('white_vehicles', 1.5),
                                           ('light', 'noon'), ('wet', 2.0)])
def test_out_of_range_options_are_refused(option, value):
    with pytest.raises(ValueError, match=option):
        render_frame(0, 60, 80, **{option: value})


def test_no_low_sun_at_night():
    with pytest.raises(ValueError, match='night'):
        render_frame(0, 60, 80, light='night', low_sun=True)


# ------------------------------ vehicles, light and water
LIT = 13                # a street with moving vehicles facing the camera near and far
SMALL = (180, 240)


@lru_cache(maxsize=None)
def _lit(**options):
    return render_frame(LIT, *SMALL, **options)


def test_white_vehicles_are_bright_where_the_vehicles_are_and_nothing_else_changes():
    day, white = _lit(), _lit(white_vehicles=1.0)
    car = day.labels == CAR
    assert np.array_equal(day.labels, white.labels)
    assert white.rgb[car].mean() > 120 and white.rgb[car].mean() > day.rgb[car].mean() + 40
    assert np.array_equal(day.rgb[:20], white.rgb[:20])         # the sky is the same
    some = render_frame(LIT, *SMALL, white_vehicles=0.5)
    assert day.rgb[car].mean() < some.rgb[car].mean() < white.rgb[car].mean()


@pytest.mark.parametrize('light', ['dusk', 'night'])
def test_dusk_and_night_are_darker_than_day_with_the_same_labels(light):
    day, dark = _lit(), _lit(light=light)
    assert np.array_equal(day.labels, dark.labels) and np.array_equal(day.hazard, dark.hazard)
    assert dark.camera == day.camera
    assert dark.rgb.mean() < (0.65 if light == 'dusk' else 0.35) * day.rgb.mean()
    sky = day.labels == SKY
    assert dark.rgb[sky].mean() < 0.8 * day.rgb[sky].mean()


def test_vehicle_lights_glow_on_the_vehicles_at_night():
    night = _lit(light='night')
    car = night.labels == CAR
    glow = car & (night.rgb.max(axis=2) > 220)
    assert glow.sum() >= 10                                      # head and tail lights burn out ...
    assert glow.sum() < 0.1 * car.sum()                          # ... on small parts of the vehicles
    assert np.median(night.rgb[car].mean(axis=1)) < 40           # the bodies are dark
    rgb = night.rgb.astype(int)
    red = car & (rgb[..., 0] > 150) & (rgb[..., 0] > 2 * rgb[..., 1])
    white = car & (night.rgb.min(axis=2) > 220)
    assert red.any() and white.any()                             # tail lights and headlights


def test_a_wet_road_is_darker_mirrors_the_lights_and_stays_road():
    dry, wet, puddles = _lit(), _lit(wet=0.8), _lit(wet=0.8, puddles=True)
    road = dry.labels == ROAD
    near = road.copy()
    near[:int(SMALL[0] * 0.75)] = False
    for frame in (wet, puddles):
        assert np.array_equal(frame.labels, dry.labels)
    assert wet.rgb[near].mean() < 0.85 * dry.rgb[near].mean()
    assert not np.array_equal(wet.rgb[road], puddles.rgb[road])
    assert np.array_equal(dry.rgb[:10], wet.rgb[:10])            # above the road nothing changes
    night_dry, night_wet = _lit(light='night'), _lit(light='night', wet=0.8)
    bright = (night_dry.rgb.max(axis=2) > 120) & road, (night_wet.rgb.max(axis=2) > 120) & road
    assert bright[1].sum() > 20 and bright[1].sum() > 5 * max(bright[0].sum(), 1)   # the lights' reflections


# ------------------------------ varied scene sets
def test_varied_options_draw_the_mix_from_the_seed():
    drawn = [varied_options(70000 + i) for i in range(400)]
    assert drawn[:3] == [varied_options(70000 + i) for i in range(3)]

    def share(test):
        return np.mean([bool(test(o)) for o in drawn])

    assert share(lambda o: 'hood' in o) == pytest.approx(0.25, abs=0.07)
    assert share(lambda o: 'white_vehicles' in o) == pytest.approx(1 / 3, abs=0.07)
    assert share(lambda o: o.get('light', 'day') != 'day') == pytest.approx(0.25, abs=0.07)
    assert share(lambda o: 'wet' in o) == pytest.approx(0.2, abs=0.06)
    for size in VARIED_SIZES:
        assert share(lambda o: (o['height'], o['width']) == size) == pytest.approx(1 / 3, abs=0.08)
    for key, lo, hi in (('camera_height_m', 1.1, 2.6), ('hfov_deg', 50, 110), ('pitch_deg', -2, 6)):
        values = [o[key] for o in drawn]
        assert lo <= min(values) < lo + 0.1 * (hi - lo) and hi - 0.1 * (hi - lo) < max(values) <= hi
    assert all(0.15 <= o['hood'] <= 0.35 for o in drawn if 'hood' in o)


def test_varied_scene_sets_mix_sizes_are_named_for_what_they_drew_and_are_deterministic():
    data = rendered_scenes(8, seed=0, height=48, varied=True)
    assert len({image.shape for image in data.images}) >= 2
    scale = 48 / 360
    sizes = {(round(h * scale), round(w * scale)) for h, w in VARIED_SIZES}
    assert {image.shape[:2] for image in data.images} <= sizes
    for i, (image, labels, name) in enumerate(zip(data.images, data.labels, data.names)):
        options = varied_options(70000 + i, scale)
        assert image.shape[:2] == labels.shape == (options['height'], options['width'])
        tags = name.split('_')[3:]
        assert name.startswith(f'varied_0_{i}')
        assert ('hood' in tags) == ('hood' in options) and ('wet' in tags) == ('wet' in options)
        assert ('white' in tags) == ('white_vehicles' in options)
        assert (options.get('light', 'day') in tags) == (options.get('light', 'day') != 'day')
    again = rendered_scenes(8, seed=0, height=48, varied=True)
    assert again.names == data.names
    assert all(np.array_equal(a, b) for a, b in zip(data.images + data.labels, again.images + again.labels))
    other = rendered_scenes(2, seed=1, height=48, varied=True)
    assert not np.array_equal(other.images[0], data.images[0]) or other.images[0].shape != data.images[0].shape


def test_hazard_frames_alternate_with_varied_ones():
    data = rendered_scenes(4, seed=0, height=48, width=64, hazards=True, varied=True)
    assert [name.split('_')[0] for name in data.names] == ['scene', 'varied', 'scene', 'varied']
    hazards = rendered_scenes(4, seed=0, height=48, width=64, hazards=True)
    assert np.array_equal(data.images[2], hazards.images[2])   # the hazard frames are the hazard set's own


def test_the_training_crops_take_frames_of_mixed_sizes():
    from seg_perception.training.augmentation import augment

    data = rendered_scenes(6, seed=0, height=48, varied=True)
    rng = np.random.default_rng(0)
    pairs = [augment(image, labels, rng, (40, 56), 11, (0.75, 1.5))
             for image, labels in zip(data.images, data.labels)]
    assert np.stack([p[0] for p in pairs]).shape == (6, 40, 56, 3)
    assert np.stack([p[1] for p in pairs]).shape == (6, 40, 56)


def test_train_takes_rendered_varied():
    import argparse

    from seg_perception.training.options import add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert parser.parse_args(['--rendered', '10', '--rendered-varied']).rendered_varied
    assert not parser.parse_args(['--rendered', '10']).rendered_varied

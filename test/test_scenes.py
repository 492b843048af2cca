"""Tests of the procedural street-scene renderer (seg_perception.sim.scenes)."""

import cv2
import numpy as np
import pytest

from seg_perception.sim import scenes
from seg_perception.sim.scenes import CAR, ROAD, SKY, render_scene, render_sequence

H, W = 360, 480


def _small(rgb):
    return cv2.resize(rgb, (60, 45), interpolation=cv2.INTER_AREA).astype(np.float32)


def test_deterministic_for_a_seed():
    a_rgb, a_lab = render_scene(5, t=0.3)
    render_scene(6)                              # other work in between must not matter
    b_rgb, b_lab = render_scene(5, t=0.3)
    assert np.array_equal(a_rgb, b_rgb)
    assert np.array_equal(a_lab, b_lab)
    g1, g2 = render_scene(np.random.default_rng(1)), render_scene(np.random.default_rng(1))
    assert np.array_equal(g1[0], g2[0]) and np.array_equal(g1[1], g2[1])
    assert not np.array_equal(a_rgb, render_scene(7, t=0.3)[0])


def test_shapes_and_dtypes():
    rgb, lab = render_scene(0)
    assert rgb.shape == (H, W, 3) and rgb.dtype == np.uint8
    assert lab.shape == (H, W) and lab.dtype == np.uint8
    rgb, lab = render_scene(0, height=120, width=200)
    assert rgb.shape == (120, 200, 3) and lab.shape == (120, 200)


@pytest.mark.parametrize('seed', [0, 3, 11])
def test_road_at_bottom_sky_at_top(seed):
    _, lab = render_scene(seed)
    assert (lab[-10:, W // 2 - 10:W // 2 + 10] == ROAD).all()
    assert (lab[:H // 10, W // 3:2 * W // 3] == SKY).mean() > 0.5
    assert (lab[H // 2:] == SKY).sum() == 0


@pytest.mark.parametrize('seed', [1, 2])
def test_label_ids_in_range(seed):
    _, lab = render_scene(seed, t=1.0)
    assert lab.max() <= 11
    assert len(scenes.CLASS_NAMES) == 12
    assert len(np.unique(lab)) >= 5          # a street scene, not a blank frame


def test_sequence_is_temporally_coherent():
    frames = list(render_sequence(7, 3))
    assert len(frames) == 3
    consecutive = [np.abs(_small(frames[i][0]) - _small(frames[i + 1][0])).mean() for i in range(2)]
    other = [np.abs(_small(frames[0][0]) - _small(render_scene(s)[0])).mean() for s in (8, 9)]
    assert min(consecutive) > 0.5                # the camera moves: consecutive frames differ ...
    assert max(consecutive) < 0.5 * min(other)   # ... but much less than frames of different streets
    lab_change = (frames[0][1] != frames[1][1]).mean()
    assert 0 < lab_change < 0.5 * (frames[0][1] != render_scene(8)[1]).mean()


def test_sequence_matches_render_scene():
    frames = list(render_sequence(4, 2, height=90, width=120, fps=5))
    rgb, lab = render_scene(4, height=90, width=120, t=0.2)
    assert np.array_equal(frames[1][0], rgb) and np.array_equal(frames[1][1], lab)


def test_white_trailer_band_crosses_the_road():
    _, lab = render_scene(0, hazard='white_trailer')
    _, ref = render_scene(0, hazard='white_trailer', hazard_distance=-100.0)   # same street, no trailer
    trailer = (lab == CAR) & (ref != CAR)
    rows = np.flatnonzero(trailer.any(1))
    assert rows.size > 5
    body = int(np.argmax(trailer.sum(1)))       # the widest row of the trailer
    cols = np.flatnonzero(trailer[body])
    ground = rows.max()                         # the wheels stand on the road at the trailer's distance
    road = np.flatnonzero(ref[ground] == ROAD)
    assert road.size > 10
    assert cols.min() <= road.min() and road.max() <= cols.max()
    assert (lab[body, road.min():road.max() + 1] == CAR).all()


def test_sky_brightness_option():
    dark_rgb, dark_lab = render_scene(3, sky_brightness=0.0)
    bright_rgb, bright_lab = render_scene(3, sky_brightness=1.0)
    assert np.array_equal(dark_lab, bright_lab)
    assert bright_rgb[bright_lab == SKY].mean() > dark_rgb[dark_lab == SKY].mean() + 20


def test_unknown_hazard_rejected():
    with pytest.raises(ValueError):
        render_scene(0, hazard='meteor')

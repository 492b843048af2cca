"""The horizon without camera_info: its cues, their fusion with an uncertainty and a stream's median."""

import cv2
import numpy as np
import pytest

from seg_perception.ambiguity import check_frame
from seg_perception.camera import (CameraModel, HorizonEstimate, HorizonTracker, find_horizon, fuse_horizon,
                                   horizon_cues, lane_vanishing_row, sky_vanishing_row)
from seg_perception.drivable import connected_road
from seg_perception.safety_config import CameraParams, SafetyConfig, for_horizon
from seg_perception.taxonomy import CAMVID_CLASSES, class_ids

H, W = 120, 160
PARAMS = CameraParams(horizon_sky_cue=True)       # every cue on (the sky is off by default)


def road_trapezoid(horizon=78.0, left=-1.2, right=1.0, h=H, w=W):
    """A straight road whose edges meet at (horizon, w/2): column = w/2 + slope * (row - horizon)."""
    rows = np.arange(h)[:, None] - horizon
    cols = np.arange(w)[None, :] - w / 2
    return (rows > 0) & (cols >= left * rows) & (cols <= right * rows)


def sky_above_roofs(apex_row=78.0, slope=0.5, top_row=20.0, h=H, w=W):
    """Sky above two roof lines falling towards (apex_row, w/2), cut ``top_row`` above the apex (the street's end).

    The buildings at the street's end make a flat stretch of the boundary in the middle.
    """
    cols = np.arange(w)[None, :]
    roof = apex_row - slope * np.abs(cols - w / 2)
    roof = np.minimum(roof, apex_row - top_row)
    return np.arange(h)[:, None] < roof


def painted_road(horizon=78.0, h=H, w=W):
    """(grey image, road mask): a dark road with two bright lane markings running to (horizon, w/2)."""
    road = road_trapezoid(horizon)
    grey = np.full((h, w), 140, np.uint8)
    grey[road] = 60
    for end in (30, 130):
        cv2.line(grey, (int(w / 2 + (end - w / 2) * 0.2), int(horizon + 0.2 * (h - horizon))), (end, h - 1), 230, 2)
    return grey, road


# --- the cues ------------------------------------------------------------------------------------------------

def test_road_edges_meeting_at_a_known_row_give_that_row():
    cues = dict(horizon_cues((H, W), PARAMS, road=road_trapezoid(78.0)))
    assert cues['road'] == pytest.approx(78.0, abs=1.5)


def test_lane_markings_meeting_at_a_known_row_give_that_row():
    grey, road = painted_road(78.0)
    assert lane_vanishing_row(grey, road) == pytest.approx(78.0, abs=3.0)
    # a grey image at another size than the labels: the row comes back in the labels' rows
    cues = dict(horizon_cues((2 * H, 2 * W), PARAMS, road=np.kron(road, np.ones((2, 2), bool)), grey=grey))
    assert cues['lane'] == pytest.approx(156.0, abs=6.0)


def test_no_lane_row_without_markings_leaning_both_ways():
    grey, road = painted_road(78.0)
    grey[grey == 140] = 60                              # the kerbs unseen: the road as dark as the pavement
    assert lane_vanishing_row(grey, road) is not None
    grey[:, W // 2:] = 60                               # and the right marking painted over
    assert lane_vanishing_row(grey, road) is None
    assert lane_vanishing_row(np.full((H, W), 60, np.uint8), road) is None


def test_sky_boundary_roof_lines_meeting_at_a_known_row_give_that_row():
    assert sky_vanishing_row(sky_above_roofs(78.0)) == pytest.approx(78.0, abs=2.0)


def test_a_flat_sky_boundary_or_no_sky_at_the_top_gives_no_row():
    flat = np.zeros((H, W), bool)
    flat[:40] = True
    assert sky_vanishing_row(flat) is None
    below = sky_above_roofs(78.0)
    below[:5] = False                                   # sky that does not reach the top (a sky-blue trailer)
    assert sky_vanishing_row(below) is None


def test_switched_off_cues_give_nothing():
    grey, road = painted_road(78.0)
    sky = sky_above_roofs(78.0)
    assert {c for c, _ in horizon_cues((H, W), PARAMS, road, sky, grey)} == {'road', 'lane', 'sky'}
    off = CameraParams(horizon_lane_cue=False, horizon_sky_cue=False)
    assert {c for c, _ in horizon_cues((H, W), off, road, sky, grey)} == {'road'}
    assert horizon_cues((H, W), CameraParams(horizon_estimate=False), road, sky, grey) == ()


# --- fusing them ----------------------------------------------------------------------------------------------

def test_agreeing_cues_move_the_horizon_far_from_the_default_with_a_small_uncertainty():
    # 78 of 120 rows: 0.65 of the height, 0.15 below the default; a single cue may move it 0.08 at most
    agreed = fuse_horizon((H, W), PARAMS, [('road', 78.0), ('lane', 80.0)])
    assert agreed.source == 'estimate' and agreed.row == pytest.approx(79.0)
    assert agreed.uncertainty_px == pytest.approx(PARAMS.horizon_agreed_uncertainty_frac * H)
    alone = fuse_horizon((H, W), PARAMS, [('road', 78.0)])
    assert alone.source == 'default' and alone.row == pytest.approx(PARAMS.horizon_default_frac * H)


def test_the_uncertainty_grows_when_the_cues_disagree():
    agreed = fuse_horizon((H, W), PARAMS, [('road', 62.0), ('lane', 63.0)])
    dissent = fuse_horizon((H, W), PARAMS, [('road', 62.0), ('lane', 63.0), ('sky', 50.0)])
    apart = fuse_horizon((H, W), PARAMS, [('road', 55.0), ('lane', 70.0)])
    assert dissent.row == pytest.approx(agreed.row)             # the agreeing two hold
    assert dissent.uncertainty_px > agreed.uncertainty_px
    assert apart.source == 'estimate' and apart.uncertainty_px == pytest.approx(15.0)   # their spread
    assert apart.uncertainty_px > dissent.uncertainty_px > agreed.uncertainty_px


def test_no_cue_gives_the_default_with_its_large_uncertainty():
    for cues in ([], [('road', 5.0)], [('road', float('nan'))]):
        found = fuse_horizon((H, W), PARAMS, cues)
        assert found.source == 'default'
        assert found.row == PARAMS.horizon_default_frac * H
        assert found.uncertainty_px == pytest.approx(PARAMS.horizon_uncertainty_frac * H)
    found = find_horizon((H, W), PARAMS)
    assert (found.source, found.row) == ('default', PARAMS.horizon_default_frac * H)


def test_a_street_dipping_below_the_middle_is_found_from_its_road_lanes_and_roofs():
    grey, road = painted_road(78.0)
    found = find_horizon((H, W), PARAMS, road=road, sky=sky_above_roofs(78.0), grey=grey)
    assert found.source == 'estimate' and found.row == pytest.approx(78.0, abs=2.0)
    assert {c for c, _ in found.cues} == {'road', 'lane', 'sky'}
    assert found.uncertainty_px < PARAMS.horizon_uncertainty_frac * H


def test_the_camera_model_wins_over_every_cue():
    grey, road = painted_road(78.0)
    camera = CameraModel(fx=100, fy=100, cx=80, cy=55, width_px=W, height_px=H)
    found = find_horizon((H, W), PARAMS, camera, road, sky_above_roofs(78.0), grey)
    assert (found.row, found.source, found.uncertainty_px) == (55.0, 'camera', 0.0)


# --- over a stream ----------------------------------------------------------------------------------------------

def frame(*rows):
    return fuse_horizon((H, W), PARAMS, [('road', r) for r in rows])


def test_a_stream_takes_the_median_of_its_frames_cues():
    tracker = HorizonTracker()
    rng = np.random.default_rng(0)
    out = None
    for i in range(PARAMS.horizon_window):
        row = 78.0 + rng.normal(0.0, 1.0)
        if i % 4 == 3:
            row = 68.0                                  # now and then a parked car bends the kerb
        out = tracker.update((H, W), PARAMS, frame(row))
        if i < PARAMS.horizon_min_frames - 1 and row > 70.0:
            assert out.source == 'default'              # one cue 0.15 below the default: not alone
    assert out.source == 'stream' and out.row == pytest.approx(78.0, abs=1.5)
    assert out.uncertainty_px == pytest.approx(PARAMS.horizon_agreed_uncertainty_frac * H)


def test_a_stream_whose_frames_scatter_is_more_uncertain():
    tracker = HorizonTracker()
    for row in (60.0, 72.0, 64.0, 76.0, 68.0, 70.0, 58.0):
        out = tracker.update((H, W), PARAMS, frame(row))
    assert out.source == 'stream' and out.row == pytest.approx(68.0)
    assert out.uncertainty_px > PARAMS.horizon_agreed_uncertainty_frac * H


def test_the_window_forgets_old_frames_and_frames_without_cues_count_in_it():
    params = CameraParams(horizon_window=6, horizon_min_frames=3)
    tracker = HorizonTracker()
    for _ in range(6):
        tracker.update((H, W), params, frame(78.0))
    for _ in range(3):
        out = tracker.update((H, W), params, frame(64.0))
    assert out.source == 'stream' and out.row == pytest.approx(71.0)        # three of each
    for _ in range(4):
        out = tracker.update((H, W), params, frame())                       # no cue: two 64s left
    assert out.source == 'default'


def test_a_new_image_size_or_a_camera_model_starts_the_stream_over():
    tracker = HorizonTracker()
    for _ in range(PARAMS.horizon_min_frames):
        assert tracker.update((H, W), PARAMS, frame(78.0)).source in ('default', 'stream')
    assert tracker.update((H, W), PARAMS, frame()).source == 'stream'
    assert tracker.update((2 * H, 2 * W), PARAMS, frame()).source == 'default'
    for _ in range(PARAMS.horizon_min_frames):
        tracker.update((H, W), PARAMS, frame(78.0))
    camera = HorizonEstimate(55.0, 0.0, 'camera')
    assert tracker.update((H, W), PARAMS, camera) is camera
    assert tracker.update((H, W), PARAMS, frame()).source == 'default'


# --- into the checks' margins ------------------------------------------------------------------------------------

def test_the_estimates_uncertainty_widens_the_checks_margins():
    config = SafetyConfig()
    certain = for_horizon(config, 'estimate', H, 3.0)
    assert certain.sky_below_horizon.margin_px == config.sky_below_horizon.margin_px + 3.0
    assert certain.temporal.margin_px == config.temporal.margin_px + 3.0
    wide = for_horizon(config, 'stream', H, 30.0)
    assert wide.low_confidence.margin_px == config.low_confidence.margin_px + 30.0
    assert not wide.floating_vehicle.enabled
    assert for_horizon(config, 'default', H).sky_on_road.margin_px == pytest.approx(
        config.sky_on_road.margin_px + config.camera.horizon_uncertainty_frac * H)


# --- the checks with an estimated horizon --------------------------------------------------------------------------

SKY, BUILDING, ROAD = 0, 1, 3
SMALL = SafetyConfig.from_flat({'drivable_min_alarm_px': 20})      # the alarm threshold is for 480 x 360 frames


def dipping_street(trailer=False):
    """(labels, grey): a street whose road falls away below the middle, its far end's sky down to row 75.

    The road's edges and markings run to row 78; with ``trailer``, a white trailer labelled sky stands across
    the road at rows 84..99.
    """
    grey, road = painted_road(78.0)
    labels = np.full((H, W), BUILDING, np.uint8)
    labels[:76, 60:100] = SKY
    labels[road] = ROAD
    if trailer:
        labels[84:100, 20:140] = SKY
        grey[84:100, 20:140] = 230
    return labels, grey


def checked(labels, found):
    """The checks' verdict on ``labels`` with the horizon ``found``."""
    candidate = connected_road(labels, CAMVID_CLASSES, SMALL)
    return check_frame(labels, np.ones((H, W), np.float32), class_ids(CAMVID_CLASSES), SMALL, found.row, found.source,
                       candidate, horizon_uncertainty_px=found.uncertainty_px)


def test_sky_at_the_end_of_a_dipping_street_is_no_alarm_with_the_estimated_horizon():
    labels, grey = dipping_street()
    road = connected_road(labels, CAMVID_CLASSES, SMALL)
    found = find_horizon((H, W), SMALL.camera, road=road, grey=grey)
    assert found.source == 'estimate' and found.row == pytest.approx(78.0, abs=2.0)
    assert not checked(labels, found).alarm
    assert checked(labels, fuse_horizon((H, W), SMALL.camera, [])).alarm     # the default: the false stop


def test_a_trailer_labelled_sky_still_raises_the_alarm_with_the_estimated_horizon():
    labels, grey = dipping_street(trailer=True)
    road = connected_road(labels, CAMVID_CLASSES, SMALL)
    found = find_horizon((H, W), SMALL.camera, road=road, grey=grey)
    assert found.source == 'estimate' and found.row == pytest.approx(78.0, abs=3.0)
    verdict = checked(labels, found)
    assert verdict.alarm and 'sky_below_horizon' in {r.check for r in verdict.reasons}

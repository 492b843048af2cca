"""The horizon from a camera model or the road, and the free-space boundary, on hand-made inputs."""

import math

import numpy as np
import pytest

from seg_perception.camera import CameraModel, estimate_horizon, resolve_horizon
from seg_perception.drivable import fill_holes, freespace_boundary, path_corridor, safe_drivable
from seg_perception.safety_config import CameraParams


def road_trapezoid(h=120, w=160, horizon=50.0, left=-0.8, right=0.6):
    """A straight road whose edges meet at (horizon, w/2): column = w/2 + slope * (row - horizon)."""
    rows = np.arange(h)[:, None] - horizon
    cols = np.arange(w)[None, :] - w / 2
    return (rows > 0) & (cols >= left * rows) & (cols <= right * rows)


# --- the horizon ---------------------------------------------------------------------------------------------

def test_horizon_of_a_level_camera_is_the_principal_row():
    camera = CameraModel(fx=400, fy=400, cx=320, cy=240, width_px=640, height_px=480)
    assert camera.horizon_row((480, 640)) == 240


def test_pitching_down_raises_the_horizon_by_f_tan_pitch():
    camera = CameraModel(fx=400, fy=400, cx=320, cy=240, width_px=640, height_px=480, pitch_rad=math.radians(3))
    assert camera.horizon_row((480, 640)) == pytest.approx(240 - 400 * math.tan(math.radians(3)))
    # and an image at half the calibrated resolution has it at half the row
    assert camera.horizon_row((240, 320)) == pytest.approx(camera.horizon_row((480, 640)) / 2)


def test_camera_info_without_a_focal_length_is_refused():
    with pytest.raises(ValueError, match='fx and fy must be positive'):
        CameraModel.from_camera_info([0.0] * 9, 640, 480)


def test_ground_points_of_a_level_camera_lie_on_the_road():
    camera = CameraModel(fx=400, fy=400, cx=79.5, cy=60, width_px=160, height_px=120, height_m=1.5)
    rows = np.full(160, 100.0)
    rows[:10] = 60.0                                     # the horizon row: no ground there
    points = camera.ground_points(rows, (120, 160))
    assert np.isnan(points[:10]).all()
    np.testing.assert_allclose(points[10:, 1], 1.5, rtol=1e-5)     # y: down by the camera's height
    np.testing.assert_allclose(points[10:, 2], 400 * 1.5 / 40, rtol=1e-5)   # z = f h / (v - horizon)


def test_horizon_estimated_from_the_road_edges_vanishing_point():
    road = road_trapezoid(horizon=50.0)
    road[90:, 40:60] = False                             # a car hiding part of the road
    assert estimate_horizon(road) == pytest.approx(50.0, abs=1.5)


def test_no_estimate_without_converging_road_edges():
    road = np.zeros((120, 160), bool)
    road[60:, 40:120] = True                             # edges parallel: no vanishing point
    assert estimate_horizon(road) is None
    assert estimate_horizon(np.zeros((120, 160), bool)) is None


def test_horizon_source_falls_back_from_camera_to_estimate_to_default():
    params = CameraParams(horizon_default_frac=0.45, horizon_max_shift_frac=0.1)
    camera = CameraModel(fx=100, fy=100, cx=80, cy=55, width_px=160, height_px=120)
    road = road_trapezoid(horizon=50.0)
    assert resolve_horizon((120, 160), params, camera, road) == (55.0, 'camera')
    row, source = resolve_horizon((120, 160), params, None, road)
    assert source == 'estimate' and row == pytest.approx(50.0, abs=1.5)
    assert resolve_horizon((120, 160), params, None, road_trapezoid(horizon=20.0)) == (54.0, 'default')
    assert resolve_horizon((120, 160), CameraParams(horizon_estimate=False), None, road)[1] == 'default'


# --- the free-space boundary and the drivable area --------------------------------------------------------------

def test_freespace_is_the_first_non_drivable_row_from_the_bottom():
    mask = np.zeros((10, 4), bool)
    mask[4:, 0] = True                # free up to row 4: boundary at row 3
    mask[:, 1] = True                 # all free: -1
    mask[6:, 2] = True
    mask[2:4, 2] = True               # free again above an obstacle: not reachable, not counted
    # column 3: nothing free, boundary at the bottom row
    assert freespace_boundary(mask).tolist() == [3, -1, 5, 9]


def test_safe_drivable_keeps_a_margin_from_ambiguity_and_stays_below_the_boundary():
    candidate = np.zeros((40, 40), bool)
    candidate[10:, 5:35] = True
    ambiguous = np.zeros((40, 40), bool)
    ambiguous[20:22, 18:22] = True
    drivable, freespace = safe_drivable(candidate, ambiguous, safety_margin_px=2)
    assert drivable.dtype == np.uint8 and set(np.unique(drivable)) == {0, 255}
    assert not drivable[18:24, 18:22].any() and not drivable[20:22, 16:24].any()   # 2 pixels around it
    assert freespace[20] == 23 and (drivable[24:, 20] == 255).all() and not drivable[:24, 20].any()
    assert (drivable[10:, 5] == 255).all() and freespace[5] == 9


def test_holes_without_obstacles_are_filled_up_to_the_size_limit():
    mask = np.ones((30, 30), bool)
    mask[5:7, 5:7] = False            # 4 pixels
    mask[15:20, 15:20] = False        # 25 pixels
    mask[10:12, 22:24] = False        # 4 pixels holding an obstacle
    obstacle = np.zeros((30, 30), bool)
    obstacle[10, 22] = True
    filled = fill_holes(mask, obstacle, max_hole_px=10)
    assert filled[5:7, 5:7].all() and not filled[15:20, 15:20].any() and not filled[10:12, 22:24].any()
    edge = np.ones((30, 30), bool)
    edge[0:3, 10:12] = False          # open to the border: not a hole
    assert not fill_holes(edge, np.zeros_like(edge), 100)[0:3, 10:12].any()


def test_path_corridor_widens_with_distance_below_the_horizon():
    corridor = path_corridor((100, 101), horizon_row=40.0, half_width_m=1.5, camera_height_m=1.5)
    assert not corridor[:41].any()
    widths = corridor.sum(axis=1)
    assert widths[50] == 21 and widths[90] == 101 and (np.diff(widths[41:]) >= 0).all()
    assert corridor[60, 50] and not corridor[60, 20]

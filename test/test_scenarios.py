"""The hazard renderer's ground truth, the scenario suite and its figures, and `seg-perception scenarios`."""

import numpy as np
import pytest

from seg_perception.ambiguity import assess
from seg_perception.camera import resolve_horizon
from seg_perception.cli import main
from seg_perception.drivable import connected_road
from seg_perception.safety_config import SafetyConfig
from seg_perception.sim import scenarios
from seg_perception.sim.scenes import BUILDING, CAR, ROAD, SKY, render_frame, render_scene
from seg_perception.taxonomy import CAMVID_CLASSES

HAZARDS = ('white_trailer', 'sky_trailer', 'truck_side')
# every finding on the path raises the alarm (the default leaves findings under 200 pixels silent)
SENSITIVE = SafetyConfig.from_flat({'drivable_min_alarm_px': 20})


def checked(frame, labels=None, config=SafetyConfig()):
    """The checks' verdict on a frame's labels (its ground truth unless given), with its camera model."""
    labels = frame.labels if labels is None else labels
    candidate = connected_road(labels, CAMVID_CLASSES, config)
    horizon, source = resolve_horizon(labels.shape, config.camera, frame.camera, candidate)
    return assess(labels, np.ones(labels.shape, np.float32), CAMVID_CLASSES, config, horizon, source, candidate)


@pytest.mark.parametrize('hazard', HAZARDS)
def test_hazard_frames_are_deterministic_by_seed_with_their_hazard_mask(hazard):
    a = render_frame(21, hazard=hazard, hazard_distance=25.0, pitch_deg=1.0)
    render_frame(22, hazard=hazard)
    b = render_frame(21, hazard=hazard, hazard_distance=25.0, pitch_deg=1.0)
    for x, y in ((a.rgb, b.rgb), (a.labels, b.labels), (a.hazard, b.hazard)):
        assert np.array_equal(x, y)
    assert a.hazard.dtype == bool and a.hazard.shape == a.labels.shape
    assert not np.array_equal(a.hazard, render_frame(23, hazard=hazard, hazard_distance=25.0).hazard)


@pytest.mark.parametrize('hazard', HAZARDS)
def test_hazard_mask_is_the_vehicle_and_the_road_seen_beneath_it(hazard):
    frame = render_frame(4, hazard=hazard, hazard_distance=20.0)
    assert (frame.labels[frame.hazard] != SKY).all()
    body = frame.hazard & (frame.labels == CAR)
    beneath = frame.hazard & (frame.labels == ROAD)
    assert body.sum() > 2000 and beneath.sum() > 300
    # the road beneath lies below the vehicle's lower edge, in the columns it spans
    assert np.flatnonzero(beneath.any(1)).min() > np.flatnonzero(body.any(1)).min()
    # and a plain frame of the same street has no hazard
    assert not render_frame(4).hazard.any()


def test_hazards_span_the_road_from_kerb_to_kerb():
    for hazard in HAZARDS:
        frame = render_frame(9, hazard=hazard, hazard_distance=30.0)
        horizon = int(frame.camera.horizon_row(frame.labels.shape))
        row = frame.labels[horizon + 3]                     # just below the horizon: the vehicle's lower part
        assert (row[200:280] != ROAD).all(), hazard


def test_sky_trailer_is_the_colour_of_the_sky():
    frame = render_frame(6, hazard='sky_trailer', hazard_distance=25.0)
    behind = render_frame(6, hazard='sky_trailer', hazard_distance=-100.0)     # the same street and sky
    body = frame.hazard & (frame.labels == CAR)
    horizon = int(frame.camera.horizon_row(frame.labels.shape))
    sky = (behind.labels == SKY) & (np.arange(360)[:, None] > horizon - 60)
    difference = np.abs(np.median(frame.rgb[body], 0).astype(int) - np.median(behind.rgb[sky], 0))
    assert difference.max() < 25


@pytest.mark.parametrize('structure', ['overpass', 'tunnel_exit'])
def test_structures_are_buildings_over_a_drivable_road(structure):
    frame = render_frame(12, structure=structure, structure_distance=25.0)
    changed = frame.labels != render_frame(12).labels
    assert changed.sum() > 2000 and (frame.labels[changed] == BUILDING).mean() > 0.7
    assert (frame.labels[-10:, 230:250] == ROAD).all()
    assert not frame.hazard.any()


def test_pitch_moves_the_horizon_and_the_camera_model_knows_it():
    level, pitched = render_frame(3), render_frame(3, pitch_deg=2.0)
    shift = level.camera.horizon_row((360, 480)) - pitched.camera.horizon_row((360, 480))
    assert shift == pytest.approx(0.9 * 480 * np.tan(np.radians(2.0)))
    top_road = [np.flatnonzero((f.labels == ROAD).any(1)).min() for f in (level, pitched)]
    assert top_road[0] - top_road[1] == pytest.approx(shift, abs=3)


def test_render_scene_keeps_its_outputs_for_the_original_options():
    rgb, labels = render_scene(5, t=0.3, hazard='white_trailer')
    frame = render_frame(5, t=0.3, hazard='white_trailer')
    assert np.array_equal(rgb, frame.rgb) and np.array_equal(labels, frame.labels)


def test_suite_is_deterministic_and_covers_every_case():
    suite = scenarios.scenario_suite(range(100, 124))
    assert suite == scenarios.scenario_suite(range(100, 124))
    assert {s.case for s in suite} == set(scenarios.HAZARD_CASES) | set(scenarios.CLEAR_CASES)
    assert sum(s.hazardous for s in suite) == 24
    assert all(10.0 <= dict(s.options)['hazard_distance'] <= 50.0 for s in suite if s.hazardous)


@pytest.mark.parametrize('seed', range(200, 208))
def test_ground_truth_never_shows_sky_below_the_horizon_nor_alarms_without_a_hazard(seed):
    for sc in (scenarios.scenario(seed, False), scenarios.scenario(seed, True)):
        frame = sc.render()
        horizon = frame.camera.horizon_row(frame.labels.shape)
        assert not (frame.labels[int(np.ceil(horizon + 1.5)):] == SKY).any(), sc
        if not sc.hazardous:
            verdict = checked(frame, config=SENSITIVE)
            assert not verdict.alarm, (sc, verdict.reasons)


@pytest.mark.parametrize('seed', range(400, 406))
def test_hazard_seen_right_still_floats_and_is_kept_out_of_the_drivable_area(seed):
    # a perfect segmentation: the vehicle is a vehicle, and the road under it is road; a flat-world free space
    # would run under it, the floating-vehicle check does not let it
    sc = scenarios.scenario(seed, True, distance_m=(10.0, 35.0))
    frame = sc.render()
    verdict = checked(frame, config=SENSITIVE)
    assert 'floating_vehicle' in {r.check for r in verdict.reasons}, sc
    excluded = 1 - np.count_nonzero((verdict.drivable > 0) & frame.hazard) / np.count_nonzero(frame.hazard)
    assert excluded >= scenarios.HANDLED_SHARE, sc


@pytest.mark.parametrize('seed', range(300, 306))
def test_hazard_labelled_sky_raises_the_alarm_and_is_kept_out_of_the_drivable_area(seed):
    sc = scenarios.scenario(seed, True, distance_m=(10.0, 35.0))
    frame = sc.render()
    fooled = frame.labels.copy()
    fooled[frame.hazard & (frame.labels == CAR)] = SKY     # the network calls the vehicle's side sky
    verdict = checked(frame, fooled, SENSITIVE)
    assert verdict.alarm, sc
    excluded = 1 - np.count_nonzero((verdict.drivable > 0) & frame.hazard) / np.count_nonzero(frame.hazard)
    assert excluded >= scenarios.HANDLED_SHARE, sc


def test_road_ahead_stops_at_the_first_obstacle_and_ignores_void():
    labels = np.full((20, 20), SKY, np.uint8)
    labels[8:] = ROAD
    labels[12:14, 8:12] = CAR
    labels[16, 3] = 11                                       # void inside the road
    ahead = scenarios.road_ahead(labels, CAMVID_CLASSES, ignore_index=11)
    assert ahead[14:, 8:12].all() and not ahead[:14, 8:12].any()
    assert ahead[8:16, 3].all() and not ahead[16, 3]


def test_summary_counts_handled_hazards_and_false_alarms():
    def result(hazardous, alarm, excluded, degraded=False):
        return scenarios.FrameResult('f', 'c', hazardous, alarm, (), excluded, 8, 10, 10, 1.0, 'camera', degraded)
    figures = scenarios.summarise([result(True, True, 0.99), result(True, False, 0.5, True),
                                   result(False, False, float('nan')), result(False, True, float('nan')),
                                   result(False, False, float('nan'), True), result(False, False, float('nan'))])
    assert figures['hazard_handled'] == 0.5 and figures['false_alarm'] == 0.25
    assert figures['degraded'] == pytest.approx(2 / 6) and figures['degraded_clear'] == 0.25
    assert figures['drivable_recall'] == 0.8 and figures['drivable_iou'] == pytest.approx(32 / 48)


def test_scenarios_command_prints_the_figures(tiny_model, tmp_path, capsys):
    out = tmp_path / 'figures.json'
    assert main(['scenarios', '--model', tiny_model, '--seeds', '7:9', '--json', str(out), '-q',
                 '--set', 'sky_on_road_margin_px=3.0']) == 0
    text = capsys.readouterr().out
    for words in ('hazard handled', 'false alarms, hazard-free rendered frames', 'checks p50, ms per frame',
                  'hazard-free rendered frames degraded', '| all | 4 |'):
        assert words in text
    assert '"sky_on_road_margin_px": 3.0' in out.read_text()


def test_scenarios_command_refuses_an_unknown_setting(tiny_model):
    with pytest.raises(SystemExit, match='unknown setting'):
        main(['scenarios', '--model', tiny_model, '--seeds', '0:1', '--set', 'sky_margin=1'])

"""The ambiguity checks and the safe drivable area, on hand-made CamVid label maps.

The scene in every test: a 60 x 80 image, horizon at row 24, sky above it, buildings at the sides and road
below, unless a test paints something else.
"""

import numpy as np
import pytest

from seg_perception.ambiguity import (TemporalFlipCheck, assess, check_frame, floating_vehicle, low_confidence,
                                      sky_below_horizon, sky_on_road, underride_shadow)
from seg_perception.drivable import connected_road
from seg_perception.safety_config import (FloatingVehicleParams, LowConfidenceParams, SafetyConfig,
                                          SkyBelowHorizonParams, SkyOnRoadParams, TemporalParams, for_horizon)
from seg_perception.taxonomy import CAMVID_CLASSES, class_ids

SKY, BUILDING, ROAD, SIDEWALK, CAR = 0, 1, 3, 4, 8
SKY_IDS, OBSTACLE_IDS = [SKY], [1, 2, 5, 6, 7, 8, 9, 10]
H, W, HORIZON = 60, 80, 24.0
# the default alarm threshold (pixels on the path) is meant for 480 x 360 frames; these maps are 80 x 60
SMALL = SafetyConfig.from_flat({'drivable_min_alarm_px': 20})


def street():
    """Sky above the horizon, buildings on both sides, road below."""
    labels = np.full((H, W), SKY, np.uint8)
    labels[:, :15] = BUILDING
    labels[:, -15:] = BUILDING
    labels[int(HORIZON):, 15:-15] = ROAD
    return labels


def trailer_as_sky(labels, top=14, bottom=34):
    """A trailer across the road, rows top..bottom, mislabelled as sky (the white trailer)."""
    labels = labels.copy()
    labels[top:bottom, 10:70] = SKY
    return labels


def check_all(labels, margin=None, config=SMALL, temporal=None):
    """Run assess() on a label map as the Segmenter would, with the horizon known."""
    margin = np.ones(labels.shape, np.float32) if margin is None else margin
    candidate = connected_road(labels, CAMVID_CLASSES, config)
    return assess(labels, margin, CAMVID_CLASSES, config, HORIZON, 'camera', candidate, temporal)


# --- check 1: sky below the horizon --------------------------------------------------------------------------

def test_sky_below_horizon_fires_on_a_trailer_labelled_sky():
    finding = sky_below_horizon(trailer_as_sky(street()), SKY_IDS, HORIZON, SkyBelowHorizonParams(margin_px=2))
    assert finding.fired and finding.strength >= 1.0
    rows = np.flatnonzero(finding.mask.any(axis=1))
    assert rows.min() == 24 and rows.max() == 33          # the trailer from the horizon to its lower edge


def test_sky_below_horizon_is_silent_on_a_plain_street():
    finding = sky_below_horizon(street(), SKY_IDS, HORIZON)
    assert not finding.fired and not finding.mask.any()


def test_sky_just_below_the_horizon_within_the_margin_is_allowed():
    labels = street()
    labels[24:28, 30:50] = SKY                              # a crest: sky down to 4 rows below the horizon
    assert not sky_below_horizon(labels, SKY_IDS, HORIZON, SkyBelowHorizonParams(margin_px=5)).fired


def test_sky_below_horizon_ignores_specks_and_small_areas():
    labels = street()
    labels[40, 20] = labels[45, 60] = labels[50, 33] = SKY
    finding = sky_below_horizon(labels, SKY_IDS, HORIZON, SkyBelowHorizonParams(min_blob_px=4, min_area_px=3))
    assert not finding.mask.any() and not finding.fired
    labels[40:43, 20:23] = SKY                              # 9 pixels: a blob, but under min_area_px
    params = SkyBelowHorizonParams(min_blob_px=4, min_area_px=20)
    assert not sky_below_horizon(labels, SKY_IDS, HORIZON, params).fired


# --- check 2: sky resting on the road ------------------------------------------------------------------------

def test_sky_on_road_fires_when_sky_rests_on_the_drivable_region():
    labels = trailer_as_sky(street(), top=10, bottom=27)    # lower edge only 3 rows below the horizon
    road = connected_road(labels, CAMVID_CLASSES, SafetyConfig())
    finding = sky_on_road(labels, road, SKY_IDS, HORIZON, SkyOnRoadParams(margin_px=2, min_contact_px=10))
    assert finding.fired
    assert finding.mask.any(axis=0)[15:65].all()            # flagged over the whole road width
    # check 1 cannot see it: the sky is within its margin
    assert not sky_below_horizon(labels, SKY_IDS, HORIZON, SkyBelowHorizonParams(margin_px=6)).fired


def test_sky_on_road_tolerates_a_bumper_bar_between_sky_and_road():
    labels = trailer_as_sky(street(), top=10, bottom=30)
    labels[30:32, 10:70] = CAR                              # the trailer's bumper bar, labelled car
    road = connected_road(labels, CAMVID_CLASSES, SafetyConfig())
    assert sky_on_road(labels, road, SKY_IDS, HORIZON, SkyOnRoadParams(max_gap_px=3)).fired
    assert not sky_on_road(labels, road, SKY_IDS, HORIZON, SkyOnRoadParams(max_gap_px=1)).fired


def test_sky_meeting_the_road_at_the_horizon_is_not_on_the_road():
    labels = street()                                       # an open road: sky meets road at the horizon
    road = connected_road(labels, CAMVID_CLASSES, SafetyConfig())
    assert not sky_on_road(labels, road, SKY_IDS, HORIZON, SkyOnRoadParams(margin_px=2)).fired


# --- check 3: low confidence ---------------------------------------------------------------------------------

def test_low_confidence_fires_where_the_network_hesitates_between_sky_and_an_obstacle():
    labels = street()
    labels[26:36, 20:60] = CAR
    labels[26:30, 20:60] = SKY                              # half of the trailer called sky
    margin = np.ones((H, W), np.float32)
    margin[26:36, 20:60] = 0.1
    finding = low_confidence(labels, margin, SKY_IDS, OBSTACLE_IDS, HORIZON, LowConfidenceParams(near_px=3))
    assert finding.fired
    assert finding.mask[27:33, 22:58].all()                 # the sky part and the car part near it (from margin)
    assert not finding.mask[35, 22:58].any()                # car pixels far from any sky are not sky-or-car


def test_low_confidence_is_silent_when_the_network_is_sure():
    labels = street()
    labels[26:36, 20:60] = CAR
    labels[26:30, 20:60] = SKY
    margin = np.full((H, W), 0.9, np.float32)
    assert not low_confidence(labels, margin, SKY_IDS, OBSTACLE_IDS, HORIZON).fired


def test_low_confidence_between_road_and_sidewalk_is_not_sky_ambiguity():
    labels = street()
    labels[40:55, 20:40] = SIDEWALK
    margin = np.full((H, W), 0.05, np.float32)              # unsure everywhere, but never about sky
    assert not low_confidence(labels, margin, SKY_IDS, OBSTACLE_IDS, HORIZON).fired


def test_low_confidence_uses_the_runner_up_class_when_known():
    labels = street()
    labels[26:40, 20:60] = CAR
    margin = np.full((H, W), 0.05, np.float32)
    runner_up = np.full((H, W), ROAD, np.uint8)
    assert not low_confidence(labels, margin, SKY_IDS, OBSTACLE_IDS, HORIZON, runner_up=runner_up).fired
    runner_up[26:40, 20:60] = SKY                            # car, but almost sky
    assert low_confidence(labels, margin, SKY_IDS, OBSTACLE_IDS, HORIZON, runner_up=runner_up).fired


# --- check 4: temporal ---------------------------------------------------------------------------------------

def test_temporal_check_fires_on_a_region_flipping_between_sky_and_obstacle():
    check = TemporalFlipCheck(TemporalParams(window=4, min_flips=2, cell_px=2, min_area_px=40))
    findings = []
    for i in range(4):
        labels = street()
        labels[28:38, 20:60] = SKY if i % 2 else CAR
        findings.append(check.update(labels, SKY_IDS, OBSTACLE_IDS, HORIZON))
    assert not findings[1].fired                            # one flip: a boundary may move once
    assert findings[2].fired and findings[3].fired
    assert findings[3].mask[28:38, 20:60].all() and not findings[3].mask[:28].any()


def test_temporal_check_is_silent_on_a_stable_or_steadily_moving_scene():
    check = TemporalFlipCheck(TemporalParams(window=6, min_flips=2, cell_px=1, min_area_px=1))
    for i in range(6):
        labels = street()
        labels[26:30 + i, 20:60] = CAR                      # a car growing as it approaches: no flip back
        assert not check.update(labels, SKY_IDS, OBSTACLE_IDS, HORIZON).fired


def test_temporal_check_restarts_when_the_image_size_changes():
    check = TemporalFlipCheck(TemporalParams(window=3, min_flips=1, cell_px=1, min_area_px=1))
    labels = street()
    check.update(labels, SKY_IDS, OBSTACLE_IDS, HORIZON)
    other = np.full((30, 40), SKY, np.uint8)
    assert not check.update(other, SKY_IDS, OBSTACLE_IDS, 12.0).fired


# --- the safe drivable area and the alarm --------------------------------------------------------------------

def test_underride_shadow_reaches_down_to_where_a_floating_obstacle_would_stand():
    flagged = np.zeros((H, W), bool)
    flagged[26:30, 30:50] = True                            # lower edge 5 rows below the horizon
    shadow = underride_shadow(flagged, HORIZON, camera_height_m=1.5, clearance_m=1.0)
    # on the road at 24 + (29 - 24) * 1.5 / 0.5 = 39
    assert shadow[26:40, 30:50].all() and not shadow[40:].any() and not shadow[:, :30].any()


def test_trailer_labelled_sky_raises_the_alarm_and_leaves_the_road_beneath_it_undrivable():
    labels = trailer_as_sky(street(), top=10, bottom=32)
    config = SafetyConfig.from_flat({'drivable_underride_clearance_m': 1.0, 'drivable_min_alarm_px': 20})
    verdict = check_all(labels, config=config)
    assert verdict.alarm
    assert {r.check for r in verdict.reasons} >= {'sky_below_horizon', 'sky_on_road'}
    for reason in verdict.reasons:
        x0, y0, x1, y1 = reason.region
        assert x0 < W / 2 < x1 and y1 == 32 and reason.pixels >= 20     # down to the lower edge
        assert reason.check in str(reason)
    # the road seen under the trailer is not drivable as far down as where the trailer would stand
    ground = HORIZON + (31 - HORIZON) * 1.5 / (1.5 - 1.0)
    assert not (verdict.drivable[:int(ground) + 1, 15:65] > 0).any()
    assert (verdict.drivable[-5:, 20:60] > 0).all()


def test_naive_drivable_area_would_drive_under_the_trailer():
    labels = trailer_as_sky(street(), top=10, bottom=30)
    config = SafetyConfig.from_flat({'sky_below_horizon_enabled': False, 'sky_on_road_enabled': False,
                                     'low_confidence_enabled': False, 'drivable_far_static_underride': False})
    verdict = check_all(labels, config=config)
    assert not verdict.alarm and (verdict.drivable[30:34, 20:60] > 0).all()


def test_a_plain_street_raises_no_alarm_and_is_drivable():
    verdict = check_all(street())
    assert not verdict.alarm and verdict.reasons == () and not verdict.ambiguous.any()
    assert (verdict.drivable[int(HORIZON) + 1:, 15:65] > 0).all()


def test_an_ambiguity_beside_the_path_is_masked_without_alarm():
    labels = street()
    labels[30:38, 15:21] = SKY                              # a white van at the kerb, called sky
    verdict = check_all(labels)                             # (the path spans 27..52 at row 37)
    assert verdict.ambiguous[30:38, 15:21].all()
    assert not (verdict.drivable[30:, 15:21] > 0).any()     # the road beneath it may hide a floating obstacle
    assert not verdict.alarm


@pytest.mark.parametrize('seed', range(8))
def test_drivable_never_includes_an_ambiguous_pixel_nor_one_above_the_freespace(seed):
    rng = np.random.default_rng(seed)
    labels = street()
    for _ in range(6):                                      # random sky and car blobs all over the road
        r, c = rng.integers(HORIZON, H - 4), rng.integers(0, W - 8)
        labels[r:r + rng.integers(2, 8), c:c + rng.integers(2, 12)] = rng.choice([SKY, CAR, SIDEWALK])
    margin = rng.uniform(0, 1, (H, W)).astype(np.float32)
    verdict = check_all(labels, margin)
    drivable = verdict.drivable > 0
    assert not (drivable & (verdict.ambiguous > 0)).any()
    rows = np.arange(H)[:, None]
    assert not (drivable & (rows <= verdict.freespace[None, :])).any()
    # and the free-space boundary is where a non-drivable pixel is
    for col in range(W):
        row = verdict.freespace[col]
        assert row == -1 or not drivable[row, col]


def test_lane_marking_holes_are_filled_but_a_car_is_not():
    labels = street()
    labels[44:46, 38:41] = SIDEWALK                          # a misread lane marking: a small hole in the road
    labels[30:34, 30:36] = CAR                               # a car ahead: an obstacle, never filled
    verdict = check_all(labels)
    assert (verdict.drivable[44:46, 38:41] > 0).all()
    assert not (verdict.drivable[:34, 30:36] > 0).any()


def test_settings_round_trip_through_flat_names():
    config = SafetyConfig()
    flat = config.flat()
    assert SafetyConfig.from_flat(flat) == config
    assert flat['sky_on_road_margin_px'] == config.sky_on_road.margin_px
    names = [name for name, _, _, _ in SafetyConfig.declarations()]
    assert names == list(flat)
    with pytest.raises(KeyError, match='sky_on_roads_margin_px'):
        SafetyConfig.from_flat({'sky_on_roads_margin_px': 1.0})


def test_checks_at_480x360_raise_the_alarm_on_a_trailer_called_sky_and_keep_the_road_under_it_undrivable():
    # the checks' timing at this size: benchmarks/checks_timing.py
    labels = np.full((360, 480), SKY, np.uint8)
    labels[160:, 60:420] = ROAD
    labels[:, :60] = BUILDING
    labels[:, 420:] = BUILDING
    labels[120:200, 100:380] = SKY                           # a trailer called sky: every check has work to do
    labels[200:210, 100:380] = CAR
    margin = np.random.default_rng(0).uniform(0, 1, labels.shape).astype(np.float32)
    config = SafetyConfig()
    temporal = TemporalFlipCheck(config.temporal)
    for _ in range(3):
        candidate = connected_road(labels, CAMVID_CLASSES, config)
        flips = temporal.update(labels, SKY_IDS, OBSTACLE_IDS, 160.0)
        verdict = assess(labels, margin, CAMVID_CLASSES, config, 160.0, 'camera', candidate, flips)
    assert verdict.alarm and 'sky_below_horizon' in {reason.check for reason in verdict.reasons}
    assert verdict.drivable.shape == (360, 480) and not verdict.drivable[160:, 100:380].any()   # it may be an underride
    assert verdict.drivable[200:, 60:100].any() and verdict.drivable[200:, 380:420].any()   # the road beside it


@pytest.mark.parametrize('horizon', [-50.0, 0.0, 59.5, 60.0, 500.0])
def test_checks_stay_silent_and_sound_with_the_horizon_at_or_beyond_the_image_edges(horizon):
    labels = trailer_as_sky(street())
    candidate = connected_road(labels, CAMVID_CLASSES, SafetyConfig())
    verdict = assess(labels, np.zeros((H, W), np.float32), CAMVID_CLASSES, SafetyConfig(), horizon, 'default',
                     candidate)
    assert verdict.drivable.shape == (H, W) and verdict.freespace.shape == (W,)
    if horizon >= H:
        assert not verdict.alarm


# --- check 5: a vehicle floating above the road --------------------------------------------------------------

def trailer_as_car(labels, top=10, bottom=30, wheels=True):
    """A trailer across the road seen right, as a vehicle: side rows top..bottom, wheels down to row 44."""
    labels = labels.copy()
    labels[top:bottom, 10:70] = CAR
    if wheels:
        labels[bottom:44, 12:16] = CAR
        labels[bottom:44, 62:66] = CAR
    return labels


def test_floating_vehicle_fires_on_a_trailer_seen_as_a_vehicle_with_the_road_under_it():
    labels = trailer_as_car(street())
    road = connected_road(labels, CAMVID_CLASSES, SafetyConfig())
    finding = floating_vehicle(labels, road, [CAR], HORIZON, 1.5)
    assert finding.fired and finding.strength > 1
    # its side is 20 rows tall resting on the road 5 rows below the horizon: 6 m if it stood there
    assert finding.mask[10:30, 10:70].all()
    assert finding.mask[30:44, 12:16].all()              # the wheels stand on the road, but belong to it
    verdict = check_all(labels)
    assert verdict.alarm and not (verdict.drivable[:50, 20:60] > 0).any()


def test_floating_vehicle_is_silent_on_cars_standing_on_the_road():
    labels = street()
    labels[30:40, 25:40] = CAR                            # 1.5 m tall at row 39: 10 * 1.5 / 15 m
    labels[26:32, 45:55] = CAR                            # farther, smaller
    road = connected_road(labels, CAMVID_CLASSES, SafetyConfig())
    assert not floating_vehicle(labels, road, [CAR], HORIZON, 1.5).fired
    assert not check_all(labels).alarm


def test_a_trailer_whose_top_went_to_the_sky_loses_the_road_under_it_without_an_alarm():
    # 13 rows of side resting on the road 5 rows below the horizon: 3.9 m if it stood there, over the distrust
    # height (3.5 m) but under the alarm height (5 m); the road seen under it between its wheels is not drivable
    labels = trailer_as_car(street(), top=17, bottom=30)
    road = connected_road(labels, CAMVID_CLASSES, SafetyConfig())
    finding = floating_vehicle(labels, road, [CAR], HORIZON, 1.5)
    assert finding.fired and not finding.may_alarm
    verdict = check_all(labels)
    assert not verdict.alarm
    assert not (verdict.drivable[30:44, 20:60] > 0).any()
    # no farther than the wheels reach: the road in front of them stays drivable
    assert (verdict.drivable[50:, 25:55] > 0).all()
    strict = SafetyConfig.from_flat({'drivable_min_alarm_px': 20, 'floating_vehicle_distrust_height_m': 5.0})
    assert (check_all(labels, config=strict).drivable[30:44, 20:60] > 0).any()


def test_a_tall_truck_standing_on_the_road_keeps_the_road_in_front_of_it():
    labels = street()
    labels[15:31, 25:55] = CAR                            # 16 rows standing at row 30: 4 m tall, 6 rows down
    road = connected_road(labels, CAMVID_CLASSES, SafetyConfig())
    finding = floating_vehicle(labels, road, [CAR], HORIZON, 1.5)
    assert finding.fired and not finding.may_alarm
    verdict = check_all(labels)
    assert not verdict.alarm
    assert (verdict.drivable[36:, 20:60] > 0).all()


def test_floating_vehicle_ignores_vehicles_too_small_to_judge():
    labels = trailer_as_car(street(), top=20, bottom=27, wheels=False)   # 7 rows tall
    road = connected_road(labels, CAMVID_CLASSES, SafetyConfig())
    assert not floating_vehicle(labels, road, [CAR], HORIZON, 1.5, FloatingVehicleParams(min_height_px=8)).fired
    assert floating_vehicle(labels, road, [CAR], HORIZON, 1.5, FloatingVehicleParams(min_height_px=6)).fired


def test_an_uncertain_horizon_widens_the_margins_and_stands_the_floating_check_down():
    config = SMALL
    assert for_horizon(config, 'camera', H) is config
    uncertain = for_horizon(config, 'estimate', H)
    extra = config.camera.horizon_uncertainty_frac * H
    assert uncertain.sky_below_horizon.margin_px == config.sky_below_horizon.margin_px + extra
    assert uncertain.sky_on_road.margin_px == config.sky_on_road.margin_px + extra
    assert not uncertain.floating_vehicle.enabled
    labels = trailer_as_sky(street(), top=10, bottom=27)    # 3 rows below the horizon: certain only with a camera
    candidate = connected_road(labels, CAMVID_CLASSES, config)
    assert check_all(labels).alarm
    assert not assess(labels, np.ones((H, W), np.float32), CAMVID_CLASSES, uncertain, HORIZON, 'default',
                      candidate).alarm


def test_without_a_camera_the_floating_check_judges_heights_from_the_horizon_lifted_by_its_uncertainty():
    labels = trailer_as_car(street())       # its side: 20 rows resting 5 rows below the horizon, 6 m tall there
    road = connected_road(labels, CAMVID_CLASSES, SafetyConfig())
    assert floating_vehicle(labels, road, [CAR], HORIZON, 1.5).may_alarm
    lifted = floating_vehicle(labels, road, [CAR], HORIZON, 1.5, horizon_lift_px=2.0)      # 30 / 7 = 4.3 m
    assert lifted.fired and not lifted.may_alarm
    assert not floating_vehicle(labels, road, [CAR], HORIZON, 1.5, horizon_lift_px=4.0).fired    # 3.3 m

    # check_frame lifts an estimated horizon by its uncertainty, a camera's not at all
    config = SafetyConfig.from_flat({'drivable_min_alarm_px': 20, 'floating_vehicle_require_camera': False})
    margin = np.ones(labels.shape, np.float32)

    def alarm(source, uncertainty_px):
        verdict = check_frame(labels, margin, class_ids(CAMVID_CLASSES), config, HORIZON, source, road,
                              horizon_uncertainty_px=uncertainty_px)
        return [r.check for r in verdict.reasons]

    assert alarm('camera', 4.0) == ['floating_vehicle']
    assert alarm('estimate', 0.0) == ['floating_vehicle']
    assert alarm('estimate', 4.0) == []
    assert alarm('estimate', None) == []        # the configured uncertainty: 0.055 x 60 = 3.3 rows
    required = SafetyConfig.from_flat({'drivable_min_alarm_px': 20})
    assert not check_frame(labels, margin, class_ids(CAMVID_CLASSES), required, HORIZON, 'estimate', road,
                           horizon_uncertainty_px=0.0).alarm


def test_underride_shadow_starts_from_the_obstacle_below_the_flagged_sky():
    flagged = np.zeros((H, W), bool)
    flagged[24:27, 30:50] = True                            # the trailer's upper part, called sky
    drivable = np.zeros((H, W), bool)
    drivable[30:, :] = True                                 # its lower part (rows 27..29) called building
    shadow = underride_shadow(flagged, HORIZON, 1.5, 1.0, drivable)
    # the lower edge is row 29, not 26: on the road at 24 + (29 - 24) * 3 = 39
    assert shadow[24:40, 30:50].all() and not shadow[40:].any()
    assert not underride_shadow(flagged, HORIZON, 1.5, 1.0)[31:].any()     # without it: 24 + 2 * 3 = 30


def test_far_static_underride_distrusts_the_road_beneath_a_trailer_seen_as_a_building():
    labels = street()
    labels[12:29, 10:70] = BUILDING                         # lower edge 4 rows below the horizon
    on = SafetyConfig.from_flat({'drivable_far_static_underride': True, 'drivable_underride_clearance_m': 1.0})
    off = SafetyConfig.from_flat({'drivable_far_static_underride': False})
    verdict = check_all(labels, config=on)
    assert not verdict.alarm                                # not an ambiguity, only the free space shrinks
    assert not (verdict.drivable[:37, 15:65] > 0).any()     # down to where it would stand: 24 + 4 * 3 = 36
    assert (verdict.drivable[37:, 20:60] > 0).all()
    assert (check_all(labels, config=off).drivable[29:41, 20:60] > 0).all()     # off: the road beneath is free
    assert not for_horizon(on, 'estimate', H).drivable.far_static_underride

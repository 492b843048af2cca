"""The ego mask: its forms, a learned mask on synthetic streams, and what the masked pixels do downstream."""

import cv2
import numpy as np
import pytest

from seg_perception.drivable import connected_drivable, connected_road, freespace_boundary, safe_drivable
from seg_perception.ego_mask import (AutoEgoMask, AutoParams, EgoMask, band_top, bottom_mask, clear_rows,
                                     grow_over_edge, load_mask_png, parse_ego_mask, resize_mask)
from seg_perception.safety_config import SafetyConfig
from seg_perception.taxonomy import CAMVID_CLASSES
from seg_perception.trust import TrustMonitor

ROAD, SKY, BUILDING, SIDEWALK, CAR = (CAMVID_CLASSES.index(n) for n in ('road', 'sky', 'building', 'sidewalk', 'car'))


# --- the forms ---------------------------------------------------------------------------------------------

def test_the_forms_parse():
    assert parse_ego_mask('')[1] == 'none' and parse_ego_mask(None)[1] == 'none'
    assert parse_ego_mask('auto')[1] == 'auto'
    value, kind, fraction, png = parse_ego_mask('bottom:0.25')
    assert (value, kind, fraction, png) == ('bottom:0.25', 'bottom', 0.25, None)
    assert not EgoMask('').enabled and EgoMask('').for_frame(np.zeros((4, 4, 3), np.uint8)) is None


@pytest.mark.parametrize('value, words', [
    ('bottom:1.5', 'strictly between 0 and 1'), ('bottom:0', 'strictly between 0 and 1'),
    ('bottom:-0.2', 'strictly between 0 and 1'), ('bottom:a third', 'not a number'),
    ('top:0.2', 'none of the forms'), ('automatic', 'none of the forms'), ('/no/such/hood.png', 'no such file'),
])
def test_bad_values_are_refused_naming_the_value(value, words):
    with pytest.raises(ValueError) as error:
        EgoMask(value)
    assert repr(value) in str(error.value) and words in str(error.value)


def test_a_png_that_is_not_an_image_or_masks_everything_is_refused(tmp_path):
    junk = tmp_path / 'junk.png'
    junk.write_text('not a png')
    with pytest.raises(ValueError, match='not a readable image'):
        EgoMask(str(junk))
    full = tmp_path / 'full.png'
    cv2.imwrite(str(full), np.full((4, 4), 255, np.uint8))
    with pytest.raises(ValueError, match='every pixel is set'):
        load_mask_png(str(full))


def test_bottom_fraction_masks_the_lowest_rows():
    mask = bottom_mask((10, 6), 0.3)
    assert mask[7:].all() and not mask[:7].any()
    assert bottom_mask((10, 6), 0.01).sum(axis=0).tolist() == [1] * 6      # at least one row
    assert bottom_mask((10, 6), 0.99)[0].any() == np.False_                  # never all of them
    ego = EgoMask('bottom:0.5')
    assert ego.for_frame(np.zeros((8, 3, 3), np.uint8)).sum(axis=0).tolist() == [4, 4, 4]


def test_a_png_mask_is_resized_with_nearest_neighbour(tmp_path):
    small = np.zeros((4, 4), np.uint8)
    small[3] = 1                        # any non-zero value is the vehicle
    small[2, 0] = 200
    path = tmp_path / 'hood.png'
    cv2.imwrite(str(path), small)
    ego = EgoMask(str(path))
    mask = ego.for_frame(np.zeros((8, 8, 3), np.uint8))
    expected = np.zeros((8, 8), bool)
    expected[6:] = True
    expected[4:6, :2] = True
    np.testing.assert_array_equal(mask, expected)
    np.testing.assert_array_equal(resize_mask(mask, (8, 8)), mask)
    assert ego.for_stream() is ego          # a fixed mask serves every camera


def test_band_top_and_clear_rows():
    mask = np.zeros((6, 4), bool)
    mask[4:] = True
    mask[3, 1:3] = True                 # a curved edge: higher in the middle
    mask[0, 0] = True                   # a blob not touching the bottom is not the band
    assert band_top(mask).tolist() == [4, 3, 3, 4]
    assert clear_rows(mask) == 3        # row 3 is half masked: the band starts there
    assert band_top(np.zeros((5, 2), bool)).tolist() == [5, 5]
    assert clear_rows(np.ones((3, 3), bool)) == 0


def test_the_edge_rises_over_vehicle_labels_just_above_it():
    mask = bottom_mask((12, 4), 0.25)           # rows 9..11
    labels = np.full((12, 4), ROAD, np.uint8)
    labels[7, 1] = CAR                          # a speck 2 rows above the edge: the hood's spill
    labels[2:8, 2] = CAR                        # a car ahead reaching down to row 7: its lower part only
    labels[8, 3] = BUILDING                     # not a vehicle: stays
    grown = grow_over_edge(mask, labels, [CAR], 3)
    assert band_top(grown).tolist() == [9, 7, 6, 9]
    assert grown[9:].all() and not grown[:6].any()
    np.testing.assert_array_equal(grow_over_edge(mask, labels, [CAR], 0), mask)


# --- the learned mask --------------------------------------------------------------------------------------

def moving_street(i, shape=(60, 80), hood_rows=15, hood_level=40):
    """Frame ``i`` of a scene whose top moves (fresh texture each frame) over a still hood at the bottom."""
    rng = np.random.default_rng(i)
    h, w = shape
    grey = rng.integers(30, 220, (h // 4, w // 4)).astype(np.uint8)
    grey = cv2.resize(grey, (w, h), interpolation=cv2.INTER_NEAREST)
    grey[h - hood_rows:] = hood_level
    return np.repeat(grey[..., None], 3, axis=2)


def test_auto_learns_the_still_bottom_of_a_moving_scene():
    learner = AutoEgoMask(AutoParams(width_px=80, learn_frames=8))
    for i in range(7):
        assert learner.update(moving_street(i)) is None and not learner.learned
    mask = learner.update(moving_street(7))
    assert learner.learned
    expected = np.zeros((60, 80), bool)
    expected[45:] = True
    np.testing.assert_array_equal(mask, expected)
    np.testing.assert_array_equal(learner.update(moving_street(8)), expected)


def test_auto_leaves_out_what_stands_still_on_the_hood_edge():
    # a lead car at the ego speed: a static block standing on the hood over a quarter of the columns
    def frame(i):
        grey = moving_street(i)
        grey[25:45, 30:50] = 90
        return grey
    learner = AutoEgoMask(AutoParams(width_px=80, learn_frames=8))
    for i in range(8):
        mask = learner.update(frame(i))
    assert learner.learned
    expected = np.zeros((60, 80), bool)
    expected[45:] = True
    np.testing.assert_array_equal(mask, expected)


def test_auto_learns_in_a_dark_scene_where_little_moves():
    # a tunnel: the dark walls only flicker a little (sensor noise), the lights ahead (a twentieth of the frame)
    # move: too little motion for a window that asks a quarter of the frame to move
    def frame(i):
        rng = np.random.default_rng(i)
        grey = np.repeat(rng.integers(16, 24, (60, 80, 1)), 3, axis=2).astype(np.uint8)
        grey[10:20, 30:50] = rng.integers(30, 220, (10, 20, 1))
        grey[45:] = 40
        return grey
    learner = AutoEgoMask(AutoParams(width_px=80, learn_frames=8))
    for i in range(8):
        mask = learner.update(frame(i))
    assert learner.learned and mask[45:].all() and not mask[:45].any()


def test_auto_follows_a_curved_hood_edge():
    h, w = 60, 80
    x = (np.arange(w) + 0.5) / w
    edge = 42 + 8 * (2 * x - 1) ** 2              # the hood's edge: lower at the sides
    below = np.arange(h)[:, None] + 0.5 >= edge[None, :]

    def frame(i):
        grey = moving_street(i, hood_rows=0)
        grey[below] = 40
        return grey
    learner = AutoEgoMask(AutoParams(width_px=80, learn_frames=8))
    for i in range(8):
        mask = learner.update(frame(i))
    assert learner.learned
    assert np.mean(mask != below) < 0.01


def test_auto_learns_nothing_while_the_scene_stands_still():
    learner = AutoEgoMask(AutoParams(width_px=80, learn_frames=5))
    still = moving_street(0)
    assert all(learner.update(still) is None for _ in range(20)) and not learner.learned


def test_auto_without_a_hood_learns_an_empty_mask():
    ego = EgoMask('auto', AutoParams(width_px=80, learn_frames=6))
    masks = [ego.for_frame(moving_street(i, hood_rows=0)) for i in range(8)]
    assert ego.learner.learned and all(m is None for m in masks)
    assert ego.describe() == 'auto: no ego vehicle in view'


def test_auto_that_learned_no_vehicle_learns_one_that_comes_into_view():
    ego = EgoMask('auto', AutoParams(width_px=80, learn_frames=6))
    for i in range(6):
        assert ego.for_frame(moving_street(i, hood_rows=0)) is None
    assert ego.learner.learned and ego.describe() == 'auto: no ego vehicle in view'
    # remounted where the hood shows: within two windows the hood is learned, and nothing before that
    masks = [ego.for_frame(moving_street(i)) for i in range(6, 18)]
    assert ego.learner.relearned == 1 and ego.describe() == 'auto: 25% of the frame, learned again 1x'
    assert masks[-1] is not None and masks[-1][45:].all() and not masks[-1][:45].any()
    # a window with no vehicle in it keeps the empty mask: nothing is learned from a still bottom by chance
    ego = EgoMask('auto', AutoParams(width_px=80, learn_frames=6))
    assert all(ego.for_frame(moving_street(i, hood_rows=0)) is None for i in range(30))
    assert ego.learner.relearned == 0


def test_auto_learns_again_when_the_frame_size_changes():
    ego = EgoMask('auto', AutoParams(width_px=80, learn_frames=6))
    for i in range(6):
        ego.for_frame(moving_street(i))
    assert ego.learner.learned and ego.describe() == 'auto: 25% of the frame'
    assert ego.for_frame(moving_street(6, shape=(40, 80), hood_rows=10)) is None
    assert not ego.learner.learned and ego.learner.relearned == 1
    assert ego.describe() == 'auto: learning, learned again 1x'
    for i in range(7, 12):
        mask = ego.for_frame(moving_street(i, shape=(40, 80), hood_rows=10))
    assert mask.shape == (40, 80) and mask[30:].all() and not mask[:30].any()


def test_auto_learns_again_when_the_learned_region_no_longer_stays_the_same():
    params = AutoParams(width_px=80, learn_frames=6, change_frames=3)
    learner = AutoEgoMask(params)
    for i in range(6):
        learner.update(moving_street(i))
    assert learner.learned
    # another camera: the bottom is the moving world now (one odd frame is not enough)
    learner.update(moving_street(6, hood_rows=0))
    assert learner.learned
    for i in range(7, 9):
        learner.update(moving_street(i, hood_rows=0))
    assert not learner.learned and learner.relearned == 1


def test_each_stream_learns_its_own():
    first = EgoMask('auto')
    second = first.for_stream()
    assert second is not first and second.learner is not first.learner and second.value == 'auto'


# --- downstream: drivable area, free space, checks ---------------------------------------------------------

def hood_scene(h=40, w=40, hood_rows=10, hood_label=BUILDING):
    """Road from row 10 to the hood; sidewalk above; the hood labelled ``hood_label`` (a network's mistake)."""
    labels = np.full((h, w), SIDEWALK, np.uint8)
    labels[10:] = ROAD
    labels[h - hood_rows:] = hood_label
    return labels, bottom_mask((h, w), hood_rows / h)


def test_the_drivable_area_grows_from_above_the_mask():
    labels, ego = hood_scene()
    assert not connected_drivable(labels, [ROAD]).any()      # the hood ends the road at the bottom
    road = connected_drivable(labels, [ROAD], ego=ego) > 0
    assert road[10:30].all() and not road[:10].any() and not road[30:].any()
    drivable, freespace = safe_drivable(road, np.zeros_like(road), 0, ego)
    assert (drivable[10:30] == 255).all() and not drivable[30:].any()
    assert freespace.tolist() == [9] * 40
    assert freespace_boundary(road).tolist() == [39] * 40    # without the mask: nothing free


def test_a_hood_labelled_road_is_never_drivable():
    labels, ego = hood_scene(hood_label=ROAD)
    road = connected_road(labels, CAMVID_CLASSES, SafetyConfig(), ego)
    assert road[10:30].all() and not road[ego].any()


def test_the_ego_region_follows_a_curved_edge():
    labels = np.full((40, 40), SIDEWALK, np.uint8)
    labels[10:] = ROAD
    ego = np.zeros((40, 40), bool)
    cols = np.arange(40)
    edge = 25 + np.abs(cols - 20) // 4          # highest in the middle
    ego[np.arange(40)[:, None] >= edge[None, :]] = True
    labels[ego] = BUILDING
    labels[:, 19:21] = np.where(ego[:, 19:21], BUILDING, SIDEWALK)      # a kerb splits the road in the middle
    road = connected_drivable(labels, [ROAD], ego=ego) > 0
    assert road[10:25, :19].all() and road[10:25, 21:].all() and not road[ego].any()
    freespace = freespace_boundary(road & ~ego, ego)
    assert freespace[0] == 9 and freespace[20] == edge[20] - 1      # the kerb's column ends at the hood's edge


def test_a_masked_blob_inside_the_road_is_no_hole_to_fill():
    labels = np.full((30, 30), ROAD, np.uint8)
    labels[:5] = SIDEWALK
    ego = np.zeros((30, 30), bool)
    ego[12:15, 12:15] = True                    # a sensor on the windscreen, say
    road = connected_road(labels, CAMVID_CLASSES, SafetyConfig(), ego)
    assert not road[ego].any() and road[5:12].all()


def test_the_trust_check_leaves_the_vehicle_out():
    labels = np.full((48, 64), ROAD, np.uint8)
    labels[:19] = SKY                           # the lower third of the 28 rows above the hood is road
    labels[28:] = 255                           # the hood, masked: 40% of the rows
    margin = np.ones((48, 64), np.float32)
    margin[28:] = 0.0                           # the network is unsure of the hood
    ego = labels == 255
    blind = TrustMonitor().assess(None, labels, margin, CAMVID_CLASSES)
    assert {'no_road_or_vehicle_below', 'low_margin'} <= set(blind.reasons)
    seeing = TrustMonitor().assess(None, labels, margin, CAMVID_CLASSES, ignore=ego)
    assert not seeing.degraded, seeing.reasons
    assert seeing.statistics.low_margin_share == 0.0 and seeing.statistics.road_or_vehicle_below_share == 1.0


def test_image_statistics_are_taken_above_the_vehicle():
    rgb = np.random.default_rng(3).integers(40, 200, (48, 64, 3)).astype(np.uint8)
    rgb[28:] = 0                                 # a black hood: 40% of the pixels black
    ego = np.zeros((48, 64), bool)
    ego[28:] = True
    labels = np.full((48, 64), ROAD, np.uint8)
    config = SafetyConfig().trust
    from dataclasses import replace
    config = replace(config, max_underexposed_share=0.3)
    assert 'underexposed' in TrustMonitor().assess(rgb, labels, None, CAMVID_CLASSES, config).reasons
    seeing = TrustMonitor().assess(rgb, labels, None, CAMVID_CLASSES, config, ignore=ego)
    assert 'underexposed' not in seeing.reasons and seeing.statistics.underexposed_share == 0.0


# --- in the segmenter --------------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def segmenter(tiny_model):
    from seg_perception import Segmenter

    return Segmenter.from_model(tiny_model, threads=1)


def test_masked_pixels_are_outside_never_drivable_and_raise_no_alarm(segmenter):
    """A hood mirroring the sky, labelled sky below the horizon: an alarm unmasked; outside (255) masked."""
    h, w = 48, 64
    labels_net = np.full((h, w), ROAD, np.uint8)
    labels_net[:20] = SKY
    labels_net[20:24] = SIDEWALK
    labels_net[36:] = SKY
    margin = np.ones((h, w), np.float32)
    plain = segmenter.postprocess(labels_net, margin, (h, w), {})
    assert plain.alarm and not plain.drivable.any() and plain.ego is None
    ego = bottom_mask((h, w), 0.25)
    out = segmenter.postprocess(labels_net, margin, (h, w), {}, ego=ego)
    assert not out.alarm and not out.degraded, (out.reasons, out.degraded_reasons)
    assert (out.labels[36:] == 255).all() and (out.labels[:36] == labels_net[:36]).all()
    assert out.drivable[24:36].all() and not out.drivable[36:].any() and not out.drivable[:24].any()
    assert out.freespace.tolist() == [23] * w
    assert out.ego is ego


def test_the_segmenter_takes_the_ego_mask_string(tiny_model):
    from seg_perception import Segmenter

    seg = Segmenter.from_model(tiny_model, threads=1, ego_mask='bottom:0.25')
    out = seg.segment(np.full((40, 60, 3), 90, np.uint8))
    assert (out.labels[30:] == 255).all() and not out.drivable[30:].any()
    with pytest.raises(ValueError, match="'bottom:2'"):
        Segmenter.from_model(tiny_model, threads=1, ego_mask='bottom:2')


def test_each_camera_gets_its_own_ego_mask(segmenter):
    frame = np.full((40, 60, 3), 90, np.uint8)
    front, rear = segmenter.segment_cameras([frame, frame], [None, None], [None, None], None,
                                            [EgoMask('bottom:0.5'), None])
    assert (front.labels[20:] == 255).all() and rear.ego is None and (rear.labels != 255).all()

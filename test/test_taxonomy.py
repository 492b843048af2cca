"""The shared taxonomy: every label source maps onto it through the one table, checked on hand-made label maps."""

import itertools

import cv2
import numpy as np
import pytest

from seg_perception.taxonomy import (CAMVID_CLASSES, CAMVID_VOID, CARLA_LEGACY_PALETTE, CARLA_LEGACY_TAGS,
                                     CARLA_PALETTE, CARLA_TAGS, CITYSCAPES_CLASSES, CITYSCAPES_ID_NAMES,
                                     CITYSCAPES_ID_TO_TRAIN_ID, CITYSCAPES_VOID, OUTSIDE_COLOUR, SOURCE_CLASSES,
                                     TAXONOMY_CLASSES, TAXONOMY_IGNORE, TAXONOMY_PALETTE, TO_TAXONOMY, class_palette,
                                     colour_lut, colourise, legend_strip, palette_to_taxonomy, taxonomy_lut,
                                     to_taxonomy)

T = {name: i for i, name in enumerate(TAXONOMY_CLASSES)}


def test_every_source_class_has_an_entry_and_every_entry_a_taxonomy_class():
    for source, classes in SOURCE_CLASSES.items():
        assert all(name in TO_TAXONOMY for name in classes), source
    assert {target for target in TO_TAXONOMY.values() if target is not None} == set(TAXONOMY_CLASSES)
    assert len(TAXONOMY_PALETTE) == len(TAXONOMY_CLASSES)


def test_camvid_maps_one_to_one_and_void_is_ignored():
    labels = np.array([list(range(len(CAMVID_CLASSES))) + [CAMVID_VOID]], np.uint8)
    mapped = to_taxonomy(labels, 'camvid')[0]
    assert sorted(mapped[:-1].tolist()) == list(range(len(TAXONOMY_CLASSES)))
    assert mapped[CAMVID_CLASSES.index('car')] == T['vehicle']
    assert mapped[CAMVID_CLASSES.index('pedestrian')] == T['person']
    assert mapped[CAMVID_CLASSES.index('tree')] == T['vegetation']
    assert mapped[-1] == TAXONOMY_IGNORE


def test_cityscapes_ids_and_train_ids_agree():
    for label_id, train_id in CITYSCAPES_ID_TO_TRAIN_ID.items():
        by_id = to_taxonomy(np.array([[label_id]], np.uint8), 'cityscapes')
        by_train_id = to_taxonomy(np.array([[train_id]], np.uint8), 'cityscapes_train_id')
        assert by_id[0, 0] == by_train_id[0, 0], CITYSCAPES_ID_NAMES[label_id]
    assert to_taxonomy(np.array([[CITYSCAPES_VOID]], np.uint8), 'cityscapes_train_id')[0, 0] == TAXONOMY_IGNORE


def test_cityscapes_ego_vehicle_is_not_scored_but_trailers_are_vehicles():
    ids = np.array([[CITYSCAPES_ID_NAMES.index(name) for name in ('ego_vehicle', 'trailer', 'caravan', 'wall')]],
                   np.uint8)
    assert to_taxonomy(ids, 'cityscapes').tolist() == [[TAXONOMY_IGNORE, T['vehicle'], T['vehicle'], T['building']]]


def test_carla_new_layout_follows_cityscapes_train_ids():
    # tags 1..19 of CARLA 0.9.14+ are Cityscapes' trainIds 0..18, shifted by one
    tags = np.arange(1, 20, dtype=np.uint8)[None]
    assert to_taxonomy(tags, 'carla').tolist() == to_taxonomy(tags - 1, 'cityscapes_train_id').tolist()
    assert len(CARLA_TAGS) == 29


@pytest.mark.parametrize('tag_name, expected', [
    ('road', 'road'), ('road_line', 'road'), ('sidewalk', 'sidewalk'), ('sky', 'sky'), ('pedestrian', 'person'),
    ('traffic_light', 'sign'), ('traffic_sign', 'sign'), ('guard_rail', 'fence'), ('wall', 'building'),
    ('vegetation', 'vegetation'), ('terrain', 'vegetation'), ('unlabeled', None), ('water', None),
])
def test_carla_layouts_give_the_same_class_for_the_same_tag(tag_name, expected):
    for layout, tags in (('carla', CARLA_TAGS), ('carla_legacy', CARLA_LEGACY_TAGS)):
        mapped = to_taxonomy(np.array([[tags.index(tag_name)]], np.uint8), layout)[0, 0]
        assert mapped == (TAXONOMY_IGNORE if expected is None else T[expected]), layout


def test_carla_tag_images_map_by_layout():
    # a constructed tag image: road at the bottom, a car in the middle, sky on top (0.9.14+ ids)
    tags = np.array([[11, 11, 11], [1, 14, 1], [1, 24, 1]], np.uint8)
    expected = [[T['sky']] * 3, [T['road'], T['vehicle'], T['road']], [T['road']] * 3]
    assert to_taxonomy(tags, 'carla').tolist() == expected
    legacy = np.array([[13, 13, 13], [7, 10, 7], [7, 6, 7]], np.uint8)    # the same scene in the old ids
    assert to_taxonomy(legacy, 'carla_legacy').tolist() == expected


def test_a_models_own_classes_map_by_name_and_unknown_names_are_refused():
    assert taxonomy_lut(CITYSCAPES_CLASSES)[CITYSCAPES_CLASSES.index('bus')] == T['vehicle']
    with pytest.raises(KeyError, match='lane_divider.*TO_TAXONOMY'):
        taxonomy_lut(('road', 'lane_divider'))
    with pytest.raises(KeyError, match='unknown label source'):
        to_taxonomy(np.zeros((1, 1), np.uint8), 'kitti')


def test_each_carla_palette_colour_decodes_to_its_tags_class_in_both_layouts():
    for layout, tags, palette in (('carla', CARLA_TAGS, CARLA_PALETTE),
                                  ('carla_legacy', CARLA_LEGACY_TAGS, CARLA_LEGACY_PALETTE)):
        assert len(palette) == len(tags), layout
        decoded = palette_to_taxonomy(np.array([palette], np.uint8))
        assert decoded.tolist() == to_taxonomy(np.arange(len(tags), dtype=np.uint8)[None], layout).tolist(), layout


def test_carla_palettes_differ_for_fence_and_terrain_and_agree_on_every_shared_colour():
    new = dict(zip(CARLA_PALETTE, CARLA_TAGS))
    legacy = dict(zip(CARLA_LEGACY_PALETTE, CARLA_LEGACY_TAGS))
    assert all(TO_TAXONOMY[new[c]] == TO_TAXONOMY[legacy[c]] for c in set(new) & set(legacy))
    only = {legacy.get(c) or new.get(c) for c in set(new) ^ set(legacy)}
    assert only == {'fence', 'terrain', 'truck', 'bus', 'train', 'motorcycle', 'bicycle', 'rider'}
    assert CARLA_PALETTE[CARLA_TAGS.index('fence')] != CARLA_LEGACY_PALETTE[CARLA_LEGACY_TAGS.index('fence')]


def test_carla_palette_images_of_the_same_scene_decode_alike_in_both_layouts():
    # sky on top; a fence and terrain beside a car on the road, whose colours changed in 0.9.14
    scene = [['sky', 'sky', 'sky'], ['fence', 'car', 'terrain'], ['road', 'road_line', 'road']]
    expected = [[T['sky']] * 3, [T['fence'], T['vehicle'], T['vegetation']], [T['road']] * 3]
    new = np.array([[CARLA_PALETTE[CARLA_TAGS.index(n)] for n in row] for row in scene], np.uint8)
    legacy_names = [[{'car': 'vehicles'}.get(n, n) for n in row] for row in scene]
    legacy = np.array([[CARLA_LEGACY_PALETTE[CARLA_LEGACY_TAGS.index(n)] for n in row] for row in legacy_names],
                      np.uint8)
    assert not np.array_equal(new, legacy)
    assert palette_to_taxonomy(new).tolist() == expected
    assert palette_to_taxonomy(legacy).tolist() == expected


def test_raw_tags_are_not_taken_for_palette_colours():
    raw = np.zeros((4, 4, 3), np.uint8)
    raw[..., 0] = CARLA_TAGS.index('road')      # a raw semantic image: the tag in the red channel
    with pytest.raises(ValueError, match=r'100% of the pixels.*\(1, 0, 0\).*--gt-format carla'):
        palette_to_taxonomy(raw)
    noisy = np.array([[CARLA_PALETTE[1]] * 200], np.uint8)
    noisy[0, 0] = (1, 2, 3)     # one odd pixel in 200 (0.5%): not scored, tolerated
    assert palette_to_taxonomy(noisy)[0, 0] == TAXONOMY_IGNORE and palette_to_taxonomy(noisy)[0, 1] == T['road']


# --- the one colour table -----------------------------------------------------------------------------------

def lab(rgb):
    """CIE L*a*b* (L 0..100) of RGB colours, through OpenCV (sRGB, D65)."""
    out = cv2.cvtColor(np.asarray(rgb, np.float32).reshape(-1, 1, 3) / 255.0, cv2.COLOR_RGB2Lab)
    return out.reshape(-1, 3)


def delta_e(a, b):
    """CIE76 colour difference: 2.3 is just noticeable; tens read as different colours."""
    return float(np.linalg.norm(lab([a])[0] - lab([b])[0]))


def test_taxonomy_colours_are_cityscapes_colours_that_carla_decodes_as_the_same_classes():
    colours = dict(zip(TAXONOMY_CLASSES, TAXONOMY_PALETTE))
    assert colours['road'] == (128, 64, 128) and colours['vehicle'] == (0, 0, 142)
    assert colours['sky'] == (70, 130, 180) and colours['person'] == (220, 20, 60)
    assert len(set(TAXONOMY_PALETTE) | {OUTSIDE_COLOUR}) == len(TAXONOMY_CLASSES) + 1
    # a coloured label image reads back through CARLA's CityScapesPalette decoder as the labels it shows
    assert palette_to_taxonomy(np.array([TAXONOMY_PALETTE], np.uint8)).tolist() == [list(range(len(colours)))]


def test_vehicle_and_road_are_told_apart_at_a_glance_on_an_overlay_too():
    road, vehicle = (TAXONOMY_PALETTE[TAXONOMY_CLASSES.index(c)] for c in ('road', 'vehicle'))
    camvid_car = (64, 0, 128)           # CamVid's car, a darker shade of its road's purple: 38 apart, 23 on grey
    grey = np.array([110, 110, 110])

    def on_grey(colour):                # blended as segmentation/color does at color_alpha 0.5
        return tuple(0.5 * grey + 0.5 * np.array(colour))
    assert delta_e(road, vehicle) > 45 > delta_e(road, camvid_car)
    assert delta_e(on_grey(road), on_grey(vehicle)) > 27 > delta_e(on_grey(road), on_grey(camvid_car))
    # and no two colours of the legend are near-twins (Cityscapes' closest pair is fence and pole)
    table = TAXONOMY_PALETTE + (OUTSIDE_COLOUR,)
    assert min(delta_e(a, b) for a, b in itertools.combinations(table, 2)) > 12


def test_a_model_class_takes_its_taxonomy_class_colour_and_unknown_classes_the_neutral_one():
    vehicle = TAXONOMY_PALETTE[TAXONOMY_CLASSES.index('vehicle')]
    camvid = dict(zip(CAMVID_CLASSES, class_palette(CAMVID_CLASSES)))
    assert camvid['car'] == vehicle and camvid['tree'] == TAXONOMY_PALETTE[TAXONOMY_CLASSES.index('vegetation')]
    assert class_palette(['truck', 'bus', 'trailer']) == (vehicle,) * 3
    assert class_palette(['ego_vehicle', 'no_such_class']) == (OUTSIDE_COLOUR,) * 2
    assert class_palette() == TAXONOMY_PALETTE


def test_colourise_colours_taxonomy_ids_and_ids_outside_the_classes_neutrally():
    labels = np.array([[0, 10, TAXONOMY_IGNORE, 11]], np.uint8)
    assert colourise(labels).tolist() == [[list(TAXONOMY_PALETTE[0]), list(TAXONOMY_PALETTE[10]),
                                           list(OUTSIDE_COLOUR), list(OUTSIDE_COLOUR)]]
    car = CAMVID_CLASSES.index('car')
    assert tuple(colourise(np.array([[car]], np.uint8), CAMVID_CLASSES)[0, 0]) == TAXONOMY_PALETTE[10]
    assert not colour_lut().flags.writeable         # shared between callers


def count_colour(image, colour):
    return int(np.all(image == np.array(colour, np.uint8), axis=2).sum())


def test_legend_strip_shows_every_colour_and_wraps_onto_more_rows_when_narrow():
    wide, narrow = legend_strip(1400), legend_strip(300)
    assert wide.shape[1] == 1400 and narrow.shape[1] == 300 and wide.dtype == np.uint8
    assert narrow.shape[0] > 2 * wide.shape[0]
    for strip in (wide, narrow):
        swatch_px = [count_colour(strip, c) for c in TAXONOMY_PALETTE + (OUTSIDE_COLOUR,)]
        assert min(swatch_px) >= 100, swatch_px      # a swatch of each, at least 10 x 10

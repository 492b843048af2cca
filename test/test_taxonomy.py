"""The shared taxonomy: every label source maps onto it through the one table, checked on hand-made label maps."""

import numpy as np
import pytest

from seg_perception.taxonomy import (CAMVID_CLASSES, CAMVID_VOID, CARLA_LEGACY_PALETTE, CARLA_LEGACY_TAGS,
                                     CARLA_PALETTE, CARLA_TAGS, CITYSCAPES_CLASSES, CITYSCAPES_ID_NAMES,
                                     CITYSCAPES_ID_TO_TRAIN_ID, CITYSCAPES_VOID, SOURCE_CLASSES, TAXONOMY_CLASSES,
                                     TAXONOMY_IGNORE, TAXONOMY_PALETTE, TO_TAXONOMY, palette_to_taxonomy,
                                     taxonomy_lut, to_taxonomy)

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

"""The robust training augmentation: labels only move geometrically, seeded, p=0 is the identity."""

import ast
import os

import cv2
import numpy as np
import pytest

pytest.importorskip('albumentations')

from seg_perception.training import robust_augment as augment  # noqa: E402

IGNORE = 11
# one colour per label id, far apart, so that a pixel's label can be read back from its colour
PALETTE = np.array([[(k * 37) % 256, (k * 91 + 40) % 256, (k * 151 + 80) % 256] for k in range(IGNORE)], np.uint8)


def _scene(h=90, w=120, seed=0):
    """A label map of large blocks (ids 0..8, never 9 or 10) and an image painted in each block's colour."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 9, (6, 8)).astype(np.uint8)
    labels = np.kron(blocks, np.ones((h // 6, w // 8), np.uint8))
    return PALETTE[labels], labels


def test_photometric_changes_the_image_and_never_the_labels():
    image, labels = _scene()
    strongest = augment.photometric(strength=augment.MAX_STRENGTH, p=augment.MAX_P)
    changed = 0
    for seed in range(6):
        strongest.set_random_seed(seed)
        out = strongest(image=image, mask=labels.copy())
        assert out['mask'].dtype == np.uint8 and np.array_equal(out['mask'], labels)
        assert out['image'].shape == image.shape and out['image'].dtype == np.uint8
        changed += not np.array_equal(out['image'], image)
    assert changed == 6


def test_the_full_pipeline_gives_the_labels_of_its_geometric_part_alone():
    image, labels = _scene()
    full = augment.RobustAugment((64, 96), IGNORE, (0.8, 1.4), strength=1.5, p=2.0)
    geometric_only = augment.RobustAugment((64, 96), IGNORE, (0.8, 1.4), strength=1.5, p=2.0, group_p={})
    for seed in range(10):
        a_img, a_lab = full(image, labels, np.random.default_rng(seed))
        b_img, b_lab = geometric_only(image, labels, np.random.default_rng(seed))
        assert np.array_equal(a_lab, b_lab)
    assert not np.array_equal(a_img, b_img)


@pytest.mark.parametrize('seed', range(8))
def test_labels_are_only_moved_and_stay_on_the_pixels_they_label(seed):
    image, labels = _scene(seed=seed)
    geometric = augment.RobustAugment((64, 96), IGNORE, (0.6, 1.6), strength=2.0, p=4.0, group_p={})
    img, lab = geometric(image, labels, np.random.default_rng(seed))
    assert img.shape == (64, 96, 3) and img.dtype == np.uint8 and lab.shape == (64, 96) and lab.dtype == np.uint8
    assert set(np.unique(lab)) <= set(np.unique(labels)) | {IGNORE}
    labelled = lab != IGNORE
    assert labelled.mean() > 0.5
    # two pixels or more from a block's edge (beyond the bands the linear resampling of the image mixes; an edge
    # may lie just outside the crop) the colour under each label is that label's colour
    kernel = np.ones((5, 5), np.uint8)
    interior = (cv2.erode(lab, kernel) == cv2.dilate(lab, kernel)) & labelled
    interior[:2], interior[-2:], interior[:, :2], interior[:, -2:] = False, False, False, False
    distance = np.abs(img.astype(int) - PALETTE[np.where(labelled, lab, 0)].astype(int)).max(axis=2)
    assert interior.mean() > 0.3 and (distance[interior] <= 8).mean() > 0.99


def test_void_pads_a_frame_smaller_than_the_crop():
    image, labels = _scene(h=30, w=40)
    pad = augment.RobustAugment((64, 96), IGNORE, (1.0, 1.0), p=0.0, flip=0.0)
    img, lab = pad(image, labels, np.random.default_rng(0))
    assert lab.shape == (64, 96) and np.array_equal(lab[:30, :40], labels)
    assert (lab[30:] == IGNORE).all() and (lab[:, 40:] == IGNORE).all() and (img[30:] == 0).all()


def test_same_seed_same_pair_other_seed_other_pair():
    image, labels = _scene()
    robust = augment.RobustAugment((64, 96), IGNORE, (0.8, 1.4), strength=1.0, p=2.0)
    first = robust(image, labels, np.random.default_rng([3, 7]))
    again = augment.RobustAugment((64, 96), IGNORE, (0.8, 1.4), strength=1.0, p=2.0)(
        image, labels, np.random.default_rng([3, 7]))
    other = robust(image, labels, np.random.default_rng([3, 8]))
    assert np.array_equal(first[0], again[0]) and np.array_equal(first[1], again[1])
    assert not np.array_equal(first[0], other[0])


def test_p_zero_or_strength_zero_is_the_identity():
    image, labels = _scene()
    for p, strength in ((0.0, 1.0), (1.0, 0.0)):
        compose = augment.photometric(strength=strength, p=p)
        assert np.array_equal(compose(image=image)['image'], image)
        identity = augment.RobustAugment(labels.shape, IGNORE, (1.0, 1.0), strength=strength, p=p, flip=0.0)
        img, lab = identity(image, labels, np.random.default_rng(1))
        assert np.array_equal(img, image) and np.array_equal(lab, labels)


@pytest.mark.parametrize('group', augment.GROUPS)
def test_every_transform_of_every_group_changes_the_frame_and_keeps_its_shape(group):
    image = np.random.default_rng(0).integers(30, 220, (72, 96, 3)).astype(np.uint8)
    for transform in augment._groups(1.0)[group]:
        transform.set_random_seed(0)
        out = transform(image=image)['image']
        assert out.shape == image.shape and out.dtype == np.uint8
        assert not np.array_equal(out, image), type(transform).__name__


def test_strength_scales_the_noise():
    image = np.full((60, 80, 3), 128, np.uint8)
    spread = []
    for strength in (0.5, 2.0):
        noise = augment.photometric(strength, p=1.0, group_p={'noise': 1.0})
        noise.set_random_seed(0)
        spread.append(np.mean([np.abs(noise(image=image)['image'].astype(int) - 128).mean() for _ in range(12)]))
    assert spread[1] > 2 * spread[0]


def test_out_of_range_settings_are_refused_with_their_name():
    with pytest.raises(ValueError, match='strength'):
        augment.photometric(strength=2.5)
    with pytest.raises(ValueError, match='p '):
        augment.RobustAugment((8, 8), IGNORE, p=-1.0)
    with pytest.raises(ValueError, match='unknown augmentation group fgo'):
        augment.photometric(group_p={'fgo': 0.5})
    with pytest.raises(ValueError, match='uint8 label map'):
        augment.RobustAugment((8, 8), IGNORE)(np.zeros((8, 8, 3), np.uint8), np.zeros((8, 9), np.uint8),
                                              np.random.default_rng(0))


def test_the_benchmark_corruptions_are_not_used_and_the_differences_are_written_down():
    path = os.path.join(os.path.dirname(augment.__file__), 'robust_augment.py')
    tree = ast.parse(open(path).read())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
                for alias in node.names} | {node.module or '' for node in ast.walk(tree)
                                            if isinstance(node, ast.ImportFrom)}
    assert not any('corruptions' in name for name in imported)
    assert len(augment.BENCHMARK_DIFFERENCES) >= 8
    text = ' '.join(augment.BENCHMARK_DIFFERENCES)
    for corruption in ('Gaussian noise', 'shot noise', 'impulse', 'defocus', 'motion blur', 'fog', 'snow', 'JPEG',
                       'contrast', 'not trained on'):
        assert corruption in text

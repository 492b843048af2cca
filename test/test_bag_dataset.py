"""Training data from a recorded drive: frames and ground truth paired by stamp, split by frame order."""

import argparse
import json

import numpy as np
import pytest

from conftest import SECOND, bag_image_msg as image_msg, write_bag
from seg_perception import datasets
from seg_perception.taxonomy import CAMVID_CLASSES, TAXONOMY_CLASSES, TAXONOMY_IGNORE, to_taxonomy


@pytest.fixture(scope='module')
def drive(tmp_path_factory):
    """A bag of 10 rendered frames on /cam and their CamVid-id labels on /gt, plus one frame without labels."""
    data = datasets.rendered_scenes(10, seed=3)
    path = tmp_path_factory.mktemp('drive') / 'bag'
    messages = []
    for i, (rgb, labels) in enumerate(zip(data.images, data.labels)):
        stamp = (i + 1) * SECOND
        messages += [('/cam', stamp + 5, image_msg(rgb, stamp, 'rgb8')),
                     ('/gt', stamp + 9, image_msg(labels, stamp, 'mono8'))]
    messages.append(('/cam', 99 * SECOND, image_msg(data.images[0], 99 * SECOND, 'rgb8')))
    write_bag(path, messages)
    return str(path), data


def test_frames_pair_with_their_labels_in_the_taxonomy_and_split_by_order(drive):
    path, data = drive
    topics = dict(image_topic='/cam', gt_topic='/gt', gt_format='camvid')
    train = datasets.load('bag', path, 'train', **topics)
    val = datasets.load('bag', path, 'val', **topics)
    assert (len(train), len(val)) == (8, 2)     # every 5th of the 10 labelled frames; the unlabelled one left out
    assert train.classes == TAXONOMY_CLASSES and train.ignore_index == TAXONOMY_IGNORE
    assert [int(n) // SECOND for n in val.names] == [5, 10]
    for name, rgb, labels in zip(val.names, val.images, val.labels):
        i = int(name) // SECOND - 1
        assert np.array_equal(rgb, data.images[i])
        assert np.array_equal(labels, to_taxonomy(data.labels[i], CAMVID_CLASSES))
    assert len(datasets.load('bag', path, 'train', limit=3, **topics)) == 3


def test_a_missing_topic_is_named_with_what_the_bag_holds(drive):
    with pytest.raises(ValueError, match=r'has no topic /nope; it holds: /cam, /gt'):
        datasets.load('bag', drive[0], 'train', image_topic='/cam', gt_topic='/nope', gt_format='camvid')


def test_training_on_a_bag_runs_and_exports_a_model_of_the_taxonomy(drive, tmp_path):
    torch = pytest.importorskip('torch')
    from seg_perception.training import train

    torch.set_num_threads(1)
    parser = argparse.ArgumentParser()
    train.add_arguments(parser)
    args = parser.parse_args(['--dataset', 'bag', '--root', drive[0], '--image-topic', '/cam', '--gt-topic', '/gt',
                              '--gt-format', 'camvid', '--model', 'pspnet_lite0', '--encoder-weights', 'none',
                              '--iters', '2', '--batch-size', '2', '--crop-height', '64', '--crop-width', '96',
                              '--threads', '1', '--no-progress', '--out', str(tmp_path / 'run'),
                              '--export', str(tmp_path / 'export'), '--name', 'from_bag',
                              '--input-height', '48', '--input-width', '64'])
    result = train.train(args)
    assert result['iterations'] == 2
    manifest = json.loads((tmp_path / 'export' / 'from_bag.json').read_text())
    assert manifest['classes'] == list(TAXONOMY_CLASSES)

"""eval-bag on constructed bags: known predictions give known IoUs, latency and drops; --run equals eval.

Bags are written with the ``rosbags`` library and its standard message types: no ROS graph is involved.
"""

import json

import cv2
import numpy as np
import pytest

from conftest import SECOND, bag_image_msg as image_msg, write_bag
from seg_perception import datasets
from seg_perception.cli import main
from seg_perception.taxonomy import CAMVID_CLASSES, CARLA_TAGS, TAXONOMY_CLASSES, TO_TAXONOMY, class_palette

EVAL_BAG = ['eval-bag', '--pred-classes', 'camvid']   # these bags hold CamVid-id predictions


def carla_tags(rows):
    """An rgb8 CARLA semantic image: the tag of each row in the red channel (green, blue: noise)."""
    tags = np.repeat(np.array([CARLA_TAGS.index(r) for r in rows], np.uint8)[:, None], 4, axis=1)
    return np.stack([tags, np.full_like(tags, 7), np.full_like(tags, 200)], axis=2)


def camvid_ids(rows):
    return np.repeat(np.array([CAMVID_CLASSES.index(r) for r in rows], np.uint8)[:, None], 4, axis=1)


@pytest.fixture
def drive(tmp_path):
    """Three camera frames; ground truth for the first two; the node answered those two, 30 and 50 ms late."""
    messages = []
    for i in range(3):
        stamp = (i + 1) * SECOND
        messages.append(('/image', stamp + 5_000_000, image_msg(np.zeros((4, 4, 3)), stamp, 'rgb8')))
    truth = carla_tags(['sky', 'sky', 'road', 'road'])
    messages.append(('/carla/semantic', SECOND + 6_000_000, image_msg(truth, SECOND, 'rgb8')))
    messages.append(('/carla/semantic', 2 * SECOND + 6_000_000, image_msg(truth, 2 * SECOND, 'rgb8')))
    perfect = camvid_ids(['sky', 'sky', 'road', 'road'])
    half_road = camvid_ids(['sky', 'sky', 'road', 'sidewalk'])
    messages.append(('/segmentation/labels', SECOND + 30_000_000, image_msg(perfect, SECOND, 'mono8')))
    messages.append(('/segmentation/labels', 2 * SECOND + 50_000_000, image_msg(half_road, 2 * SECOND, 'mono8')))
    write_bag(tmp_path / 'drive', messages)
    return tmp_path / 'drive'


def test_known_predictions_give_known_iou_latency_and_drops(drive, tmp_path, capsys):
    out_json, out_html = tmp_path / 'eval.json', tmp_path / 'report' / 'eval.html'
    assert main([*EVAL_BAG, str(drive), '--gt-topic', '/carla/semantic', '--gt-format', 'carla',
                 '--json', str(out_json), '--html', str(out_html)]) == 0
    report = json.loads(out_json.read_text())
    # sky: 16 of 16; road: 12 right of 16 (4 called sidewalk); sidewalk: 4 false positives
    assert report['iou']['sky'] == 100.0 and report['iou']['road'] == 75.0 and report['iou']['sidewalk'] == 0.0
    assert report['miou'] == pytest.approx((100 + 75 + 0) / 3)
    assert report['drivable_iou'] == 75.0
    assert report['frames_scored'] == 2 and report['input_frames'] == 3
    assert report['dropped_share'] == pytest.approx(1 / 3, abs=1e-4)
    assert report['latency_ms']['p50'] == pytest.approx(40.0) and report['latency_ms']['max'] == pytest.approx(50.0)
    assert len(report['confusion']) == len(TAXONOMY_CLASSES)
    page = out_html.read_text()
    for plot in ('confusion', 'latency', 'timeline', 'worst', 'legend'):
        png = tmp_path / 'report' / f'eval_{plot}.png'
        assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
        assert png.name in page
    # the worst frames' ground truth (right half) in the one colour table, named by the legend and the IoU table
    worst = cv2.imread(str(tmp_path / 'report' / 'eval_worst.png'))[:, :, ::-1]
    truth = {tuple(int(v) for v in c) for c in np.unique(worst[:, 240:].reshape(-1, 3), axis=0)}
    assert truth == {class_palette(['road'])[0], class_palette(['sky'])[0]}
    legend = cv2.imread(str(tmp_path / 'report' / 'eval_legend.png'))
    assert legend.shape[1] == worst.shape[1]
    assert '<td style="background:rgb(128,64,128);' in page and '<td style="background:rgb(0,0,142);' in page


def test_missing_topic_is_named_with_what_the_bag_holds(drive, capsys):
    assert main([*EVAL_BAG, str(drive), '--gt-topic', '/nope', '--gt-format', 'carla']) == 2
    err = capsys.readouterr().err
    assert '/nope' in err and '/carla/semantic (sensor_msgs/msg/Image)' in err


def test_colour_ground_truth_is_refused_for_id_formats(drive, capsys):
    assert main([*EVAL_BAG, str(drive), '--gt-topic', '/carla/semantic', '--gt-format', 'cityscapes']) == 2
    assert 'one-channel label-id image' in capsys.readouterr().err


def test_run_over_a_bag_equals_eval_over_the_same_frames(tiny_model, tmp_path, capsys):
    data = datasets.load('rendered', '', 'val', limit=2)
    messages = []
    for i, (rgb, labels) in enumerate(zip(data.images, data.labels)):
        stamp = (i + 1) * SECOND
        messages.append(('/image', stamp, image_msg(rgb, stamp, 'rgb8')))
        messages.append(('/gt', stamp + 1, image_msg(labels, stamp, 'mono8')))
    write_bag(tmp_path / 'rendered', messages)
    assert main(['eval', '--dataset', 'rendered', '--limit', '2', '--model', tiny_model,
                 '--json', str(tmp_path / 'eval.json')]) == 0
    assert main([*EVAL_BAG, str(tmp_path / 'rendered'), '--gt-topic', '/gt', '--gt-format', 'camvid', '--run',
                 '--model', tiny_model, '--json', str(tmp_path / 'bag.json')]) == 0
    offline = json.loads((tmp_path / 'eval.json').read_text())
    from_bag = json.loads((tmp_path / 'bag.json').read_text())
    assert from_bag['frames_scored'] == 2 and from_bag['dropped_share'] == 0
    assert from_bag['miou'] == pytest.approx(offline['miou'])
    # CamVid's 11 classes map one to one onto the taxonomy: the same IoUs under the taxonomy's names
    assert {TO_TAXONOMY[name]: v for name, v in offline['iou'].items()} == from_bag['iou']


def test_palette_ground_truth_is_refused_as_raw_tags_with_the_format_to_use(tmp_path, capsys):
    from seg_perception.taxonomy import CARLA_PALETTE

    road = np.full((4, 4, 3), CARLA_PALETTE[CARLA_TAGS.index('road')], np.uint8)   # red 128: no such tag
    write_bag(tmp_path / 'palette', [('/gt', SECOND, image_msg(road, SECOND, 'rgb8')),
                                     ('/segmentation/labels', SECOND, image_msg(camvid_ids(['road'] * 4), SECOND,
                                                                                'mono8'))])
    assert main([*EVAL_BAG, str(tmp_path / 'palette'), '--gt-topic', '/gt', '--gt-format', 'carla']) == 2
    assert 'carla_palette' in capsys.readouterr().err
    assert main([*EVAL_BAG, str(tmp_path / 'palette'), '--gt-topic', '/gt', '--gt-format', 'carla_palette',
                 '--json', str(tmp_path / 'eval.json')]) == 0
    assert json.loads((tmp_path / 'eval.json').read_text())['iou']['road'] == 100.0


def test_predictions_of_another_aspect_ratio_are_refused(tmp_path, capsys):
    # carla-ros-bridge's example objects.json gives the semantic camera 400 x 70, the RGB camera 800 x 600
    truth = carla_tags(['road'] * 2)
    labels = np.full((6, 8), CAMVID_CLASSES.index('road'), np.uint8)
    write_bag(tmp_path / 'views', [('/gt', SECOND, image_msg(truth, SECOND, 'rgb8')),
                                   ('/segmentation/labels', SECOND, image_msg(labels, SECOND, 'mono8'))])
    assert main([*EVAL_BAG, str(tmp_path / 'views'), '--gt-topic', '/gt', '--gt-format', 'carla']) == 2
    assert 'aspect ratio' in capsys.readouterr().err

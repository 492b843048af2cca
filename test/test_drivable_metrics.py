"""Drivable area (road connected to the ego region) and the IoU metrics, on hand-made label maps."""

import numpy as np

from seg_perception import metrics
from seg_perception.drivable import connected_drivable

ROAD, SKY, CAR = 3, 0, 8


def test_road_connected_to_the_bottom_centre_is_drivable():
    labels = np.full((40, 60), SKY, np.uint8)
    labels[20:, 10:50] = ROAD
    mask = connected_drivable(labels, [ROAD])
    assert mask.dtype == np.uint8
    assert (mask[20:, 10:50] == 255).all() and (mask[:20] == 0).all()


def test_road_cut_off_by_a_car_is_not_drivable():
    labels = np.full((40, 60), SKY, np.uint8)
    labels[10:, 20:40] = ROAD
    labels[25:27, :] = CAR           # a car across the whole lane
    mask = connected_drivable(labels, [ROAD])
    assert (mask[27:, 20:40] == 255).all()
    assert (mask[10:25] == 0).all()


def test_no_road_at_the_ego_region_means_nothing_drivable():
    labels = np.full((40, 60), SKY, np.uint8)
    labels[5:15, 5:15] = ROAD
    assert connected_drivable(labels, [ROAD]).max() == 0


def test_confusion_matrix_and_iou_of_a_known_prediction():
    truth = np.array([[0, 0, 1, 1], [2, 2, 2, 255]])
    pred = np.array([[0, 1, 1, 1], [2, 2, 0, 0]])
    cm = metrics.confusion_matrix(truth, pred, 3, ignore_index=255)
    assert cm.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 2]]
    iou = metrics.iou_per_class(cm)
    np.testing.assert_allclose(iou, [1 / 3, 2 / 3, 2 / 3])
    s = metrics.summary(cm, ['a', 'b', 'c'])
    assert abs(s['miou'] - 100 * (1 / 3 + 2 / 3 + 2 / 3) / 3) < 1e-9
    assert abs(s['pixel_accuracy'] - 100 * 5 / 7) < 1e-9


def test_class_absent_everywhere_is_left_out_of_the_mean():
    cm = metrics.confusion_matrix(np.array([0, 0, 1]), np.array([0, 0, 1]), 3)
    s = metrics.summary(cm, ['a', 'b', 'c'])
    assert s['iou']['c'] is None and s['miou'] == 100.0

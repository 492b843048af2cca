"""The shipped default model: complete manifest, matching files, backends that agree, sensible labels."""

import glob
import os

import cv2
import numpy as np
import pytest

from seg_perception import Segmenter, metrics
from seg_perception.model_files import default_model
from seg_perception.ros.demo import SAMPLE_DIR


@pytest.fixture(scope='module')
def onnx_segmenter():
    return Segmenter.default(backend='onnxruntime', threads=2)


def _sample(index):
    rgb = cv2.imread(os.path.join(SAMPLE_DIR, f'frame_{index:03d}.jpg'))[:, :, ::-1].copy()
    labels = cv2.imread(os.path.join(SAMPLE_DIR, f'labels_{index:03d}.png'), cv2.IMREAD_UNCHANGED)
    return rgb, labels


def test_manifest_records_what_a_user_needs():
    model = default_model()
    m = model.manifest
    assert m['architecture'] in ('pspnet_lite0', 'pspnet', 'frrn_a', 'frrn_b', 'frrn_cpu')
    assert len(m['classes']) == 11
    h, w = m['input']['height'], m['input']['width']
    assert w >= 480 and w * 3 == h * 4                       # 4:3 like the cameras it was trained on
    assert m['input']['normalisation']['mean'] and m['input']['normalisation']['std']
    assert m['training']['data'] and m['training']['recipe'] and m['training']['command']
    assert 'encoder_origin' in m['training']
    stages = m['training'].get('stages', [])
    assert len({stage['command'] for stage in stages}) == len(stages)          # each stage recorded once
    if stages:
        assert sum(stage['wall_s'] for stage in stages) == pytest.approx(m['training']['wall_s'], abs=1.0)
        assert m['training']['command'] == ' && '.join(stage['command'] for stage in stages)
    assert 0 < m['validation']['miou'] <= 100
    for role in m['files']:
        assert os.path.getsize(model.path(role)) < 20_000_000    # path() also checks the sha256


def test_torch_and_onnxruntime_backends_agree_on_the_shipped_model(onnx_segmenter):
    pytest.importorskip('torch')
    torch_segmenter = Segmenter.default(backend='torch', threads=2)
    rgb, _ = _sample(0)
    a, b = onnx_segmenter.segment(rgb).labels, torch_segmenter.segment(rgb).labels
    assert (a == b).mean() >= 0.999


def test_shipped_model_recognises_road_sky_and_buildings_in_the_sample(onnx_segmenter):
    classes = onnx_segmenter.classes
    frames = sorted(glob.glob(os.path.join(SAMPLE_DIR, 'frame_*.jpg')))
    confusion = np.zeros((len(classes), len(classes)), np.int64)
    for index in range(0, len(frames), 10):
        rgb, truth = _sample(index)
        confusion += metrics.confusion_matrix(truth, onnx_segmenter.segment(rgb).labels, len(classes), 11)
    summary = metrics.summary(confusion, classes)
    assert summary['pixel_accuracy'] > 80
    for name in ('road', 'sky', 'building'):
        assert summary['iou'][name] > 60, (name, summary['iou'])


# -- the CPU-sized FRRN, shipped beside the default ------------------------------------------------------------

@pytest.fixture(scope='module')
def frrn_segmenter():
    return Segmenter.from_model('frrn_cpu_camvid', threads=2)


def test_shipped_frrn_manifest_records_how_it_was_made_and_stored():
    model = default_model('frrn_cpu_camvid')
    m = model.manifest
    assert m['architecture'] == 'frrn_cpu' and m['training']['encoder_weights'] == 'none'
    assert m['input']['height'] % 16 == 0 and m['input']['width'] == 480
    assert m['training']['command'].startswith('seg-perception train --model frrn_cpu')
    assert 0 < m['validation']['miou'] <= 100 and set(m['validation']['iou']) == set(m['classes'])
    check = m['weights_storage_check']
    assert check['labels_changed'] < 0.005 and check['bytes_after'] < check['bytes_before']
    for role in m['files']:
        assert os.path.getsize(model.path(role)) < 20_000_000    # path() also checks the sha256


def test_shipped_frrn_labels_road_and_sky_in_the_sample(frrn_segmenter):
    classes = frrn_segmenter.classes
    confusion = np.zeros((len(classes), len(classes)), np.int64)
    for index in (0, 10, 20):
        rgb, truth = _sample(index)
        out = frrn_segmenter.segment(rgb)
        assert out.labels.shape == truth.shape
        confusion += metrics.confusion_matrix(truth, out.labels, len(classes), 11)
    summary = metrics.summary(confusion, classes)
    for name in ('road', 'sky'):
        assert summary['iou'][name] > 60, (name, summary['iou'])


# -- the per-class logit offsets both shipped models carry ---------------------------------------------------------

@pytest.mark.parametrize('name', ['pspnet_lite0_camvid_wiseft', 'pspnet_lite0_camvid', 'frrn_cpu_camvid'])
def test_shipped_offsets_keep_the_safety_orders_and_are_in_the_graph(name):
    onnx = pytest.importorskip('onnx')
    from onnx import numpy_helper

    from seg_perception.training.class_bias import safety_orders

    model = default_model(name)
    bias = model.class_bias
    assert bias is not None and len(bias) == len(model.classes)
    record = model.manifest['class_bias']
    assert record['chosen_on'].startswith('camvid train')      # never the split the figures are measured on
    for a, b in safety_orders(model.classes):
        assert bias[a] <= bias[b], (model.classes[a], model.classes[b])
    graph = onnx.load(model.path('onnx')).graph
    tensors = [numpy_helper.to_array(t).ravel() for t in graph.initializer if len(t.dims) == 4 and t.dims[1] == 11]
    assert any(t.size == 11 and np.allclose(t, bias) for t in tensors)

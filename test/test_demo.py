"""The README's main job: the real node in its own process, fed the bundled sample frames over ROS 2."""

import json
import os
import random

import cv2
import numpy as np
import pytest

from seg_perception.ros.demo import SAMPLE_DIR, run_demo, sample_frames
from seg_perception.taxonomy import OUTSIDE_COLOUR, TAXONOMY_PALETTE, legend_strip

pytestmark = pytest.mark.ros


def test_bundled_sample_sequence_is_there():
    frames = sample_frames()
    assert len(frames) >= 10
    assert all(f.shape == (360, 480, 3) for f in frames)
    assert os.path.isdir(SAMPLE_DIR)


def test_demo_writes_overlays_and_a_summary(tiny_model, tmp_path, monkeypatch):
    monkeypatch.setenv('ROS_DOMAIN_ID', str(random.randint(50, 200)))
    out = tmp_path / 'out'
    assert run_demo(out=str(out), model=tiny_model, rate_hz=4.0, max_frames=4) == 0
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['frames_sent'] == 4 and summary['frames_answered'] >= 1
    assert summary['latency_ms']['p50'] > 0
    assert abs(sum(summary['class_shares'].values()) - 1.0) < 0.01
    overlays = sorted(p for p in os.listdir(out) if p.startswith('overlay_'))
    assert overlays and (out / 'summary.md').exists() and (out / 'contact_sheet.jpg').exists()
    # the labels in the one colour table; the contact sheet with the legend strip under its overlays
    coloured = sorted(p for p in os.listdir(out) if p.startswith('labels_color_'))
    assert len(coloured) == summary['frames_answered']
    for name in coloured:
        rgb = cv2.imread(str(out / name))[:, :, ::-1]
        colours = {tuple(int(v) for v in c) for c in np.unique(rgb.reshape(-1, 3), axis=0)}
        assert colours <= set(TAXONOMY_PALETTE) | {OUTSIDE_COLOUR}, name
    sheet = cv2.imread(str(out / 'contact_sheet.jpg'))[:, :, ::-1].astype(np.int16)
    legend = legend_strip(sheet.shape[1]).astype(np.int16)
    assert np.abs(sheet[-legend.shape[0]:] - legend).mean() < 4        # as drawn, up to jpeg's losses

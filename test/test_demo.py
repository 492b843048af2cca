"""The README's main job: the real node in its own process, fed the bundled sample frames over ROS 2."""

import json
import os
import random

import pytest

from seg_perception.ros.demo import SAMPLE_DIR, run_demo, sample_frames

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

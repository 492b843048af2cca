"""eval-bag's degraded frames against ground-truth accuracy, on constructed bags whose outcomes are known per frame.

A recorded node's verdicts come from its /diagnostics statuses (by input stamp, or from the counts); with
``--run`` from Segmenter over camera frames, some of them corrupted so that the trust check fires.
"""

import json

import cv2
import numpy as np
import pytest

from conftest import NO_STRETCH, SECOND, bag_image_msg as image_msg, painted_street, write_bag
from seg_perception.bags.evaluate import evaluate_bag
from seg_perception.bags.format import TYPESTORE
from seg_perception.bags.report import timeline_marks, write_html
from seg_perception.cli import main
from seg_perception.corruptions import corrupt
from seg_perception.status_keys import (ALARM_COUNT_KEY, ALARM_KEY, ALARM_STAMPS_KEY, DEGRADED_COUNT_KEY,
                                        DEGRADED_KEY, DEGRADED_REASONS_KEY, DEGRADED_STAMPS_KEY, format_alarm_stamps,
                                        parse_degraded_reasons)
from seg_perception.taxonomy import CAMVID_CLASSES, CARLA_PALETTE, CARLA_TAGS

EVAL_BAG = ['eval-bag', '--pred-classes', 'camvid']   # these bags hold CamVid-id predictions
GT_TOPIC = '/carla/semantic'
Header = TYPESTORE.types['std_msgs/msg/Header']
Time = TYPESTORE.types['builtin_interfaces/msg/Time']
DiagnosticArray = TYPESTORE.types['diagnostic_msgs/msg/DiagnosticArray']
DiagnosticStatus = TYPESTORE.types['diagnostic_msgs/msg/DiagnosticStatus']
KeyValue = TYPESTORE.types['diagnostic_msgs/msg/KeyValue']


def carla_street():
    """CARLA CityScapesPalette ground truth (rgb8) of conftest.painted_street: sky, buildings, road, pavements."""
    tags = np.full((120, 160), CARLA_TAGS.index('sidewalk'))
    tags[:54] = CARLA_TAGS.index('sky')
    tags[:54, :20] = tags[:54, 140:] = CARLA_TAGS.index('building')
    tags[54:, 20:140] = CARLA_TAGS.index('road')
    return np.array(CARLA_PALETTE, np.uint8)[tags]


def street_labels(wrong=False):
    """CamVid labels of the 12 x 12 street (sky over road); ``wrong``: building everywhere (0% accurate)."""
    labels = np.full((12, 12), CAMVID_CLASSES.index('building' if wrong else 'sky'), np.uint8)
    if not wrong:
        labels[6:] = CAMVID_CLASSES.index('road')
    return labels


def street_truth():
    tags = np.full((12, 12), CARLA_TAGS.index('sky'), np.uint8)
    tags[6:] = CARLA_TAGS.index('road')
    return np.array(CARLA_PALETTE, np.uint8)[tags]


def status_msg(stamp_ns, values):
    status = DiagnosticStatus(level=0, name='seg_node: segmentation', message='', hardware_id='cpu',
                              values=[KeyValue(key=k, value=v) for k, v in values.items()])
    return DiagnosticArray(header=Header(stamp=Time(sec=stamp_ns // SECOND, nanosec=stamp_ns % SECOND),
                                         frame_id=''), status=[status])


# (labels wrong, degraded reasons, alarm) of five frames with known verdicts: trusted and right; degraded though
# right (over-caution); wrong and silent (a silent failure); wrong and degraded; wrong and alarmed
FRAMES = [(False, (), False), (False, ('noise',), False), (True, (), False),
          (True, ('one_class', 'no_road_or_vehicle_below'), False), (True, (), True)]
STATUS_AFTER = (1, 2, 3, 4)     # the frames after which a status goes out (at once on a rise, and periodically)


def node_recording(path, exact):
    """The five frames as the node records them, its statuses with the per-frame stamps (``exact``) or counts only."""
    messages, alarms, degraded, alarm_stamps, degraded_stamps, reasons = [], 0, 0, [], [], ''
    for i, (wrong, frame_reasons, alarm) in enumerate(FRAMES):
        stamp = (i + 1) * SECOND
        messages.append((GT_TOPIC, stamp + 1_000_000, image_msg(street_truth(), stamp, 'rgb8')))
        messages.append(('/segmentation/labels', stamp + 30_000_000, image_msg(street_labels(wrong), stamp, 'mono8')))
        alarms += alarm
        degraded += bool(frame_reasons)
        alarm_stamps += [stamp] if alarm else []
        degraded_stamps += [stamp] if frame_reasons else []
        reasons = ', '.join(frame_reasons) or reasons      # the node keeps the last degraded frame's reasons
        if i in STATUS_AFTER:
            values = {ALARM_KEY: str(alarm).lower(), ALARM_COUNT_KEY: str(alarms),
                      DEGRADED_KEY: str(bool(frame_reasons)).lower(), DEGRADED_COUNT_KEY: str(degraded),
                      DEGRADED_REASONS_KEY: reasons}
            if exact:
                values[ALARM_STAMPS_KEY] = format_alarm_stamps(alarm_stamps)
                values[DEGRADED_STAMPS_KEY] = format_alarm_stamps(degraded_stamps)
            messages.append(('/diagnostics', stamp + 31_000_000, status_msg(stamp + 31_000_000, values)))
            alarm_stamps, degraded_stamps = [], []
    write_bag(path, messages)
    return path


def test_degraded_reasons_are_parsed_per_camera_and_once():
    assert parse_degraded_reasons('noise, low_margin') == ('noise', 'low_margin')
    assert parse_degraded_reasons('left: noise; right: blur, noise') == ('noise', 'blur')
    assert parse_degraded_reasons('none') == () and parse_degraded_reasons('') == ()


@pytest.mark.parametrize('exact', [True, False])
def test_recorded_degraded_frames_give_known_silent_failures_and_over_caution(tmp_path, exact):
    evaluation = evaluate_bag(str(node_recording(tmp_path / 'drive', exact)), GT_TOPIC, 'carla_palette',
                              pred_classes=CAMVID_CLASSES)
    assert [f.accuracy for f in evaluation.frames] == [1.0, 1.0, 0.0, 0.0, 0.0]
    assert [f.degraded for f in evaluation.frames] == [False, True, False, True, False]
    assert evaluation.frames[3].degraded_reasons == ('one_class', 'no_road_or_vehicle_below')
    report = evaluation.report['degraded']
    assert report['degraded_source'].startswith('/diagnostics')
    assert ('by input stamp' in report['degraded_source']) == exact
    assert report['frames_with_degraded_verdict'] == 5 and report['degraded_frames'] == 2
    assert report['degraded_reasons'] == {'no_road_or_vehicle_below': 1, 'noise': 1, 'one_class': 1}
    assert report['failing_frames'] == 3 and report['silent_failures'] == 1
    assert report['silent_failure_rate'] == 0.2 and report['silent_of_failing'] == pytest.approx(1 / 3, abs=1e-4)
    assert report['accurate_frames'] == 2 and report['cautious_frames'] == 1 and report['over_caution'] == 0.5
    assert report['silent_failure_stamps_ns'] == [3 * SECOND]
    assert report['degraded_stamps_ns'] == [2 * SECOND, 4 * SECOND]


def test_a_recording_without_degraded_keys_has_no_verdict(tmp_path):
    stamp = SECOND
    write_bag(tmp_path / 'old', [
        (GT_TOPIC, stamp, image_msg(street_truth(), stamp, 'rgb8')),
        ('/segmentation/labels', stamp, image_msg(street_labels(wrong=True), stamp, 'mono8')),
        ('/diagnostics', stamp + 1, status_msg(stamp + 1, {ALARM_KEY: 'false', ALARM_COUNT_KEY: '0'}))])
    report = evaluate_bag(str(tmp_path / 'old'), GT_TOPIC, 'carla_palette',
                          pred_classes=CAMVID_CLASSES).report['degraded']
    assert report['degraded_source'] is None and report['frames_with_degraded_verdict'] == 0
    assert report['failing_frames'] == 0 and report['silent_failure_rate'] is None   # not judged: not silent
    assert report['pixel_accuracy_mean'] == 0.0


def test_html_timeline_marks_degraded_frames_and_silent_failures(tmp_path):
    evaluation = evaluate_bag(str(node_recording(tmp_path / 'drive', exact=True)), GT_TOPIC, 'carla_palette',
                              pred_classes=CAMVID_CLASSES, keep_images=True)
    marks = {label: (marker, color, times) for label, marker, color, _, times in timeline_marks(evaluation)}
    assert marks['degraded'][2] == [1.0, 3.0] and marks['silent failure'][2] == [2.0]
    assert marks['alarm'][2] == [4.0]
    assert len({(marker, color) for marker, color, _ in marks.values()}) == len(marks)    # each kind its own mark
    paths = write_html(evaluation, str(tmp_path / 'report' / 'drive.html'))
    page = open(paths[0]).read()
    assert 'Degraded frames against ground-truth accuracy' in page and 'silent-failure rate' in page
    assert '<tr><td>noise</td><td>1</td></tr>' in page
    # the degraded marks (tab:olive, #bcbd22) are drawn on the timeline
    timeline = cv2.imread(str(tmp_path / 'report' / 'drive_timeline.png'))[:, :, ::-1].astype(int)
    olive = np.all(np.abs(timeline - (0xbc, 0xbd, 0x22)) <= 8, axis=2)
    assert olive.sum() > 20


def test_run_over_corrupted_frames_counts_degraded_and_silent_failures(palette_model, tmp_path):
    """--run: a clean frame with a mismatched ground truth fails silently; noise is degraded, right or not."""
    street, truth = painted_street(), carla_street()
    wrong_truth = truth.copy()
    wrong_truth[54:] = CARLA_PALETTE[CARLA_TAGS.index('building')]    # not what the camera sees
    frames = [(street, wrong_truth), (street, truth),
              (corrupt(street, 'gaussian_noise', 1, np.random.default_rng(0)), truth),    # mild: still right
              (corrupt(street, 'gaussian_noise', 5, np.random.default_rng(0)), truth)]    # severe: denoised, right
    messages = []
    for i, (camera, gt) in enumerate(frames):
        stamp = (i + 1) * SECOND
        messages.append(('/image', stamp, image_msg(camera, stamp, 'rgb8')))
        messages.append((GT_TOPIC, stamp, image_msg(gt, stamp, 'rgb8')))
    write_bag(tmp_path / 'noisy', messages)
    out_json, out_html = tmp_path / 'run.json', tmp_path / 'run.html'
    assert main([*EVAL_BAG, str(tmp_path / 'noisy'), '--gt-topic', GT_TOPIC, '--gt-format', 'carla_palette',
                 '--run', '--model', palette_model, '--json', str(out_json), '--html', str(out_html),
                 *[arg for name, value in NO_STRETCH.items() for arg in ('--set', f'{name}={value}')],
                 '--set', 'trust_max_noise_sigma=10']) == 0      # mild noise on the painted street measures 10-15
    report = json.loads(out_json.read_text())['degraded']
    assert report['degraded_source'] == 'Segmenter (--run)' and report['frames_with_degraded_verdict'] == 4
    assert report['degraded_frames'] == 2 and report['degraded_reasons']['noise'] == 2
    assert report['degraded_stamps_ns'] == [3 * SECOND, 4 * SECOND]
    assert report['failing_frames'] == 1 and report['silent_failures'] == 1
    assert report['silent_failure_stamps_ns'] == [SECOND] and report['silent_failure_rate'] == 0.25
    # the noisy frames are read right once denoised, and still degraded: the trust check judges the frame as it came
    assert report['accurate_frames'] == 3 and report['cautious_frames'] == 2
    assert report['over_caution'] == pytest.approx(2 / 3, abs=1e-4)
    assert 'Degraded frames against ground-truth accuracy' in out_html.read_text()

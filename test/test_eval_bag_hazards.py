"""eval-bag's ambiguity alarms against hazards, on constructed bags whose outcomes are known frame by frame.

Ground truth is CARLA's CityScapesPalette as carla-ros-bridge publishes it (bgra8); the node's labels, drivable
area and /diagnostics statuses are written as a recording of the node would hold them.
"""

import json

import numpy as np
import pytest

from conftest import SECOND, bag_image_msg as image_msg, write_bag
from seg_perception.bags.evaluate import alarms_from_counts, evaluate_bag
from seg_perception.bags.hazards import HazardRule, hazard, path_ahead
from seg_perception.bags.format import TYPESTORE
from seg_perception.cli import main
from seg_perception.status_keys import ALARM_COUNT_KEY, ALARM_STAMPS_KEY, format_alarm_stamps, parse_alarm_stamps
from seg_perception.taxonomy import CAMVID_CLASSES, CARLA_PALETTE, CARLA_TAGS, TAXONOMY_CLASSES

EVAL_BAG = ['eval-bag', '--pred-classes', 'camvid']   # these bags hold CamVid-id predictions

Header = TYPESTORE.types['std_msgs/msg/Header']
Time = TYPESTORE.types['builtin_interfaces/msg/Time']
DiagnosticArray = TYPESTORE.types['diagnostic_msgs/msg/DiagnosticArray']
DiagnosticStatus = TYPESTORE.types['diagnostic_msgs/msg/DiagnosticStatus']
KeyValue = TYPESTORE.types['diagnostic_msgs/msg/KeyValue']
GT_TOPIC = '/carla/ego_vehicle/semantic_segmentation_front/image'
T = {name: i for i, name in enumerate(TAXONOMY_CLASSES)}


def header(stamp_ns):
    return Header(stamp=Time(sec=stamp_ns // SECOND, nanosec=stamp_ns % SECOND), frame_id='camera')


def status_msg(stamp_ns, count, now, stamps=None):
    values = {ALARM_COUNT_KEY: str(count), 'alarm': 'true' if now else 'false'}
    if stamps is not None:
        values[ALARM_STAMPS_KEY] = format_alarm_stamps(stamps)
    status = DiagnosticStatus(level=2 if now else 0, name='seg_node: segmentation', message='', hardware_id='cpu',
                              values=[KeyValue(key=k, value=v) for k, v in values.items()])
    return DiagnosticArray(header=header(stamp_ns), status=[status])


def palette_bgra(tag_rows):
    """A bgra8 CityScapesPalette image (as carla-ros-bridge publishes it) from rows of 0.9.14+ tag names."""
    rgb = np.array([[CARLA_PALETTE[CARLA_TAGS.index(name)] for name in row] for row in tag_rows], np.uint8)
    return np.concatenate([rgb[:, :, ::-1], np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=2)


# A 12 x 12 street: sky above row 6, road below; with a car, rows 6..9 of columns 4..7 (the path ahead is the
# central third of the columns, 4..7, below row 6, so the car fills 16 of its pixels).
CAR = (slice(6, 10), slice(4, 8))


def street_tags(car):
    rows = [['sky'] * 12 for _ in range(6)] + [['road'] * 12 for _ in range(6)]
    if car:
        for r in range(6, 10):
            rows[r][4:8] = ['car'] * 4
    return rows


def camvid_labels(car_as=None):
    labels = np.full((12, 12), CAMVID_CLASSES.index('sky'), np.uint8)
    labels[6:] = CAMVID_CLASSES.index('road')
    if car_as is not None:
        labels[CAR] = CAMVID_CLASSES.index(car_as)
    return labels


def drivable_mask(over_car):
    mask = np.zeros((12, 12), np.uint8)
    mask[6 if over_car else 10:] = 255
    return mask


# (car in ground truth, what the prediction calls it, alarm, drivable area over the car): five frames with known
# verdicts: a caught hazard, a missed one (and the drivable area runs over the car), a false alarm, a car seen
# rightly (no hazard), a clear road.
FRAMES = [(True, 'sky', True, False), (True, 'road', False, True), (False, None, True, False),
          (True, 'car', False, False), (False, None, False, False)]


def node_recording(path, exact):
    """The five frames as the node records them, with its statuses (at once when the alarm rises, and periodically).

    The statuses carry the per-frame alarm stamps with ``exact``, else only the alarm counts.
    """
    messages, count, alarm_stamps = [], 0, []
    statuses = {0: True, 1: False, 2: True, 4: False}     # after which frame a status goes out
    for i, (car, car_as, alarm, over_car) in enumerate(FRAMES):
        stamp = (i + 1) * SECOND
        messages.append((GT_TOPIC, stamp + 1_000_000,
                         image_msg(palette_bgra(street_tags(car)), stamp, 'bgra8')))
        messages.append(('/segmentation/labels', stamp + 30_000_000,
                         image_msg(camvid_labels(car_as), stamp, 'mono8')))
        messages.append(('/segmentation/drivable', stamp + 30_000_000,
                         image_msg(drivable_mask(over_car), stamp, 'mono8')))
        count += alarm
        alarm_stamps += [stamp] if alarm else []
        if i in statuses:
            messages.append(('/diagnostics', stamp + 31_000_000,
                             status_msg(stamp + 31_000_000, count, alarm, alarm_stamps if exact else None)))
            alarm_stamps = []
    write_bag(path, messages)
    return path


def test_path_ahead_is_the_central_third_below_the_horizon():
    mask = path_ahead((12, 12))
    assert mask.sum() == 6 * 4
    assert mask[6:, 4:8].all() and not mask[:6].any()


def test_obstacle_on_the_path_called_sky_or_road_is_a_hazard():
    truth = np.full((12, 12), T['road'], np.uint8)
    truth[:6] = T['sky']
    truth[CAR] = T['vehicle']
    for called, expected in (('sky', True), ('road', True), ('vehicle', False), ('building', False)):
        pred = truth.copy()
        pred[CAR] = T[called]
        assert hazard(truth, pred) == expected, called
    pred = truth.copy()
    pred[6:8, 4:8] = T['sky']       # 8 of 16 pixels: a hazard at the default 20%, not at 60%
    assert hazard(truth, pred) and not hazard(truth, pred, HazardRule(misread_share=0.6))
    beside = np.where(truth == T['vehicle'], T['road'], truth)
    beside[6:10, 0:3] = T['vehicle']     # a car beside the path, called sky: not on the path, not a hazard
    assert not hazard(beside, np.where(beside == T['vehicle'], T['sky'], beside))


def test_hazard_rule_shares_out_of_range_are_refused(tmp_path, capsys):
    with pytest.raises(ValueError, match='misread_share must be a share between 0 and 1'):
        HazardRule(misread_share=20)
    assert main([*EVAL_BAG, str(tmp_path), '--gt-topic', GT_TOPIC, '--gt-format', 'carla_palette',
                 '--horizon', '1.5']) == 2
    assert 'horizon_frac' in capsys.readouterr().err


def test_alarm_stamps_round_trip():
    stamps = [5 * SECOND + 7, 6 * SECOND]
    assert format_alarm_stamps(stamps) == '5.000000007 6.000000000'
    assert parse_alarm_stamps(format_alarm_stamps(stamps)) == stamps and parse_alarm_stamps('') == []


def test_alarm_counts_go_to_the_first_labels_while_a_run_goes_on_else_to_the_last():
    labels = [(t, t) for t in range(1, 7)]
    # the alarm rose on frame 2 (status at once), held on frame 3, cleared; rose again on frame 6
    statuses = [(2, 1, True), (5, 2, False), (6, 3, True)]
    assert alarms_from_counts(labels, statuses) == {1: False, 2: True, 3: True, 4: False, 5: False, 6: True}
    assert alarms_from_counts(labels, [(3, 1, True)]) == {1: False, 2: False, 3: True}   # 4..6: no verdict


@pytest.mark.parametrize('exact', [True, False])
def test_recorded_alarms_against_hazards_give_known_recall_false_alarms_and_violations(tmp_path, exact):
    bag = node_recording(tmp_path / 'drive', exact)
    hazards = evaluate_bag(str(bag), GT_TOPIC, 'carla_palette').report['hazards']
    assert hazards['alarm_source'].startswith('/diagnostics')
    assert ('by input stamp' in hazards['alarm_source']) == exact
    assert hazards['hazard_frames'] == 2 and hazards['hazard_free_frames'] == 3
    assert hazards['alarm_recall'] == 0.5 and hazards['false_alarm_rate'] == pytest.approx(1 / 3, abs=1e-4)
    assert hazards['missed_hazard_stamps_ns'] == [2 * SECOND]
    assert hazards['frames_with_drivable'] == 5 and hazards['drivable_violation_frames'] == 1
    assert hazards['drivable_violation_stamps_ns'] == [2 * SECOND]


def test_hazard_figures_are_in_the_json_and_the_html(tmp_path):
    bag = node_recording(tmp_path / 'drive', exact=True)
    out_json, out_html = tmp_path / 'eval.json', tmp_path / 'eval.html'
    assert main([*EVAL_BAG, str(bag), '--gt-topic', GT_TOPIC, '--gt-format', 'carla_palette',
                 '--json', str(out_json), '--html', str(out_html)]) == 0
    report = json.loads(out_json.read_text())
    assert report['hazards']['alarm_recall'] == 0.5
    assert report['iou']['vehicle'] == pytest.approx(100 * 16 / 48, abs=0.01)    # one car of three seen rightly
    page = out_html.read_text()
    assert 'Ambiguity alarms against hazards' in page and 'alarm recall on hazard frames' in page


def test_without_diagnostics_there_is_no_alarm_verdict(tmp_path):
    stamp = SECOND
    write_bag(tmp_path / 'bare', [
        (GT_TOPIC, stamp, image_msg(palette_bgra(street_tags(True)), stamp, 'bgra8')),
        ('/segmentation/labels', stamp, image_msg(camvid_labels('sky'), stamp, 'mono8'))])
    hazards = evaluate_bag(str(tmp_path / 'bare'), GT_TOPIC, 'carla_palette').report['hazards']
    assert hazards['hazard_frames'] == 1 and hazards['alarm_source'] is None
    assert hazards['alarm_recall'] is None and hazards['drivable_violation_share'] is None


def test_run_raises_the_alarm_on_a_sky_coloured_trailer_across_the_road(palette_model, painted_frames, tmp_path):
    """--run: Segmenter's alarm and drivable area, scored against CARLA palette ground truth of the same scene."""
    messages = []
    for i, trailer in enumerate((False, True)):
        stamp = (i + 1) * SECOND
        truth = np.array(CARLA_PALETTE, np.uint8)[np.full((120, 160), CARLA_TAGS.index('sidewalk'))]
        truth[:54] = CARLA_PALETTE[CARLA_TAGS.index('sky')]
        truth[:54, :20] = truth[:54, 140:] = CARLA_PALETTE[CARLA_TAGS.index('building')]
        truth[54:, 20:140] = CARLA_PALETTE[CARLA_TAGS.index('road')]
        if trailer:
            truth[58:88, 10:150] = CARLA_PALETTE[CARLA_TAGS.index('truck')]
        camera = painted_frames['hazard' if trailer else 'clear']     # the same scene in CamVid colours
        messages.append(('/image', stamp, image_msg(camera, stamp, 'rgb8')))
        messages.append((GT_TOPIC, stamp, image_msg(truth, stamp, 'rgb8')))
    write_bag(tmp_path / 'painted', messages)
    out_json = tmp_path / 'run.json'
    assert main([*EVAL_BAG, str(tmp_path / 'painted'), '--gt-topic', GT_TOPIC, '--gt-format', 'carla_palette',
                 '--run', '--model', palette_model, '--json', str(out_json)]) == 0
    hazards = json.loads(out_json.read_text())['hazards']
    assert hazards['alarm_source'] == 'Segmenter (--run)'
    assert hazards['hazard_frames'] == 1 and hazards['alarm_recall'] == 1.0
    assert hazards['hazard_free_frames'] == 1 and hazards['false_alarm_rate'] == 0.0
    assert hazards['frames_with_drivable'] == 2 and hazards['drivable_violation_frames'] == 0

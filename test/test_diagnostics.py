"""The node's status from hand-made counts (seg_perception.ros.diagnostics): levels, messages and values."""

from collections import Counter
from types import SimpleNamespace

from diagnostic_msgs.msg import DiagnosticStatus

from seg_perception.ambiguity import Reason
from seg_perception.ros.diagnostics import (FRAME_KINDS, LATENCY_STAGES, ErrorThrottle, Report, alarm_text,
                                            degraded_text, diagnostic_status, health, no_alarm, not_degraded,
                                            status_level, status_values)
from seg_perception.status_keys import (DEGRADED_COUNT_KEY, DEGRADED_KEY, DEGRADED_REASONS_KEY, DEGRADED_STAMPS_KEY,
                                        frame_counts, parse_alarm_stamps, status_name)

OK, WARN, ERROR = DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR
MODEL = SimpleNamespace(name='tiny', manifest_path='/models/tiny.json',
                        manifest={'sha256': {'onnx': 'ab' * 32, 'pt': 'cd' * 32}})
TOPICS = ('/image', '/image/compressed')


def report(counts=(), recent=(), alarm=None, fallback='', latency_ms=None, per_camera=None, degraded=None,
           **fields) -> Report:
    values = dict(node_name='/ns/seg_node', backend='onnxruntime on cpu', fallback=fallback, model=MODEL, crf='none',
                  input_topics=TOPICS, counts=Counter(dict(counts)), recent=Counter(dict(recent)), elapsed_s=2.0,
                  latency_ms=latency_ms or {stage: [] for stage in LATENCY_STAGES}, last_error='',
                  alarm=alarm or no_alarm(), horizon='-', frame_id_change='none', reloads=0, reload_error='none',
                  per_camera=per_camera or {'camera': Counter()}, degraded=degraded or not_degraded())
    values.update(fields)
    return Report(**values)


def test_a_node_that_has_received_nothing_is_ok_and_names_its_inputs():
    assert health(Counter(), Counter(), '', TOPICS) == (OK, 'waiting for images on /image, /image/compressed')


def test_frames_segmented_without_trouble_are_ok():
    counts = Counter(received=10, processed=10)
    assert health(counts, counts, '', TOPICS) == (OK, 'segmenting')


def test_drops_warn_and_failures_with_nothing_segmented_are_an_error_naming_the_last():
    assert health(Counter(received=10), Counter(received=10, processed=6, dropped=4), '', TOPICS) == (
        WARN, 'dropping frames: 4 of 10 since the last status (input faster than segmentation)')
    assert health(Counter(received=9), Counter(received=5, processed=3, rejected=1, failed=1, dropped=3), '',
                  TOPICS) == (WARN, '1 input(s) rejected, 1 failed since the last status')
    assert health(Counter(received=9), Counter(received=3, rejected=3), 'image 1x1 rgb8: too small', TOPICS) == (
        ERROR, 'no frame segmented: 3 input(s) failed since the last status; last error: image 1x1 rgb8: too small')


def test_health_is_about_the_frames_since_the_last_status_not_since_the_start():
    counts = Counter(received=100, processed=50, rejected=50)
    assert health(counts, Counter(received=5, processed=5), '', TOPICS) == (OK, 'segmenting')


def test_an_alarm_now_is_an_error_whatever_the_counts():
    alarm = dict(no_alarm(), latest=True, frames=1, since_status=1, reasons='sky below the horizon')
    level, message = status_level(report(counts={'received': 3}, recent={'received': 3, 'dropped': 2}, alarm=alarm))
    assert (level, message) == (ERROR, 'ALARM, ambiguity on the path ahead: sky below the horizon')


def test_an_alarm_that_cleared_since_the_last_status_still_warns_before_the_health():
    alarm = dict(no_alarm(), frames=2, since_status=2, reasons='vehicle over road')
    counts = {'received': 4, 'processed': 4}
    assert status_level(report(counts=counts, recent=counts, alarm=alarm)) == (
        WARN, 'alarm on 2 frame(s) since the last status, clear now (last: vehicle over road); segmenting')


def test_a_degraded_newest_frame_is_an_error_naming_its_reasons_whatever_the_counts():
    degraded = dict(not_degraded(), latest=True, frames=1, since_status=1, reasons='noise, low_margin')
    counts = {'received': 4, 'processed': 4}
    assert status_level(report(counts=counts, recent={'received': 3, 'dropped': 2}, degraded=degraded)) == (
        ERROR, 'degraded: noise, low_margin')


def test_an_alarm_and_a_degraded_frame_at_once_are_one_error_naming_both():
    alarm = dict(no_alarm(), latest=True, frames=1, since_status=1, reasons='sky below the horizon')
    degraded = dict(not_degraded(), latest=True, frames=1, since_status=1, reasons='blur')
    assert status_level(report(alarm=alarm, degraded=degraded)) == (
        ERROR, 'ALARM, ambiguity on the path ahead: sky below the horizon; degraded: blur')


def test_a_frame_degraded_since_the_last_status_but_not_now_warns_before_the_health():
    degraded = dict(not_degraded(), frames=5, since_status=2, reasons='front: frozen')
    counts = {'received': 4, 'processed': 4}
    assert status_level(report(counts=counts, recent=counts, degraded=degraded)) == (
        WARN, 'degraded on 2 frame(s) since the last status, trusted now (last: front: frozen); segmenting')
    alarm = dict(no_alarm(), frames=1, since_status=1, reasons='vehicle over road')
    level, message = status_level(report(counts=counts, recent=counts, alarm=alarm, degraded=degraded))
    assert level == WARN and message.startswith('alarm on 1 frame(s)') and '; degraded on 2 frame(s)' in message
    assert status_level(report(counts=counts, recent=counts, degraded=dict(degraded, since_status=0))) == (
        OK, 'segmenting')       # degraded before the last status only: that status told


def test_values_carry_the_degraded_state_counts_reasons_and_stamps():
    values = dict(status_values(report()))
    assert values[DEGRADED_KEY] == 'false' and values[DEGRADED_COUNT_KEY] == '0'
    assert values[DEGRADED_REASONS_KEY] == 'none' and values[DEGRADED_STAMPS_KEY] == ''
    degraded = dict(not_degraded(), latest=True, frames=7, since_status=2, reasons='rear: noise',
                    stamps=[1_000_000_001, 2_500_000_000])
    values = dict(status_values(report(degraded=degraded)))
    assert values['degraded'] == 'true' and values['degraded frames'] == '7'
    assert values['degraded reasons'] == 'rear: noise' and values['degraded stamps'] == '1.000000001 2.500000000'
    assert parse_alarm_stamps(values['degraded stamps']) == [1_000_000_001, 2_500_000_000]
    assert DEGRADED_COUNT_KEY not in frame_counts(values)       # not a kind of frame input


def test_degraded_text_joins_the_reasons_after_the_camera():
    assert degraded_text(('noise', 'low_margin')) == 'noise, low_margin'
    assert degraded_text(('frozen',), 'front: ') == 'front: frozen'


def test_the_fallback_backend_warns_in_every_status_and_an_error_stays_an_error():
    counts = {'received': 4, 'processed': 4}
    warning = 'backend tensorrt cannot run here (no GPU); running on onnxruntime'
    assert status_level(report(counts=counts, recent=counts, fallback=warning)) == (WARN, f'segmenting; {warning}')
    level, message = status_level(report(counts={'received': 2}, recent={'received': 2, 'failed': 2},
                                         fallback=warning))
    assert level == ERROR and message.endswith(warning)


def test_values_carry_counts_rates_latency_percentiles_and_the_alarm():
    counts = {'received': 20, 'processed': 18, 'dropped': 2, 'out of order': 1}
    latency = {stage: [] for stage in LATENCY_STAGES}
    latency['total'] = [float(ms) for ms in range(1, 101)]
    alarm = dict(no_alarm(), frames=3, reasons='front: sky below the horizon', region='front: 0,10,64,40',
                 stamps=[5_000_000_007, 6_000_000_000])
    values = dict(status_values(report(counts=counts, recent={'received': 10, 'processed': 9}, latency_ms=latency,
                                       alarm=alarm, last_error='', horizon='front: 40.0 (camera_info)')))
    assert frame_counts(values) == {kind: counts.get(kind, 0) for kind in FRAME_KINDS}
    assert values['input rate (Hz)'] == '5.0' and values['output rate (Hz)'] == '4.5'
    assert values['latency total p50 (ms)'] == '50.5' and values['latency total p99 (ms)'] == '99.0'
    assert values['latency inference p50 (ms)'] == '-'
    assert values['model'] == 'tiny (/models/tiny.json)'
    assert values['model sha256'] == f'onnx {"ab" * 6}, pt {"cd" * 6}'
    assert values['alarm'] == 'false' and values['alarm frames'] == '3'
    assert values['alarm region'] == 'front: 0,10,64,40' and values['last error'] == 'none'
    assert parse_alarm_stamps(values['alarm stamps']) == [5_000_000_007, 6_000_000_000]
    assert values['horizon'] == 'front: 40.0 (camera_info)' and values['backend fallback'] == 'none'
    assert not any(key.startswith('camera ') for key in values)          # one camera: no per-camera counts


def test_several_cameras_get_their_own_counts():
    per_camera = {'front': Counter(received=3, processed=2), 'rear': Counter(received=1)}
    values = dict(status_values(report(per_camera=per_camera)))
    assert values['camera front frames received'] == '3' and values['camera front frames processed'] == '2'
    assert values['camera rear frames received'] == '1' and values['camera rear frames processed'] == '0'


def test_the_status_is_named_after_the_node_and_its_hardware_is_the_backend():
    status = diagnostic_status(report(counts={'received': 1, 'processed': 1}, recent={'received': 1, 'processed': 1}))
    assert status.name == status_name('/ns/seg_node') == 'ns/seg_node: segmentation'
    assert status.level == OK and status.message == 'segmenting' and status.hardware_id == 'onnxruntime on cpu'
    assert [v.key for v in status.values][:2] == ['backend', 'backend fallback']


def test_alarm_text_joins_the_reasons_and_boxes_their_regions():
    reasons = [Reason('sky', (10, 20, 30, 40), 120, 2.0), Reason('vehicle', (5, 25, 20, 60), 90, 1.5)]
    assert alarm_text(reasons, 'front: ') == (f'front: {reasons[0]}; front: {reasons[1]}', 'front: 5,20,30,60')
    assert alarm_text(reasons[:1]) == ('sky: 120 px on the path at x 10..29, y 20..39, 2.0x threshold', '10,20,30,40')


def test_the_error_throttle_lets_one_out_per_period_and_counts_those_held_back():
    throttle = ErrorThrottle()
    assert [throttle.admit(t, period_s=5.0) for t in (0.0, 1.0, 4.9, 5.0, 5.1, 20.0)] == [0, None, None, 2, None, 1]
    assert [throttle.admit(t, period_s=0.0) for t in (20.0, 20.0)] == [0, 0]     # 0: log each

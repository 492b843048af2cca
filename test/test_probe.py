"""The node-under-test harness of the demo and the benchmarks (seg_perception.ros.probe)."""

import random
import signal
import sys
import tempfile

from builtin_interfaces.msg import Time
import pytest

from seg_perception.ros.probe import NodeNotReady, NodeProcess, Probe, node_command, stamp_ns

DOMAIN_ID = random.randint(50, 200)


def test_node_command_runs_the_node_module_with_its_namespace_and_parameters():
    command = node_command('/bench', {'model': 'm.json', 'threads': 2, 'publish_color': False, 'alpha': 0.5})
    assert command[:3] == [sys.executable, '-m', 'seg_perception.ros.seg_node']
    assert command[3:] == ['--ros-args', '-r', '__ns:=/bench', '-p', 'model:=m.json', '-p', 'threads:=2',
                           '-p', 'publish_color:=false', '-p', 'alpha:=0.5']


def test_stamps_of_malformed_input_convert_without_raising():
    assert stamp_ns(Time(sec=3, nanosec=5)) == 3_000_000_005
    assert stamp_ns(Time(sec=-1, nanosec=2 ** 32 - 1)) == -10 ** 9 + 2 ** 32 - 1


@pytest.mark.ros
def test_a_node_that_cannot_start_is_reported_with_its_exit_status_and_output(tmp_path):
    missing = str(tmp_path / 'no_such_model.json')
    with tempfile.TemporaryFile() as output, \
            NodeProcess('/probe_missing', {'model': missing}, domain_id=DOMAIN_ID, output=output) as node, \
            Probe('probe', '/probe_missing', domain_id=DOMAIN_ID) as probe:
        with pytest.raises(NodeNotReady, match='seg_node exited with code 1 before it was ready') as error:
            probe.wait_for_node(node, timeout_s=60.0)
        assert missing in str(error.value)          # the end of the node's output, which names the file
    assert node.returncode == 1 and node.stop() == 1


@pytest.mark.ros
def test_a_running_node_answers_and_a_signal_ends_it_with_exit_status_zero(tiny_model, rgb_frame):
    from seg_perception.ros.conversions import array_to_image

    with tempfile.TemporaryFile() as output, \
            NodeProcess('/probe_ok', {'model': tiny_model}, domain_id=DOMAIN_ID, output=output) as node, \
            Probe('probe', '/probe_ok', domain_id=DOMAIN_ID, keep=lambda msg: (msg.width, msg.height)) as probe:
        probe.wait_until_answered(node, lambda: array_to_image(rgb_frame, probe.header()), timeout_s=60.0)
        stamp = probe.send(array_to_image(rgb_frame, probe.header()))
        assert probe.wait_for_answers([stamp], timeout_s=30.0, node=node)
        assert probe.arrivals['labels'][stamp] > stamp
        assert probe.take(stamp) == (160, 120) and stamp not in probe.arrivals['labels']
        assert node.memory_mb() > 0 and node.cpu_seconds() > 0
        assert node.stop(signal.SIGTERM) == 0 and not node.running

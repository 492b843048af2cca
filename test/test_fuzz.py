"""The fuzzer's generator replays by seed, and the real node survives a short fuzz run (benchmarks/fuzz_node.py)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage
from std_msgs.msg import Header

from seg_perception.ros.conversions import check_message, compressed_size, message_to_rgb
from seg_perception.ros.fuzz import CASES, good_frame, malformed, storm_pool
from seg_perception.ros.parameters import MAX_INPUT_PIXELS
from seg_perception.segmenter import InputError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXED_SEEDS = range(400)


def convert(msg):
    """What the node does with a message before segmenting it."""
    return message_to_rgb(msg, max_pixels=MAX_INPUT_PIXELS)


def test_a_seed_replays_the_same_message():
    for seed in (0, 7, 123, 9999):
        (case, first), (again, second) = malformed(seed), malformed(seed)
        assert case == again and first == second


def test_a_few_hundred_seeds_cover_every_case():
    assert {malformed(seed)[0] for seed in FIXED_SEEDS} == set(CASES)


def test_fixed_seeds_are_refused_or_converted_and_never_raise_anything_else():
    outcomes = {}
    for seed in FIXED_SEEDS:
        case, msg = malformed(seed)
        try:
            rgb = convert(msg)
        except InputError:
            outcomes.setdefault(case, set()).add('refused')
            continue
        # accepted: only what is really an image of the size it claims, within the limit
        outcomes.setdefault(case, set()).add('converted')
        assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3, (seed, case)
        assert rgb.shape[0] * rgb.shape[1] <= MAX_INPUT_PIXELS, (seed, case)
        if isinstance(msg, CompressedImage):
            assert compressed_size(bytes(msg.data))[1:] == (rgb.shape[1], rgb.shape[0]), (seed, case)
        else:
            assert (msg.width, msg.height) == (rgb.shape[1], rgb.shape[0]), (seed, case)
    for case in ('lying_dimensions', 'huge_claim', 'jpeg_bomb', 'png_bomb', 'empty_compressed', 'truncated',
                 'unsupported_encoding', 'unsupported_format', 'random_bytes_jpeg', 'random_bytes_png'):
        assert outcomes[case] == {'refused'}, case


def test_what_the_cheap_checks_refuse_the_conversion_refuses_too_and_good_frames_pass_them():
    refused = 0
    for seed in FIXED_SEEDS:
        case, msg = malformed(seed)
        try:
            check_message(msg, MAX_INPUT_PIXELS)
        except InputError as e:
            refused += 1
            with pytest.raises(InputError) as converted:
                convert(msg)
            assert str(converted.value) in str(e), (seed, case)
    assert refused >= 0.9 * len(FIXED_SEEDS)
    for seed in range(12):
        for transport in (None, True, False):
            check_message(good_frame(seed, Header(), transport), MAX_INPUT_PIXELS)
    assert [isinstance(good_frame(seed, Header(), True), CompressedImage) for seed in range(5)] == [True] * 5


def test_the_storm_pool_holds_only_refused_messages_of_both_transports():
    pool = storm_pool(range(200), MAX_INPUT_PIXELS)
    assert len(pool['raw']) > 20 and len(pool['compressed']) > 20
    for msg in pool['raw'] + pool['compressed']:
        assert isinstance(msg, CompressedImage) == (msg in pool['compressed']) and len(msg.data) <= 2 ** 20
        with pytest.raises(InputError):
            check_message(msg, MAX_INPUT_PIXELS)


@pytest.mark.parametrize('seed', range(12))
def test_good_frames_convert_to_their_size(seed):
    msg = good_frame(seed, Header())
    rgb = convert(msg)
    size = compressed_size(bytes(msg.data))[1:] if isinstance(msg, CompressedImage) else (msg.width, msg.height)
    assert (rgb.shape[1], rgb.shape[0]) == size


@pytest.mark.ros
def test_short_fuzz_run_against_the_real_node_has_no_crash_and_answers_every_good_frame(tiny_model, tmp_path):
    figures_path = tmp_path / 'fuzz.json'
    result = subprocess.run([sys.executable, os.path.join(ROOT, 'benchmarks', 'fuzz_node.py'), '--messages', '300',
                             '--seed', '1000', '--model', tiny_model, '--json', str(figures_path), '--storm', '4',
                             '--log', str(tmp_path / 'seg_node.log')],
                            capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    figures = json.loads(figures_path.read_text())
    assert figures['sent'] == 300 and figures['crashes'] == 0 and figures['failures'] == []
    assert figures['answered'] == figures['good'] == 15
    assert figures['storm']['answered'] == figures['storm']['good'] == 8 and figures['storm']['missed'] == []
    assert figures['storm']['at_full_rate'] > 0
    assert figures['exit_status'] == 0 and figures['tracebacks_in_log'] == 0
    assert figures['node_counts']['rejected'] > 100 and figures['node_counts']['failed'] == 0
    assert 'storm: good frames answered / the node had time for' in result.stdout and '8 of 8 (100%)' in result.stdout
    assert 'node crashes' in result.stdout and 'command: python benchmarks/fuzz_node.py' in result.stdout

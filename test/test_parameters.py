"""The node's parameters without a node (seg_perception.ros.parameters): declarations, refusals, --help lines."""

import pytest
from rclpy.exceptions import ParameterException

from seg_perception.safety_config import SafetyConfig
from seg_perception.ros.parameters import (CHOICES, SAFETY_PARAMETERS, camera_names, choice_refusal, crf_refusal,
                                           help_lines, parameter_declarations, temporal_refusal)


def test_every_safety_setting_is_declared_once_beside_the_node_parameters():
    names = [name for name, _, _ in parameter_declarations()]
    assert len(names) == len(set(names))
    assert SAFETY_PARAMETERS <= set(names) and {'model', 'backend', 'cameras', 'max_input_pixels'} <= set(names)


def test_unset_cameras_is_one_unprefixed_camera_and_bad_names_are_refused():
    assert camera_names(None) == [''] and camera_names(['front', 'rear/left']) == ['front', 'rear/left']
    for bad in ([], ['front', 'front'], ['/front'], ['~front'], ['front/'], ['']):
        with pytest.raises(ParameterException, match='camera names must be'):
            camera_names(bad)


def test_a_value_outside_the_choices_is_refused_with_them():
    assert choice_refusal('reliability', 'best_effort') is None
    assert choice_refusal('color_alpha', 7.0) is None           # a range: the descriptor's job
    reason = choice_refusal('label_ids', 'ids')
    assert reason == f"label_ids must be one of {', '.join(CHOICES['label_ids'])}; got 'ids'"


def test_the_crf_needs_the_torch_backend():
    assert choice_refusal('crf', 'v3') == "crf must be one of none, largefov, v2_resnet101; got 'v3'"
    assert crf_refusal('largefov', 'torch') is None and crf_refusal('none', 'onnxruntime') is None
    assert crf_refusal('largefov', 'onnxruntime') == ('crf largefov needs the class probabilities, which only '
                                                      'backend torch gives; backend is onnxruntime')


def test_a_temporal_check_that_can_never_fire_is_refused():
    assert temporal_refusal(SafetyConfig.from_flat({'temporal_window': 5, 'temporal_min_flips': 4})) is None
    reason = temporal_refusal(SafetyConfig.from_flat({'temporal_window': 5, 'temporal_min_flips': 5}))
    assert reason == 'temporal_min_flips (5) must be less than temporal_window (5): 5 frames have 4 changes'


def test_help_lines_give_type_default_and_constraints_of_each_parameter():
    lines = help_lines()
    assert "  cameras (string array; default unset; read-only: set at start)" in lines
    assert "  publish_color (bool; default true)" in lines
    assert "  color_alpha (double; default 0.5; 0 to 1)" in lines
    assert sum(line.startswith('  ') and not line.startswith('   ') for line in lines) == len(parameter_declarations())

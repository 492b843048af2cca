"""The launch file, the parameter file, setup.py and the node agree with each other.

The launch file is read with ``ast`` (launch_ros is not importable here); the YAML is loaded by a real node
through ``--params-file``, as ``ros2 launch`` would pass it.
"""

import ast
import fnmatch
import os
import random

import pytest
import rclpy
import yaml

from seg_perception.ros.seg_node import NODE_NAME, SegNode, parameter_declarations

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAUNCH_FILE = os.path.join('launch', 'seg_perception.launch.py')
PARAMS_FILE = os.path.join('config', 'seg_perception.yaml')


def calls(tree, name):
    """Every call of ``name(...)`` in an ast tree."""
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, 'id', None) == name]


def keyword(call, name):
    """The ast of keyword argument ``name`` of a call."""
    return next(k.value for k in call.keywords if k.arg == name)


def resolve(tree, node):
    """``node``, or the value assigned to it when it is a variable name in ``tree``."""
    if isinstance(node, ast.Name):
        return next(a.value for a in ast.walk(tree) if isinstance(a, ast.Assign)
                    and [getattr(t, 'id', None) for t in a.targets] == [node.id])
    return node


def launch_configuration_name(node):
    """'x' for LaunchConfiguration('x'), also inside ParameterValue(LaunchConfiguration('x'), ...)."""
    if isinstance(node, ast.Call) and node.func.id == 'ParameterValue':
        node = node.args[0]
    assert isinstance(node, ast.Call) and node.func.id == 'LaunchConfiguration', ast.dump(node)
    return ast.literal_eval(node.args[0])


@pytest.fixture(scope='module')
def launch_tree():
    """The launch file's syntax tree."""
    with open(os.path.join(ROOT, LAUNCH_FILE)) as f:
        return ast.parse(f.read(), LAUNCH_FILE)


@pytest.fixture(scope='module')
def node_call(launch_tree):
    """The launch file's one ``Node(...)``."""
    nodes = calls(launch_tree, 'Node')
    assert len(nodes) == 1
    return nodes[0]


@pytest.fixture(scope='module')
def setup_tree():
    """setup.py's syntax tree."""
    with open(os.path.join(ROOT, 'setup.py')) as f:
        return ast.parse(f.read(), 'setup.py')


@pytest.fixture(scope='module')
def yaml_parameters():
    """seg_node's parameters in the YAML file."""
    with open(os.path.join(ROOT, PARAMS_FILE)) as f:
        document = yaml.safe_load(f)
    assert list(document) == [NODE_NAME]
    return document[NODE_NAME]['ros__parameters']


def test_launch_file_defines_generate_launch_description(launch_tree):
    functions = [f.name for f in launch_tree.body if isinstance(f, ast.FunctionDef)]
    assert 'generate_launch_description' in functions


def test_launch_executable_is_a_console_script_of_this_package(node_call, setup_tree):
    setup_call, = calls(setup_tree, 'setup')
    entry_points = ast.literal_eval(keyword(setup_call, 'entry_points'))
    scripts = dict(s.replace(' ', '').split('=') for s in entry_points['console_scripts'])
    executable = ast.literal_eval(keyword(node_call, 'executable'))
    assert executable in scripts
    assert scripts[executable] == 'seg_perception.ros.seg_node:main'
    assert ast.literal_eval(keyword(node_call, 'package')) == 'seg_perception'
    assert ast.literal_eval(keyword(node_call, 'name')) == NODE_NAME


def test_launch_and_config_files_are_installed_by_setup_py(setup_tree):
    patterns = [ast.literal_eval(c.args[0]) for c in calls(setup_tree, 'glob')]
    for path in (LAUNCH_FILE, PARAMS_FILE):
        assert any(fnmatch.fnmatch(path, p) for p in patterns), f'{path} matches none of {patterns}'


def test_launch_arguments(launch_tree):
    declared = {ast.literal_eval(c.args[0]): c for c in calls(launch_tree, 'DeclareLaunchArgument')}
    assert set(declared) == {'image_topic', 'model', 'backend', 'params_file', 'namespace'}
    assert ast.literal_eval(keyword(declared['image_topic'], 'default_value')) == '/camera/image_raw'
    for call in declared.values():
        assert ast.literal_eval(keyword(call, 'description'))


def test_model_and_backend_arguments_set_the_node_parameters(node_call):
    parameters = keyword(node_call, 'parameters')
    params_file, overrides = parameters.elts
    assert launch_configuration_name(params_file) == 'params_file'
    overrides = {ast.literal_eval(k): launch_configuration_name(v)
                 for k, v in zip(overrides.keys, overrides.values)}
    assert overrides == {'model': 'model', 'backend': 'backend'}
    assert set(overrides) <= {name for name, _, _ in parameter_declarations()}


def test_remappings_put_both_inputs_on_the_image_topic(node_call, launch_tree):
    remappings = keyword(node_call, 'remappings')
    pairs = [(ast.literal_eval(t.elts[0]), t.elts[1]) for t in remappings.elts]
    assert [source for source, _ in pairs] == ['image', 'image/compressed']
    raw, compressed = pairs[0][1], pairs[1][1].elts
    assert launch_configuration_name(resolve(launch_tree, raw)) == 'image_topic'
    assert launch_configuration_name(resolve(launch_tree, compressed[0])) == 'image_topic'
    assert ast.literal_eval(compressed[1]) == '/compressed'


def test_yaml_lists_every_parameter_with_the_declared_default(yaml_parameters):
    declared = {name: default for name, default, _ in parameter_declarations()}
    assert yaml_parameters == declared


def test_node_loads_the_yaml_and_declares_every_parameter_in_it(yaml_parameters, tiny_model):
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=random.randint(50, 200))
    try:
        cli_args = ['--ros-args', '--params-file', os.path.join(ROOT, PARAMS_FILE),
                    '-p', f'model:={tiny_model}']
        node = SegNode(context=context, cli_args=cli_args)
        try:
            listed = set(node.list_parameters([], 0).names)
            assert set(yaml_parameters) <= listed
            for name, value in yaml_parameters.items():
                if name != 'model':     # overridden: the shipped default model is not part of the checkout
                    assert node.get_parameter(name).value == value, name
        finally:
            node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)

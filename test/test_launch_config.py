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
from rclpy.parameter import Parameter
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
    assert set(declared) == {'image_topic', 'camera_info_topic', 'model', 'backend', 'fallback_backend',
                             'params_file', 'namespace'}
    assert ast.literal_eval(keyword(declared['image_topic'], 'default_value')) == '/camera/image_raw'
    for call in declared.values():
        assert ast.literal_eval(keyword(call, 'description'))


def test_model_and_backend_arguments_set_the_node_parameters(node_call):
    parameters = keyword(node_call, 'parameters')
    params_file, overrides = parameters.elts
    assert launch_configuration_name(params_file) == 'params_file'
    overrides = {ast.literal_eval(k): launch_configuration_name(v)
                 for k, v in zip(overrides.keys, overrides.values)}
    assert overrides == {'model': 'model', 'backend': 'backend', 'fallback_backend': 'fallback_backend'}
    assert set(overrides) <= {name for name, _, _ in parameter_declarations()}


def test_remappings_put_both_inputs_on_the_image_topic_and_camera_info_on_its_topic(node_call, launch_tree):
    remappings = keyword(node_call, 'remappings')
    pairs = [(ast.literal_eval(t.elts[0]), t.elts[1]) for t in remappings.elts]
    assert [source for source, _ in pairs] == ['image', 'image/compressed', 'camera_info']
    raw, compressed = pairs[0][1], pairs[1][1].elts
    assert launch_configuration_name(pairs[2][1]) == 'camera_info_topic'
    assert launch_configuration_name(resolve(launch_tree, raw)) == 'image_topic'
    assert launch_configuration_name(resolve(launch_tree, compressed[0])) == 'image_topic'
    assert ast.literal_eval(compressed[1]) == '/compressed'


def test_yaml_lists_every_parameter_with_the_declared_default(yaml_parameters):
    declared = {name: default for name, default, _ in parameter_declarations()}
    # parameters declared by type without a default (cameras: unset means one camera) appear as comments only
    unset = {name for name, default in declared.items() if isinstance(default, Parameter.Type)}
    assert unset == {'cameras'}
    assert yaml_parameters == {name: default for name, default in declared.items() if name not in unset}


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


# --- launch/carla.launch.py: the node on carla-ros-bridge's camera, and the recorder --------------------------

CARLA_LAUNCH_FILE = os.path.join('launch', 'carla.launch.py')
CARLA_OBJECTS_FILE = os.path.join('config', 'carla_objects.json')


@pytest.fixture(scope='module')
def carla_tree():
    """The CARLA launch file's syntax tree."""
    with open(os.path.join(ROOT, CARLA_LAUNCH_FILE)) as f:
        return ast.parse(f.read(), CARLA_LAUNCH_FILE)


@pytest.fixture(scope='module')
def carla_defaults(carla_tree):
    """{launch argument: its default} (non-literal defaults, like a timestamped folder, as '<name>')."""
    defaults = {}
    for call in calls(carla_tree, 'DeclareLaunchArgument'):
        name, value = ast.literal_eval(call.args[0]), keyword(call, 'default_value')
        defaults[name] = ast.literal_eval(value) if isinstance(value, ast.Constant) else f'<{name}>'
    return defaults


def expand(tree, node, defaults):
    """The argument list that a launch substitution expression gives with the default launch arguments.

    A string is one argument, LaunchConfiguration('x') the default of x, a list (of substitutions) one argument
    made of its parts, and ``*name`` in a list of commands the arguments of that list, one by one.
    """
    node = resolve(tree, node)
    if isinstance(node, ast.Constant):
        return [node.value]
    if isinstance(node, ast.Call):
        return [defaults[launch_configuration_name(node)]]
    assert isinstance(node, ast.List), ast.dump(node)
    parts = []
    for element in node.elts:
        if isinstance(element, ast.Starred):
            parts += [''.join(expand(tree, e, defaults)) for e in resolve(tree, element.value).elts]
        else:
            parts.append(''.join(expand(tree, element, defaults)))
    return parts


def test_carla_launch_arguments_have_bridge_defaults(carla_tree, carla_defaults):
    from seg_perception.bags.carla_capture import CAMERA_ID, ROLE_NAME, SEMANTIC_ID

    assert 'generate_launch_description' in [f.name for f in carla_tree.body if isinstance(f, ast.FunctionDef)]
    assert set(carla_defaults) == {'role_name', 'camera', 'semantic_camera', 'model', 'backend', 'params_file',
                                   'camera_height_m', 'camera_pitch_deg', 'use_sim_time', 'record', 'record_dir'}
    assert (carla_defaults['role_name'], carla_defaults['camera'], carla_defaults['semantic_camera']) == (
        ROLE_NAME, CAMERA_ID, SEMANTIC_ID)
    assert carla_defaults['record'] == 'true' and carla_defaults['use_sim_time'] == 'true'
    for call in calls(carla_tree, 'DeclareLaunchArgument'):
        assert ast.literal_eval(keyword(call, 'description'))


def test_carla_node_is_seg_node_with_declared_parameters(carla_tree, carla_defaults, setup_tree):
    node, = calls(carla_tree, 'Node')
    assert ast.literal_eval(keyword(node, 'executable')) == 'seg_node'
    assert ast.literal_eval(keyword(node, 'name')) == NODE_NAME
    params_file, overrides = keyword(node, 'parameters').elts
    assert launch_configuration_name(params_file) == 'params_file'
    overrides = {ast.literal_eval(k): launch_configuration_name(v) for k, v in zip(overrides.keys,
                                                                                   overrides.values)}
    assert all(overrides[name] == name for name in overrides)
    declared = {name: default for name, default, _ in parameter_declarations()}
    assert set(overrides) - set(declared) == {'use_sim_time'}     # rclpy declares use_sim_time on every node
    for name in ('camera_height_m', 'camera_pitch_deg'):      # passed as floats, as declared
        assert isinstance(declared[name], float) and isinstance(float(carla_defaults[name]), float)


def test_carla_remappings_put_the_node_on_the_bridge_camera(carla_tree, carla_defaults):
    from seg_perception.bags.carla_capture import CARLA_TOPICS
    from seg_perception.ros.seg_node import CAMERA_INFO_TOPIC, COMPRESSED_TOPIC, IMAGE_TOPIC

    node, = calls(carla_tree, 'Node')
    remaps = {ast.literal_eval(t.elts[0]): ''.join(expand(carla_tree, t.elts[1], carla_defaults))
              for t in keyword(node, 'remappings').elts}
    assert remaps == {IMAGE_TOPIC: CARLA_TOPICS['image'], COMPRESSED_TOPIC: CARLA_TOPICS['image'] + '/compressed',
                      CAMERA_INFO_TOPIC: CARLA_TOPICS['camera_info']}


def test_carla_recording_holds_cameras_ground_truth_and_node_outputs(carla_tree, carla_defaults):
    from seg_perception.bags.carla_capture import CARLA_TOPICS
    from seg_perception.ros.seg_node import (AMBIGUOUS_TOPIC, DIAGNOSTICS_TOPIC, DRIVABLE_TOPIC, FREESPACE_TOPIC,
                                             LABELS_TOPIC)

    record, = calls(carla_tree, 'ExecuteProcess')
    cmd = expand(carla_tree, keyword(record, 'cmd'), carla_defaults)
    assert cmd[:3] == ['ros2', 'bag', 'record']
    assert cmd[cmd.index('--storage') + 1] == 'mcap' and '--use-sim-time' in cmd
    assert cmd[cmd.index('--output') + 1] == '<record_dir>'
    topics = set(cmd[cmd.index('--output') + 2:])
    outputs = {'/' + t for t in (LABELS_TOPIC, DRIVABLE_TOPIC, AMBIGUOUS_TOPIC, FREESPACE_TOPIC)}
    assert topics == set(CARLA_TOPICS.values()) | outputs | {DIAGNOSTICS_TOPIC, '/clock'}
    condition = keyword(record, 'condition')
    assert condition.func.id == 'IfCondition' and launch_configuration_name(condition.args[0]) == 'record'


def test_carla_objects_give_both_cameras_one_pose_size_and_fov(carla_defaults, setup_tree):
    import json

    with open(os.path.join(ROOT, CARLA_OBJECTS_FILE)) as f:
        objects = json.load(f)['objects']
    ego, = [o for o in objects if o['id'] == carla_defaults['role_name']]
    sensors = {o['id']: o for o in ego['objects']}
    camera, semantic = sensors[carla_defaults['camera']], sensors[carla_defaults['semantic_camera']]
    assert (camera['type'], semantic['type']) == ('sensor.camera.rgb', 'sensor.camera.semantic_segmentation')
    for key in ('spawn_point', 'image_size_x', 'image_size_y', 'fov', 'sensor_tick'):
        assert camera[key] == semantic[key], key
    assert camera['spawn_point']['z'] == float(carla_defaults['camera_height_m'])
    assert -camera['spawn_point']['pitch'] == float(carla_defaults['camera_pitch_deg'])
    patterns = [ast.literal_eval(c.args[0]) for c in calls(setup_tree, 'glob')]
    for path in (CARLA_LAUNCH_FILE, CARLA_OBJECTS_FILE):
        assert any(fnmatch.fnmatch(path, p) for p in patterns), f'{path} matches none of {patterns}'

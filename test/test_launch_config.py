"""The launch files, the parameter file, setup.py and the node agree with each other.

The launch files are read with ``ast`` (launch_ros is not importable here); the YAML is loaded by a real node
through ``--params-file``, as ``ros2 launch`` would pass it.
"""

import ast
import fnmatch
import glob
import os
import random

import pytest
import rclpy
from rclpy.parameter import Parameter
import yaml

from seg_perception.ros.parameters import parameter_declarations
from seg_perception.ros.seg_node import NODE_NAME, SegNode

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAUNCH_FILE = os.path.join('launch', 'seg_perception.launch.py')
PARAMS_FILE = os.path.join('config', 'seg_perception.yaml')


def calls(tree, name):
    """Every call of ``name(...)`` in an ast tree."""
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, 'id', None) == name]


def one_call(tree, name):
    """The one call of ``name(...)`` in an ast tree."""
    found = calls(tree, name)
    assert len(found) == 1, f'{len(found)} calls of {name}'
    return found[0]


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


def table(tree, name):
    """{key: tuple of ast values} of the dict literal assigned to ``name``, a table of a launch file."""
    node = resolve(tree, ast.Name(id=name))
    return {ast.literal_eval(k): tuple(v.elts) for k, v in zip(node.keys, node.values)}


def bind(target, value, row):
    """Add to ``row`` what the names of a for-target (``name, (a, b)``) take from one table entry."""
    if isinstance(target, ast.Name):
        row[target.id] = value
    else:
        for t, v in zip(target.elts, value.elts):
            bind(t, v, row)


def declared_arguments(tree):
    """{name: (DeclareLaunchArgument call, {loop variable: ast value})} of the arguments a launch file declares.

    A call in a loop over ``TABLE.items()`` declares one argument per entry of TABLE, its loop variables bound
    to that entry; a call outside a loop has its name as a literal.
    """
    declared = {}
    for loop in ast.walk(tree):
        if isinstance(loop, (ast.GeneratorExp, ast.ListComp)) and calls(loop.elt, 'DeclareLaunchArgument'):
            generator, = loop.generators
            assert generator.iter.func.attr == 'items', ast.dump(generator.iter)
            for key, value in table(tree, generator.iter.func.value.id).items():
                row = {}
                bind(generator.target, ast.Tuple(elts=[ast.Constant(key), ast.Tuple(elts=list(value))]), row)
                declared[key] = loop.elt, row
    for call in calls(tree, 'DeclareLaunchArgument'):
        if isinstance(call.args[0], ast.Constant):
            declared[call.args[0].value] = call, {}
    return declared


def argument_value(declaration, name):
    """The literal value of keyword ``name`` (default_value, description) of a declaration, or None.

    A loop variable stands for its value in the table; an f-string of literals and loop variables is joined.
    """
    call, row = declaration
    node = keyword(call, name)
    parts = node.values if isinstance(node, ast.JoinedStr) else [node]
    values = []
    for part in parts:
        part = part.value if isinstance(part, ast.FormattedValue) else part
        part = row.get(part.id, part) if isinstance(part, ast.Name) else part
        if not isinstance(part, ast.Constant):
            return None
        values.append(part.value)
    return ''.join(values) if isinstance(node, ast.JoinedStr) else values[0]


def parse(path):
    """The syntax tree of a file of the checkout."""
    with open(os.path.join(ROOT, path)) as f:
        return ast.parse(f.read(), path)


@pytest.fixture(scope='module')
def launch_tree():
    """The launch file's syntax tree."""
    return parse(LAUNCH_FILE)


@pytest.fixture(scope='module')
def launch_arguments(launch_tree):
    """The launch file's declared arguments (see declared_arguments)."""
    return declared_arguments(launch_tree)


@pytest.fixture(scope='module')
def optional_parameters(launch_tree):
    """{name: type name} of the node parameters that the launch file sets only when their argument is given."""
    return {name: value_type.id for name, (value_type, _) in table(launch_tree, 'OPTIONAL_PARAMETERS').items()}


@pytest.fixture(scope='module')
def node_call(launch_tree):
    """The launch file's one ``Node(...)``."""
    return one_call(launch_tree, 'Node')


@pytest.fixture(scope='module')
def setup_tree():
    """setup.py's syntax tree."""
    return parse('setup.py')


def installed_files(setup_tree):
    """{install folder: files of the checkout} of setup.py's data_files, its globs run in the checkout."""
    setup_call = one_call(setup_tree, 'setup')
    names = {'package_name': ast.literal_eval(resolve(setup_tree, ast.Name(id='package_name'))),
             'glob': lambda pattern: sorted(glob.glob(pattern, root_dir=ROOT))}
    data_files = eval(compile(ast.Expression(keyword(setup_call, 'data_files')), 'setup.py', 'eval'),
                      {'__builtins__': {}}, names)
    return {folder: files for folder, files in data_files}


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
    setup_call = one_call(setup_tree, 'setup')
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


def test_launch_arguments(launch_arguments, optional_parameters):
    assert set(launch_arguments) == {'image_topic', 'camera_info_topic', 'model', 'backend', 'fallback_backend',
                                     'params_file', 'namespace'} | set(optional_parameters)
    assert set(optional_parameters) == {'camera_height_m', 'camera_pitch_deg', 'use_sim_time', 'aspect'}
    assert argument_value(launch_arguments['image_topic'], 'default_value') == '/camera/image_raw'
    for declaration in launch_arguments.values():
        assert argument_value(declaration, 'description')


def test_model_and_backend_arguments_set_the_node_parameters(node_call):
    parameters = keyword(node_call, 'parameters')
    params_file, overrides = parameters.elts
    assert launch_configuration_name(params_file) == 'params_file'
    overrides = {ast.literal_eval(k): launch_configuration_name(v)
                 for k, v in zip(overrides.keys, overrides.values) if k is not None}
    assert overrides == {'model': 'model', 'backend': 'backend', 'fallback_backend': 'fallback_backend'}
    assert set(overrides) <= {name for name, _, _ in parameter_declarations()}


def test_optional_parameters_are_set_after_params_file_only_when_their_argument_is_given(
        launch_tree, node_call, launch_arguments, optional_parameters):
    _, overrides = keyword(node_call, 'parameters').elts
    spread, = [v for k, v in zip(overrides.keys, overrides.values) if k is None]      # {..., **given}
    given = resolve(launch_tree, spread)
    assert isinstance(given, ast.DictComp), ast.dump(given)
    generator, = given.generators
    assert generator.iter.func.value.id == 'OPTIONAL_PARAMETERS'
    name = generator.target.elts[0].id
    condition, = generator.ifs                                  # LaunchConfiguration(name).perform(context)
    assert condition.func.attr == 'perform' and condition.func.value.func.id == 'LaunchConfiguration'
    assert condition.func.value.args[0].id == given.key.id == given.value.args[0].args[0].id == name
    assert keyword(given.value, 'value_type').id == generator.target.elts[1].elts[0].id
    for argument in optional_parameters:                        # not given unless set: params_file's value holds
        assert argument_value(launch_arguments[argument], 'default_value') == ''
    declared = {name: default for name, default, _ in parameter_declarations()}
    declared['use_sim_time'] = False                            # rclpy declares use_sim_time on every node
    assert {name: type(declared[name]).__name__ for name in optional_parameters} == optional_parameters


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
    return parse(CARLA_LAUNCH_FILE)


def argument_defaults(declared):
    """{launch argument: its default} (non-literal defaults, like a timestamped folder, as '<name>')."""
    defaults = {}
    for name, declaration in declared.items():
        value = argument_value(declaration, 'default_value')
        defaults[name] = f'<{name}>' if value is None else value
    return defaults


@pytest.fixture(scope='module')
def carla_defaults(carla_tree):
    """{launch argument declared in the CARLA launch file: its default} (see argument_defaults)."""
    return argument_defaults(declared_arguments(carla_tree))


@pytest.fixture(scope='module')
def include(carla_tree):
    """The CARLA launch file's one ``IncludeLaunchDescription(...)``."""
    return one_call(carla_tree, 'IncludeLaunchDescription')


@pytest.fixture(scope='module')
def passed_arguments(carla_tree, include):
    """{argument of the included launch file: the ast of its value} that the CARLA launch file passes."""
    arguments = keyword(include, 'launch_arguments')
    assert arguments.func.attr == 'items'
    passed = {}
    for key, value in zip(arguments.func.value.keys, arguments.func.value.values):
        if key is not None:
            passed[ast.literal_eval(key)] = value
            continue
        # **{name: LaunchConfiguration(name) for name in TABLE}: the arguments of this file of the same names
        generator, = value.generators
        assert value.key.id == generator.target.id == value.value.args[0].id
        passed.update({name: ast.Call(func=ast.Name(id='LaunchConfiguration'), args=[ast.Constant(name)],
                                      keywords=[]) for name in table(carla_tree, generator.iter.id)})
    return passed


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


def test_carla_launch_arguments_have_bridge_defaults(carla_tree, carla_defaults, launch_arguments,
                                                     passed_arguments):
    from seg_perception.bags.carla_capture import CAMERA_ID, ROLE_NAME, SEMANTIC_ID

    assert 'generate_launch_description' in [f.name for f in carla_tree.body if isinstance(f, ast.FunctionDef)]
    # its own, and those of the included launch file that it does not set (they pass through as given)
    takes = set(carla_defaults) | (set(launch_arguments) - set(passed_arguments))
    assert takes == {'role_name', 'camera', 'semantic_camera', 'model', 'backend', 'params_file', 'camera_height_m',
                     'camera_pitch_deg', 'use_sim_time', 'record', 'record_dir', 'fallback_backend', 'namespace',
                     'aspect'}
    assert not {'model', 'backend', 'params_file'} & set(carla_defaults)     # declared once, in the included file
    assert (carla_defaults['role_name'], carla_defaults['camera'], carla_defaults['semantic_camera']) == (
        ROLE_NAME, CAMERA_ID, SEMANTIC_ID)
    assert carla_defaults['record'] == 'true' and carla_defaults['use_sim_time'] == 'true'
    for declaration in declared_arguments(carla_tree).values():
        assert argument_value(declaration, 'description')


def test_carla_launch_file_includes_the_installed_main_launch_file_and_declares_no_node(
        carla_tree, include, setup_tree):
    assert calls(carla_tree, 'Node') == []
    assert 'launch_ros.actions' not in [n.module for n in ast.walk(carla_tree) if isinstance(n, ast.ImportFrom)]
    source, = include.args
    assert source.func.id == 'PythonLaunchDescriptionSource'
    path = resolve(carla_tree, source.args[0])                  # os.path.join(<share>, 'launch', '<file>')
    assert (path.func.value.value.id, path.func.value.attr, path.func.attr) == ('os', 'path', 'join')
    share, *parts = path.args
    assert share.func.id == 'get_package_share_directory' and ast.literal_eval(share.args[0]) == 'seg_perception'
    assert os.path.join(*(ast.literal_eval(p) for p in parts)) == LAUNCH_FILE
    assert LAUNCH_FILE in installed_files(setup_tree)['share/seg_perception/launch']


def test_carla_launch_file_passes_only_declared_arguments_that_set_node_parameters(
        passed_arguments, launch_arguments, optional_parameters, carla_defaults):
    assert set(passed_arguments) <= set(launch_arguments)
    settings = set(passed_arguments) - {'image_topic', 'camera_info_topic'}
    assert settings == {'camera_height_m', 'camera_pitch_deg', 'use_sim_time'} and settings <= set(optional_parameters)
    for name in settings:                                       # this file's argument of the same name
        assert launch_configuration_name(passed_arguments[name]) == name and name in carla_defaults
    for name in ('camera_height_m', 'camera_pitch_deg'):        # passed as floats, as declared
        assert optional_parameters[name] == 'float' and isinstance(float(carla_defaults[name]), float)


def test_carla_remappings_put_the_node_on_the_bridge_camera(carla_tree, carla_defaults, launch_tree,
                                                            launch_arguments, passed_arguments, node_call):
    from seg_perception.bags.carla_capture import CARLA_TOPICS
    from seg_perception.ros.seg_node import CAMERA_INFO_TOPIC, COMPRESSED_TOPIC, IMAGE_TOPIC

    # the included file's arguments as the CARLA launch file sets them, with its defaults
    arguments = argument_defaults(launch_arguments)
    arguments.update({name: ''.join(expand(carla_tree, value, carla_defaults))
                      for name, value in passed_arguments.items()})
    remaps = {ast.literal_eval(t.elts[0]): ''.join(expand(launch_tree, t.elts[1], arguments))
              for t in keyword(node_call, 'remappings').elts}
    assert remaps == {IMAGE_TOPIC: CARLA_TOPICS['image'], COMPRESSED_TOPIC: CARLA_TOPICS['image'] + '/compressed',
                      CAMERA_INFO_TOPIC: CARLA_TOPICS['camera_info']}


def test_carla_recording_holds_cameras_ground_truth_and_node_outputs(carla_tree, carla_defaults):
    from seg_perception.bags.carla_capture import CARLA_TOPICS
    from seg_perception.ros.seg_node import (AMBIGUOUS_TOPIC, DIAGNOSTICS_TOPIC, DRIVABLE_TOPIC, FREESPACE_TOPIC,
                                             LABELS_TOPIC)

    record = one_call(carla_tree, 'ExecuteProcess')
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

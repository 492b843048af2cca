"""Launch seg_node on a camera: ``ros2 launch seg_perception seg_perception.launch.py image_topic:=...``.

The node's ``image`` and ``image/compressed`` inputs are remapped onto ``image_topic`` and its image_transport
``/compressed`` sibling, and ``camera_info`` onto ``camera_info_topic`` (the camera's calibration, for an exact
horizon and metric free space); its ``segmentation/*`` outputs appear in ``namespace``. The ``model``,
``backend`` and ``fallback_backend`` arguments override the same parameters in ``params_file``; so do
``camera_height_m``, ``camera_pitch_deg`` and ``use_sim_time`` when they are given (left empty, the value in
``params_file`` holds). launch/carla.launch.py includes this file.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

# name: (type, description) of the node parameters that their launch argument sets only when it is given:
# a default value here would override the one in params_file
OPTIONAL_PARAMETERS = {
    'camera_height_m': (float, 'camera height above the road, m'),
    'camera_pitch_deg': (float, 'camera tilt below the horizontal, degrees'),
    'use_sim_time': (bool, 'true: run on /clock (simulation time)'),
    'aspect': (str, 'a frame of another aspect than the network input: tiles, letterbox or squash'),
}


def generate_launch_description():
    """Declare the launch arguments and the seg_node they configure."""
    default_params = os.path.join(get_package_share_directory('seg_perception'), 'config',
                                  'seg_perception.yaml')
    return LaunchDescription([
        DeclareLaunchArgument('image_topic', default_value='/camera/image_raw',
                              description='camera image topic; its /compressed sibling is subscribed too'),
        DeclareLaunchArgument('camera_info_topic', default_value='/camera/camera_info',
                              description='the camera\'s sensor_msgs/CameraInfo topic'),
        DeclareLaunchArgument('model', default_value='',
                              description='model manifest, model file or name; empty: the shipped default'),
        DeclareLaunchArgument('backend', default_value='auto',
                              description='inference backend: auto (tensorrt, else openvino, else onnxruntime), '
                                          'onnxruntime, openvino, torch or tensorrt'),
        DeclareLaunchArgument('fallback_backend', default_value='none',
                              description='backend to run on when backend cannot run here: none (refuse to '
                                          'start), onnxruntime or torch'),
        DeclareLaunchArgument('params_file', default_value=default_params,
                              description='YAML file with the other seg_node parameters'),
        DeclareLaunchArgument('namespace', default_value='',
                              description='namespace of the node and of its segmentation/* outputs'),
        *(DeclareLaunchArgument(name, default_value='', description=f'{description}; empty: as in params_file')
          for name, (_, description) in OPTIONAL_PARAMETERS.items()),
        OpaqueFunction(function=seg_node),
    ])


def seg_node(context):
    """The seg_node, given those of OPTIONAL_PARAMETERS whose launch argument is not empty in ``context``."""
    image_topic = LaunchConfiguration('image_topic')
    # value_type: a launch argument is otherwise read as YAML ('' -> None, '1' -> an integer)
    given = {name: ParameterValue(LaunchConfiguration(name), value_type=value_type)
             for name, (value_type, _) in OPTIONAL_PARAMETERS.items() if LaunchConfiguration(name).perform(context)}
    return [Node(
        package='seg_perception',
        executable='seg_node',
        name='seg_node',
        namespace=LaunchConfiguration('namespace'),
        parameters=[LaunchConfiguration('params_file'),
                    {'model': ParameterValue(LaunchConfiguration('model'), value_type=str),
                     'backend': ParameterValue(LaunchConfiguration('backend'), value_type=str),
                     'fallback_backend': ParameterValue(LaunchConfiguration('fallback_backend'), value_type=str),
                     **given}],
        remappings=[('image', image_topic), ('image/compressed', [image_topic, '/compressed']),
                    ('camera_info', LaunchConfiguration('camera_info_topic'))],
        output='screen',
    )]

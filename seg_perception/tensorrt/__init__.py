"""TensorRT engines: files, build configurations, INT8 calibration data, and the build.

``files`` names engines and checks their facts against this machine, ``config`` reads a model's build YAML,
``calibration`` reads the INT8 calibration images, ``build`` builds engines (the ``build-engine`` command). Only
``build`` imports TensorRT, and only when it builds; the backend that runs engines is
:mod:`seg_perception.backends.tensorrt_backend`.
"""

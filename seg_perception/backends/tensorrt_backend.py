"""TensorRT backend: serialized engines built from the ONNX graph, run on the GPU.

The engine builder and the pycuda runtime are not part of this release; asking for this backend fails at
start with what is missing, so that the node can fall back to another backend explicitly.
"""

from . import Backend, BackendUnavailable
from ..model_files import ModelFiles


class TensorRTBackend(Backend):
    """Placeholder that refuses to start: engine building and execution are not implemented yet."""

    name = 'tensorrt'

    def __init__(self, model: ModelFiles, **options):
        missing = []
        for module, package in (('tensorrt', 'tensorrt'), ('pycuda.driver', 'pycuda')):
            try:
                __import__(module)
            except Exception:  # noqa: BLE001 - any import failure means the runtime is unusable
                missing.append(package)
        what = f'missing Python packages: {", ".join(missing)} (pip install {" ".join(missing)}, with an ' \
               f'NVIDIA driver and GPU); ' if missing else ''
        raise BackendUnavailable(f'the tensorrt backend is not available: {what}engine execution is not '
                                 f'implemented in this release; use backend onnxruntime or torch')

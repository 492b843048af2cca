"""TensorRT backend: a serialized engine built from the ONNX graph, run on the GPU with pycuda.

Everything is set up once, at start: the engine is found (or, with ``engine_rebuild='auto'``, built when no
matching one exists; see :mod:`seg_perception.tensorrt.files`) and deserialized, then one execution context, one
CUDA stream, and device and page-locked host buffers for the largest batch are allocated and bound to the
engine's tensors by name. A frame then costs two copies and one ``execute_async_v3``: uint8 pixels go up
(normalisation is inside the graph), uint8 labels and the float margin come down.

Written against the TensorRT 10 Python API; without TensorRT, pycuda or a GPU, construction raises
BackendUnavailable saying what is missing and how to install it.
"""

import os
from typing import Optional, Tuple

import numpy as np

from . import Backend, BackendUnavailable
from ..model_files import ModelFiles

# the deployable graph's tensors (seg_perception.export): name -> numpy dtype
TENSORS = {'image': np.uint8, 'labels': np.uint8, 'margin': np.float32}


class TensorRTBackend(Backend):
    """Runs the model's TensorRT engine for this GPU; batches of 1..max_batch images per run.

    ``precision``: fp32, fp16 or int8 (which engine to look for); ``max_batch``: images per run the engine must
    take (one per camera); ``engine_rebuild``: 'never' (refuse a missing or stale engine, saying why) or 'auto'
    (build it once, then reuse it); ``engine``: run this engine file instead (its facts are still checked);
    ``engine_dir``: where engines live (default: cache/ beside the model). ``threads`` is accepted for a uniform
    interface and unused.
    """

    name = 'tensorrt'
    device = 'cuda'

    def __init__(self, model: ModelFiles, precision: str = 'fp16', max_batch: int = 1, engine_rebuild: str = 'never',
                 engine: Optional[str] = None, engine_dir: Optional[str] = None, threads: int = 0, log=None):
        from ..tensorrt.build import (BuildError, build_engine, default_settings, device_context, gpu_platform,
                                      import_runtime)
        from ..tensorrt.calibration import CalibrationDataError
        from ..tensorrt.config import ConfigError
        from ..tensorrt.files import EngineStale, ResolvedEngine, check_engine, resolve_engine

        trt, cuda = import_runtime()
        self._cuda = cuda
        self.precision = precision
        self.context_cuda = cuda.Device(0).retain_primary_context()
        with device_context(cuda):
            self.platform = gpu_platform(trt, cuda)
            if engine:
                self.resolved = ResolvedEngine(check_engine(engine, model, precision, self.platform, max_batch))
            else:
                def build(_expected_path):
                    try:
                        settings = default_settings(model, precision, max_batch)
                        build_engine(model, settings, engine_dir, log or (lambda _: None))
                    except (BuildError, ConfigError, CalibrationDataError) as e:
                        raise EngineStale(f'engine_rebuild auto: building the {precision} engine of {model.name} '
                                          f'failed: {e}') from None
                    except OSError as e:    # e.g. a read-only install folder
                        raise EngineStale(f'engine_rebuild auto: cannot write the {precision} engine of '
                                          f'{model.name}: {e}; point engine_dir (or $SEG_PERCEPTION_ENGINE_DIR) '
                                          f'at a writable folder') from None

                self.resolved = resolve_engine(model, precision, self.platform, batch=max_batch,
                                               policy=engine_rebuild, build=build, folder=engine_dir)
            self.engine_path = self.resolved.path
            self._load(trt, cuda, model)

    def _load(self, trt, cuda, model: ModelFiles) -> None:
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        with open(self.engine_path, 'rb') as f:
            self.engine = self._runtime.deserialize_cuda_engine(f.read())
        if self.engine is None:
            raise BackendUnavailable(f'TensorRT {self.platform.tensorrt_version} cannot deserialize '
                                     f'{self.engine_path} (see its log above); rebuild it with build-engine')
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        if sorted(names) != sorted(TENSORS):
            raise BackendUnavailable(f'{self.engine_path} has tensors {names}, expected {sorted(TENSORS)}: not '
                                     f'built from a seg_perception deployable graph')
        for name, dtype in TENSORS.items():
            actual = trt.nptype(self.engine.get_tensor_dtype(name))
            if np.dtype(actual) != np.dtype(dtype):
                raise BackendUnavailable(f'{self.engine_path}: tensor {name} is {np.dtype(actual)}, expected '
                                         f'{np.dtype(dtype)}')
        _, _, max_shape = self.engine.get_tensor_profile_shape('image', 0)
        self.max_batch = int(max_shape[0])
        self.input_hw = (int(max_shape[1]), int(max_shape[2]))     # trt.Dims indexes, it does not slice
        if self.input_hw != tuple(model.input_hw):
            raise BackendUnavailable(f'{self.engine_path} takes {self.input_hw}, the model {model.input_hw}')
        self.context = self.engine.create_execution_context()
        self.stream = cuda.Stream()
        h, w = self.input_hw
        shapes = {'image': (self.max_batch, h, w, 3), 'labels': (self.max_batch, h, w),
                  'margin': (self.max_batch, h, w)}
        # allocated once for the largest batch; a smaller batch uses the leading part of each buffer
        self.host = {name: cuda.pagelocked_empty(shapes[name], dtype) for name, dtype in TENSORS.items()}
        self.device_buffers = {name: cuda.mem_alloc(self.host[name].nbytes) for name in TENSORS}
        for name, buffer in self.device_buffers.items():
            self.context.set_tensor_address(name, int(buffer))

    def infer(self, images: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Labels and margins for a uint8 N x H x W x 3 batch (split into runs of at most max_batch)."""
        if images.dtype != np.uint8 or images.shape[1:] != (*self.input_hw, 3):
            raise ValueError(f'expected N x {self.input_hw[0]} x {self.input_hw[1]} x 3 uint8 images, got '
                             f'{images.shape} {images.dtype}')
        if len(images) > self.max_batch:
            parts = [self.infer(images[i:i + self.max_batch]) for i in range(0, len(images), self.max_batch)]
            return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        cuda, n = self._cuda, len(images)
        self.context_cuda.push()    # the node infers on a worker thread: make the context current there
        try:
            self.host['image'][:n] = images
            self.context.set_input_shape('image', (n, *self.input_hw, 3))
            cuda.memcpy_htod_async(self.device_buffers['image'], self.host['image'][:n], self.stream)
            if not self.context.execute_async_v3(self.stream.handle):
                raise RuntimeError(f'TensorRT execution failed for a batch of {n} ({self.engine_path})')
            for name in ('labels', 'margin'):
                cuda.memcpy_dtoh_async(self.host[name][:n], self.device_buffers[name], self.stream)
            self.stream.synchronize()
        finally:
            cuda.Context.pop()
        # copies: the page-locked buffers are overwritten by the next run
        return self.host['labels'][:n].copy(), self.host['margin'][:n].copy()

    def describe(self) -> str:
        """Backend, GPU, precision and engine file."""
        return (f'tensorrt {self.precision} on {self.platform.gpu_name or "cuda"} (batch <= {self.max_batch}, '
                f'{os.path.basename(self.engine_path)})')

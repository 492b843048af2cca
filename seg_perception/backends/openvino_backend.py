"""OpenVINO backend: the shipped ONNX graph compiled by OpenVINO for the CPU, with OpenVINO's compiled-model cache.

OpenVINO reads the ONNX file itself (no conversion step). The first start compiles it, which takes seconds;
OpenVINO keeps the compiled blob in its cache folder (``CACHE_DIR``), here one folder per model and OpenVINO
version: ``<engine_dir>/openvino/<first 16 hex of the ONNX sha256>_<OpenVINO version>``, with ``engine_dir`` as
for the tensorrt backend (the argument, else $SEG_PERCEPTION_ENGINE_DIR, else cache/ beside the model). A later
start with the same model and OpenVINO loads the blob instead.

``inference_precision`` (not ``precision``, which names the tensorrt engine's and which the node passes to every
backend): ``auto`` is OpenVINO's default for the CPU (bf16 where the CPU has AMX or AVX-512 BF16, f32 elsewhere),
``f32`` and ``bf16`` ask for that precision (bf16 is refused on a CPU without it), ``int8`` runs a model that is
already quantised (its graph holds FakeQuantize operations, e.g. from an ONNX QuantizeLinear/DequantizeLinear
graph) and is refused for a float model: this backend does not quantise.

The graph's batch dimension is dynamic; each batch size runs on a model reshaped to that size and compiled once
(one per camera count), so no run pays for dynamic shapes.
"""

import os
from typing import Dict, Optional, Tuple

import numpy as np

from . import Backend, BackendUnavailable
from ..model_files import ModelFiles

PRECISIONS = ('auto', 'f32', 'bf16', 'int8')
DEVICE = 'CPU'


def import_openvino():
    """The openvino module, or BackendUnavailable saying how to install it."""
    try:
        import openvino
    except ImportError as e:
        why = '' if isinstance(e, ModuleNotFoundError) and e.name == 'openvino' else f' (import failed: {e})'
        raise BackendUnavailable(f'the openvino backend needs OpenVINO{why}: pip install openvino '
                                 f"(or pip install -e '.[openvino]')") from None
    return openvino


def openvino_version(ov) -> str:
    """OpenVINO's release, e.g. '2026.4.1' (its version string without the build suffix)."""
    return ov.__version__.split('-')[0]


def cache_dir(model: ModelFiles, ov_version: str, engine_dir: Optional[str] = None) -> str:
    """OpenVINO's compiled-model cache folder for ``model``: keyed by the ONNX file's sha256 and the version."""
    from ..tensorrt.files import engine_dir as engines_folder, onnx_sha256

    return os.path.join(engines_folder(model, engine_dir), 'openvino', f'{onnx_sha256(model)[:16]}_{ov_version}')


class OpenVINOBackend(Backend):
    """Runs the model's ONNX graph with OpenVINO on the CPU; any batch size (one per camera).

    ``inference_precision``: auto, f32, bf16 or int8 (see the module docstring); ``threads``: OpenVINO's
    INFERENCE_NUM_THREADS (0: OpenVINO's choice, all physical cores); ``max_batch``: a batch size compiled at
    start besides 1 (others are compiled on first use); ``engine_dir``: the root of the cache (see above);
    ``precision`` and the other keys the node gives every backend are not taken (``options_for`` drops them).
    The performance hint is LATENCY: one request at a time, all threads on it.
    """

    name = 'openvino'
    device = 'cpu'

    def __init__(self, model: ModelFiles, inference_precision: str = 'auto', threads: int = 0, max_batch: int = 1,
                 engine_dir: Optional[str] = None):
        if inference_precision not in PRECISIONS:
            raise ValueError(f'openvino inference_precision {inference_precision!r}: choose one of '
                             f'{", ".join(PRECISIONS)}')
        if threads < 0 or max_batch < 1:
            raise ValueError(f'openvino backend: threads must be >= 0 and max_batch >= 1, got {threads} and '
                             f'{max_batch}')
        ov = import_openvino()
        path = model.path('onnx')
        self.input_hw = tuple(model.input_hw)
        self.core = ov.Core()
        self.ov_version = openvino_version(ov)
        capabilities = self.core.get_property(DEVICE, 'OPTIMIZATION_CAPABILITIES')
        if inference_precision == 'bf16' and 'BF16' not in capabilities:
            raise BackendUnavailable(f'openvino inference_precision bf16: this CPU has no bf16 support (OpenVINO '
                                     f'reports {", ".join(capabilities)}); use f32 or auto')
        try:
            self.model = self.core.read_model(path)
        except Exception as e:  # noqa: BLE001 - OpenVINO raises RuntimeError subclasses of its own
            raise BackendUnavailable(f'OpenVINO {self.ov_version} cannot read {path}: {e}') from None
        inputs = [port.get_any_name() for port in self.model.inputs]
        outputs = sorted(port.get_any_name() for port in self.model.outputs)
        if inputs != ['image'] or outputs != ['labels', 'margin']:
            raise BackendUnavailable(f'{path} is not a deployable seg_perception graph: inputs {inputs}, outputs '
                                     f'{outputs}, expected ["image"] and ["labels", "margin"]; export it with '
                                     f'seg_perception.export')
        quantised = any(op.get_type_name() == 'FakeQuantize' for op in self.model.get_ops())
        if inference_precision == 'int8' and not quantised:
            raise ValueError(f'openvino inference_precision int8 needs an already quantised model (int8 '
                             f'QuantizeLinear/DequantizeLinear or FakeQuantize operations); {path} is a float '
                             f'model: this backend does not quantise it; use auto (bf16 where the CPU has it) or f32')
        self.cache_dir = cache_dir(model, self.ov_version, engine_dir)
        try:
            os.makedirs(self.cache_dir, exist_ok=True)
        except OSError as e:    # e.g. a read-only install folder
            raise BackendUnavailable(f'openvino backend: cannot create its cache folder {self.cache_dir}: {e}; '
                                     f'point engine_dir (or $SEG_PERCEPTION_ENGINE_DIR) at a writable folder') from None
        self.core.set_property({'CACHE_DIR': self.cache_dir})
        self.config: Dict[str, object] = {'PERFORMANCE_HINT': 'LATENCY'}
        if threads:
            self.config['INFERENCE_NUM_THREADS'] = threads
        if inference_precision in ('f32', 'bf16'):
            self.config['INFERENCE_PRECISION_HINT'] = inference_precision
        self.requested_precision = inference_precision
        self._compiled: Dict[int, object] = {}
        self._requests: Dict[int, object] = {}
        for batch in sorted({1, max_batch}):
            self._compile(batch)
        compiled = self._compiled[1]
        # what OpenVINO runs at: the hint's element type (bf16, f32); for a quantised model int8 where it can
        hint = compiled.get_property('INFERENCE_PRECISION_HINT')
        self.precision = 'int8' if quantised else getattr(hint, 'get_type_name', lambda: str(hint))()
        self.threads = int(compiled.get_property('INFERENCE_NUM_THREADS'))

    def _compile(self, batch: int):
        """The compiled model (and its one infer request) for ``batch`` images, compiled on first use."""
        if batch not in self._compiled:
            h, w = self.input_hw
            model = self.model.clone()
            model.reshape({'image': [batch, h, w, 3]})
            try:
                self._compiled[batch] = self.core.compile_model(model, DEVICE, self.config)
            except Exception as e:  # noqa: BLE001 - OpenVINO raises RuntimeError subclasses of its own
                raise BackendUnavailable(f'OpenVINO {self.ov_version} cannot compile the model for a batch of '
                                         f'{batch} on the CPU: {e}') from None
            self._requests[batch] = self._compiled[batch].create_infer_request()
        return self._requests[batch]

    def infer(self, images: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Labels and margins for a uint8 N x H x W x 3 batch."""
        if images.dtype != np.uint8 or images.shape[1:] != (*self.input_hw, 3):
            raise ValueError(f'expected N x {self.input_hw[0]} x {self.input_hw[1]} x 3 uint8 images, got '
                             f'{images.shape} {images.dtype}')
        request = self._compile(len(images))
        request.infer({'image': np.ascontiguousarray(images)})
        # copies: the request's output buffers are reused by its next run
        labels = request.get_tensor('labels').data.copy()
        margin = request.get_tensor('margin').data.copy()
        return labels, margin

    def describe(self) -> str:
        """Backend, device, precision and thread count."""
        auto = 'auto: ' if self.requested_precision == 'auto' else ''
        return f'openvino {self.device} {auto}{self.precision} ({self.threads} threads, OpenVINO {self.ov_version})'

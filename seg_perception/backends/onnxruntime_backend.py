"""ONNX Runtime backend: the default on a machine without a GPU."""

import os
from typing import Optional, Tuple

import numpy as np

from . import Backend, BackendUnavailable
from ..model_files import ModelFiles


def session_options(threads: int = 0):
    """The session options the backend runs with: ``threads`` intra-op threads (0: up to 8), all graph optimisations."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or min(os.cpu_count() or 1, 8)
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return options


class OnnxRuntimeBackend(Backend):
    """Runs the model's ONNX graph with ONNX Runtime (CPU, or CUDA when that provider is installed)."""

    name = 'onnxruntime'

    def __init__(self, model: ModelFiles, threads: int = 0, providers: Optional[list] = None):
        try:
            import onnxruntime as ort
        except ImportError:
            raise BackendUnavailable('the onnxruntime backend needs ONNX Runtime: pip install onnxruntime '
                                     '(or onnxruntime-gpu)') from None
        path = model.path('onnx')
        options = session_options(threads)
        available = ort.get_available_providers()
        providers = providers or [p for p in ('CUDAExecutionProvider', 'CPUExecutionProvider') if p in available]
        try:
            self.session = ort.InferenceSession(path, options, providers=providers)
        except Exception as e:  # noqa: BLE001 - onnxruntime raises its own exception types
            raise BackendUnavailable(f'ONNX Runtime cannot load {path}: {e}') from None
        self.device = 'cuda' if self.session.get_providers()[0] == 'CUDAExecutionProvider' else 'cpu'
        self.threads = options.intra_op_num_threads
        inputs = self.session.get_inputs()
        if [i.name for i in inputs] != ['image']:
            raise BackendUnavailable(f'{path} is not a deployable seg_perception graph: inputs '
                                     f'{[i.name for i in inputs]}, expected ["image"]; export it with '
                                     f'seg_perception.export')

    def infer(self, images: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Labels and margins for a uint8 N x H x W x 3 batch."""
        labels, margin = self.session.run(['labels', 'margin'], {'image': images})
        return labels, margin

    def describe(self) -> str:
        """Backend, device and thread count."""
        return f'onnxruntime {self.device} ({self.threads} threads)'

"""Inference backends behind one small interface: uint8 NHWC images in, uint8 labels and margins out.

Every backend runs the same deployable graph (see :mod:`seg_perception.export`): the ONNX file for
``onnxruntime`` and ``tensorrt``, the same network's torch weights for ``torch``. ``create`` is the only
constructor the rest of the package uses; a missing runtime fails here, with what to install.
"""

import importlib
from typing import Dict, Tuple

import numpy as np

from ..model_files import ModelFiles


class BackendUnavailable(RuntimeError):
    """The requested backend cannot run on this machine (runtime, driver or device missing)."""


class Backend:
    """Runs a model on a batch: ``infer(images)`` with images N x H x W x 3 uint8 RGB at the network size.

    Returns ``(labels, margin)``: N x H x W uint8 and N x H x W float32.
    """

    name = 'base'
    device = 'cpu'

    def infer(self, images: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Run the network on a batch of network-sized uint8 RGB images."""
        raise NotImplementedError

    def describe(self) -> str:
        """One line for logs and diagnostics: backend, device, precision."""
        return f'{self.name} on {self.device}'


# name -> (module in this package, class)
_BACKENDS: Dict[str, Tuple[str, str]] = {
    'onnxruntime': ('onnxruntime_backend', 'OnnxRuntimeBackend'),
    'torch': ('torch_backend', 'TorchBackend'),
    'tensorrt': ('tensorrt_backend', 'TensorRTBackend'),
}


def names():
    """Backend names accepted by :func:`create`."""
    return sorted(_BACKENDS)


def create(name: str, model: ModelFiles, **options) -> Backend:
    """Build backend ``name`` for ``model``; BackendUnavailable says what is missing and how to install it."""
    if name not in _BACKENDS:
        raise ValueError(f'unknown backend {name!r}; choose one of {", ".join(names())}')
    module, cls = _BACKENDS[name]
    return getattr(importlib.import_module(f'{__name__}.{module}'), cls)(model, **options)

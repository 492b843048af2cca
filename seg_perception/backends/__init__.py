"""Inference backends behind one small interface: uint8 NHWC images in, uint8 labels and margins out.

Every backend runs the same deployable graph (see :mod:`seg_perception.export`): the ONNX file for
``onnxruntime``, ``openvino`` and ``tensorrt``, the same network's torch weights for ``torch``. ``create`` is the only
constructor the rest of the package uses; a missing runtime fails here, with what to install. ``auto`` (the default
of the node and of ``Segmenter.default()``) picks one of them for the machine (:mod:`seg_perception.backends.auto`).
"""

import importlib
import inspect
from typing import Dict, Optional, Tuple

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
    selection = ''      # with backend auto: what it chose and why (backends.auto.Choice.reason)

    def infer(self, images: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Run the network on a batch of network-sized uint8 RGB images."""
        raise NotImplementedError

    def describe(self) -> str:
        """One line for logs and diagnostics: backend, device, precision."""
        return f'{self.name} on {self.device}'


# name -> (module in this package, class)
_BACKENDS: Dict[str, Tuple[str, str]] = {
    'onnxruntime': ('onnxruntime_backend', 'OnnxRuntimeBackend'),
    'openvino': ('openvino_backend', 'OpenVINOBackend'),
    'torch': ('torch_backend', 'TorchBackend'),
    'tensorrt': ('tensorrt_backend', 'TensorRTBackend'),
}


AUTO = 'auto'


def names():
    """Every backend's name: what :func:`create` takes, besides ``auto``."""
    return sorted(_BACKENDS)


def choices():
    """Every name :func:`create` takes: ``auto`` and the backends."""
    return (AUTO,) + tuple(names())


def backend_class(name: str) -> type:
    """The Backend subclass registered as ``name`` (ValueError for an unknown name)."""
    if name not in _BACKENDS:
        raise ValueError(f'unknown backend {name!r}; choose one of {", ".join(choices())}')
    module, cls = _BACKENDS[name]
    return getattr(importlib.import_module(f'{__name__}.{module}'), cls)


def create(name: str, model: ModelFiles, **options) -> Backend:
    """Build backend ``name`` for ``model``; BackendUnavailable says what is missing and how to install it.

    ``auto``: the backend :func:`seg_perception.backends.auto.choose` takes here, its ``selection`` saying why; it
    takes every backend's options and passes each backend its own.
    """
    if name == AUTO:    # imported by name, as the backends are: seg_perception.backends.auto imports this module
        return importlib.import_module(f'{__name__}.auto').create_auto(model, **options)
    return backend_class(name)(model, **options)


def options_for(name: str, options: Dict) -> Dict:
    """The subset of ``options`` that backend ``name``'s constructor takes (the others belong to other backends)."""
    if name == AUTO:
        return dict(options)
    parameters = inspect.signature(backend_class(name).__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return dict(options)
    return {k: v for k, v in options.items() if k in parameters}


def create_with_fallback(name: str, model: ModelFiles, fallback: Optional[str] = None,
                         **options) -> Tuple[Backend, str]:
    """Backend ``name``, or ``fallback`` when ``name`` cannot run here; returns (backend, warning).

    The warning is '' when ``name`` runs. Otherwise it says which backend was asked for, why it is unavailable
    and what runs instead; the node keeps it as a WARN diagnostic for as long as it runs on the fallback.
    ``fallback`` None or 'none' (the default) means no fallback: the BackendUnavailable propagates. Options a
    backend does not take (``precision``, ``engine_rebuild`` of the tensorrt backend; ``threads`` of the CPU
    backends) are not passed to it, so one set of options serves every backend.
    """
    if fallback in (None, '', 'none'):
        return create(name, model, **options_for(name, options)), ''
    if fallback == name:
        raise ValueError(f'fallback backend {fallback!r} is the backend itself; choose another of '
                         f'{", ".join(n for n in names() if n != name)} or none')
    if fallback == AUTO:
        raise ValueError('fallback backend auto: the fallback is one backend; set backend to auto instead')
    backend_class(fallback)     # an unknown fallback is a configuration error even when it is never needed
    try:
        return create(name, model, **options_for(name, options)), ''
    except BackendUnavailable as e:
        reason = str(e)
    backend = create(fallback, model, **options_for(fallback, options))
    return backend, (f'backend {name} unavailable, running on the fallback {backend.describe()}: {reason}')

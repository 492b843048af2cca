"""PyTorch backend: the reference the other backends are checked against; CUDA when a GPU is present."""

from typing import Optional, Tuple

import numpy as np

from . import Backend, BackendUnavailable
from ..model_files import ModelFiles


class TorchBackend(Backend):
    """Runs the model's torch weights through the same deployable graph as the ONNX export."""

    name = 'torch'

    def __init__(self, model: ModelFiles, device: Optional[str] = None, threads: int = 0, module=None):
        try:
            import torch
        except ImportError:
            raise BackendUnavailable('the torch backend needs PyTorch: pip install torch==2.13.0 '
                                     '(or pip install -e .[torch])') from None
        from .. import models
        from ..export import DeployGraph

        if threads:
            torch.set_num_threads(threads)
        self.device = device or ('cuda' if torch.cuda.is_available() else 'cpu')
        if module is None:
            path = model.path('torch')
            checkpoint = torch.load(path, map_location='cpu', weights_only=False)
            module = models.create(checkpoint['arch'], num_classes=len(model.classes),
                                   **checkpoint.get('arch_kwargs', {}))
            module.load_state_dict({k: v.float() if v.is_floating_point() else v
                                    for k, v in checkpoint['state_dict'].items()})
        mean, std = model.mean_std
        self.graph = DeployGraph(module, mean, std).eval().to(self.device)
        self._torch = torch

    def infer(self, images: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Labels and margins for a uint8 N x H x W x 3 batch."""
        torch = self._torch
        with torch.inference_mode():
            labels, margin = self.graph(torch.from_numpy(np.ascontiguousarray(images)).to(self.device))
        return labels.cpu().numpy(), margin.float().cpu().numpy()

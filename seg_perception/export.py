"""PyTorch -> ONNX export of a deployable segmentation graph, and the model manifest that travels with it.

The exported graph takes what a camera gives and returns what the node publishes, so that no backend has to
know about normalisation or class scores:

- input ``image``: N x H x W x 3 uint8 RGB at the network's input size (normalisation happens in the graph, so
  a GPU backend only uploads bytes);
- output ``labels``: N x H x W uint8, the arg-max class;
- output ``margin``: N x H x W float32, top-1 minus top-2 softmax probability (small where the network hesitates
  between two classes; the ambiguity checks read it).
"""

import io
import json
import os
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from .model_files import sha256_file

MANIFEST_VERSION = 1
OPSET = 17


class DeployGraph(nn.Module):
    """uint8 NHWC image -> (uint8 labels, float32 top-1 minus top-2 margin), around any model of the registry."""

    def __init__(self, model: nn.Module, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.model = model
        self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer('inv_std', 1.0 / torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, image: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        x = (image.permute(0, 3, 1, 2).float() - self.mean) * self.inv_std
        logits = self.model(x)
        if isinstance(logits, (tuple, list)):
            logits = logits[0]
        top2, index = torch.softmax(logits.float(), dim=1).topk(2, dim=1)
        labels = index[:, 0].to(torch.uint8)
        margin = top2[:, 0] - top2[:, 1]
        return labels, margin


def export_onnx(model: nn.Module, path_or_buffer, input_hw: Tuple[int, int], mean: Sequence[float],
                std: Sequence[float], opset: int = OPSET, dynamic_batch: bool = True) -> None:
    """Export ``model`` wrapped in :class:`DeployGraph` at a fixed H x W (batch dynamic when asked)."""
    graph = DeployGraph(model, mean, std).eval()
    dummy = torch.zeros(1, input_hw[0], input_hw[1], 3, dtype=torch.uint8)
    axes = {'image': {0: 'batch'}, 'labels': {0: 'batch'}, 'margin': {0: 'batch'}} if dynamic_batch else None
    with torch.no_grad():
        torch.onnx.export(graph, (dummy,), path_or_buffer, input_names=['image'],
                          output_names=['labels', 'margin'], dynamic_axes=axes, opset_version=opset,
                          dynamo=False)


def export_onnx_bytes(model: nn.Module, input_hw: Tuple[int, int], mean, std, **kwargs) -> bytes:
    """:func:`export_onnx` into memory."""
    buffer = io.BytesIO()
    export_onnx(model, buffer, input_hw, mean, std, **kwargs)
    return buffer.getvalue()


def write_manifest(manifest_path: str, *, name: str, architecture: str, arch_kwargs: Dict, classes: Sequence[str],
                   palette: Sequence[Sequence[int]], input_hw: Tuple[int, int], mean: Sequence[float],
                   std: Sequence[float], files: Dict[str, str], training: Optional[Dict] = None,
                   validation: Optional[Dict] = None, extra: Optional[Dict] = None) -> Dict:
    """Write the JSON manifest beside the model files (``files``: role -> file name relative to the manifest)."""
    folder = os.path.dirname(os.path.abspath(manifest_path))
    manifest = {
        'manifest_version': MANIFEST_VERSION,
        'name': name,
        'architecture': architecture,
        'arch_kwargs': dict(arch_kwargs),
        'classes': list(classes),
        'palette': [list(map(int, c)) for c in palette],
        'input': {'height': int(input_hw[0]), 'width': int(input_hw[1]), 'layout': 'NHWC uint8 RGB',
                  'normalisation': {'mean': list(mean), 'std': list(std),
                                    'formula': '(x - mean) / std, inside the ONNX graph'}},
        'outputs': {'labels': 'N x H x W uint8 class id',
                    'margin': 'N x H x W float32, top-1 minus top-2 softmax probability'},
        'files': dict(files),
        'sha256': {role: sha256_file(os.path.join(folder, f)) for role, f in files.items()},
        'training': training or {},
        'validation': validation or {},
    }
    manifest.update(extra or {})
    with open(manifest_path, 'w') as f:
        json.dump(manifest, f, indent=2)
        f.write('\n')
    return manifest

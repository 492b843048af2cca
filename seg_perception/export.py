"""PyTorch -> ONNX export of a deployable segmentation graph, and the model manifest that travels with it.

The exported graph takes what a camera gives and returns what the node publishes, so that no backend has to
know about normalisation or class scores:

- input ``image``: N x H x W x 3 uint8 RGB at the network's input size (normalisation happens in the graph, so
  a GPU backend only uploads bytes);
- output ``labels``: N x H x W uint8, the arg-max class;
- output ``margin``: N x H x W float32, top-1 minus top-2 softmax probability (small where the network hesitates
  between two classes; the ambiguity checks read it).
"""

import contextlib
import io
import json
import os
import re
import warnings
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from .model_files import sha256_file

MANIFEST_VERSION = 1
OPSET = 17
# The legacy (TorchScript) exporter, on purpose, with torch pinned: the torch.export-based one gave the same outputs
# but took 5-20x longer (a two-convolution net 0.1 -> 5.3 s, pspnet_lite0 at 64 x 96 1.7 -> 21 s), wrote
# pspnet_lite0 at opset 18 when asked for 17, and needs a batch-2 example for a dynamic batch. What that path says
# every time is expected, and silenced here by message:
EXPECTED_EXPORT_WARNINGS = (
    (DeprecationWarning, 'You are using the legacy TorchScript-based ONNX export'),
    (DeprecationWarning, 'The feature will be removed'),        # torch's own logging helper on the legacy path
    # the graph is exported at a fixed H x W: sizes read in forward() become constants, as meant
    (torch.jit.TracerWarning, 'Converting a tensor to a Python integer'),
    (torch.jit.TracerWarning, 'Converting a tensor to a Python boolean'),      # comparing such sizes
    (UserWarning, 'Constant folding - Only steps=1 can be constant folded'),   # a strided Slice stays unfolded
)


@contextlib.contextmanager
def quiet_legacy_export():
    """A context in which ``torch.onnx.export(..., dynamo=False)`` says none of EXPECTED_EXPORT_WARNINGS."""
    with warnings.catch_warnings():
        for category, message in EXPECTED_EXPORT_WARNINGS:
            warnings.filterwarnings('ignore', message=re.escape(message), category=category)
        yield


class DeployGraph(nn.Module):
    """uint8 NHWC image -> (uint8 labels, float32 top-1 minus top-2 margin), around any model of the registry."""

    def __init__(self, model: nn.Module, mean: Sequence[float], std: Sequence[float],
                 class_bias: Optional[Sequence[float]] = None):
        super().__init__()
        self.model = model
        self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer('inv_std', 1.0 / torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))
        # per-class offsets added to the logits (seg_perception.training.class_bias); no Add in the graph without them
        bias = None if class_bias is None else torch.tensor(class_bias, dtype=torch.float32).view(1, -1, 1, 1)
        self.register_buffer('class_bias', bias)

    def forward(self, image: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        x = (image.permute(0, 3, 1, 2).float() - self.mean) * self.inv_std
        logits = self.model(x)
        if isinstance(logits, (tuple, list)):
            logits = logits[0]
        logits = logits.float()
        if self.class_bias is not None:
            logits = logits + self.class_bias
        # channels last before the softmax and the top-2: along the innermost axis ONNX Runtime needs no transposes
        # (softmax and top-2 over the class axis of NCHW took a third of the CPU time at 544 x 408)
        top2, index = torch.softmax(logits.permute(0, 2, 3, 1), dim=-1).topk(2, dim=-1)
        labels = index[..., 0].to(torch.uint8)
        margin = top2[..., 0] - top2[..., 1]
        return labels, margin


def export_onnx(model: nn.Module, path_or_buffer, input_hw: Tuple[int, int], mean: Sequence[float],
                std: Sequence[float], opset: int = OPSET, dynamic_batch: bool = True,
                class_bias: Optional[Sequence[float]] = None) -> None:
    """Export ``model`` wrapped in :class:`DeployGraph` at a fixed H x W (batch dynamic when asked)."""
    graph = DeployGraph(model, mean, std, class_bias).eval()
    dummy = torch.zeros(1, input_hw[0], input_hw[1], 3, dtype=torch.uint8)
    axes = {'image': {0: 'batch'}, 'labels': {0: 'batch'}, 'margin': {0: 'batch'}} if dynamic_batch else None
    with torch.no_grad(), quiet_legacy_export():
        torch.onnx.export(graph, (dummy,), path_or_buffer, input_names=['image'],
                          output_names=['labels', 'margin'], dynamic_axes=axes, opset_version=opset,
                          dynamo=False)


def export_onnx_bytes(model: nn.Module, input_hw: Tuple[int, int], mean, std, **kwargs) -> bytes:
    """:func:`export_onnx` into memory."""
    buffer = io.BytesIO()
    export_onnx(model, buffer, input_hw, mean, std, **kwargs)
    return buffer.getvalue()


# What write_manifest writes itself, or a derived model must choose again (its offsets, its validation).
_OWN_FIELDS = frozenset({'manifest_version', 'name', 'architecture', 'arch_kwargs', 'classes', 'palette', 'input',
                         'outputs', 'files', 'sha256', 'training', 'validation', 'class_bias'})


def carried_fields(manifest: Dict) -> Dict:
    """The entries of a manifest that a model derived from it keeps as they are (``extra`` of write_manifest)."""
    return {k: v for k, v in manifest.items() if k not in _OWN_FIELDS}


def write_manifest(manifest_path: str, *, name: str, architecture: str, arch_kwargs: Dict, classes: Sequence[str],
                   input_hw: Tuple[int, int], mean: Sequence[float], std: Sequence[float], files: Dict[str, str],
                   training: Optional[Dict] = None, validation: Optional[Dict] = None,
                   extra: Optional[Dict] = None) -> Dict:
    """Write the JSON manifest beside the model files (``files``: role -> file name relative to the manifest)."""
    folder = os.path.dirname(os.path.abspath(manifest_path))
    manifest = {
        'manifest_version': MANIFEST_VERSION,
        'name': name,
        'architecture': architecture,
        'arch_kwargs': dict(arch_kwargs),
        'classes': list(classes),
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


def _store_weights(src: str, dst: str, select, store) -> Dict[str, int]:
    """Rewrite the float32 weights that ``select(init)`` picks with ``store(values, name)``.

    ``store`` returns the initializers that replace the weight and the node that rebuilds it as float32 under its
    own name, so that the rest of the graph is untouched. Returns counts: weights converted, bytes before and after.
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load(src)
    graph = model.graph
    keep, added, rebuild = [], [], []
    for init in graph.initializer:
        if init.data_type != onnx.TensorProto.FLOAT or not select(init):
            keep.append(init)
            continue
        stored, node = store(numpy_helper.to_array(init), init.name)
        added += stored
        rebuild.append(node)
    del graph.initializer[:]
    graph.initializer.extend(keep + added)
    nodes = rebuild + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    onnx.save(model, dst)
    return {'converted': len(rebuild), 'bytes_before': os.path.getsize(src), 'bytes_after': os.path.getsize(dst)}


def half_weights(src: str, dst: str, min_elements: int = 16) -> Dict[str, int]:
    """Store an ONNX model's float32 weights as float16, cast back to float32 when the graph is loaded.

    The file is about half the size; the arithmetic stays float32 (ONNX Runtime folds the casts into constants
    when it builds the session), so only the weights' rounding changes the output: check the labels against the
    float32 model before shipping. Weights with fewer than ``min_elements`` values (batch-norm statistics,
    biases) stay float32. Returns counts: weights converted, bytes before and after.
    """
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    def store(values, name):
        return ([numpy_helper.from_array(values.astype(np.float16), name + '_fp16')],
                helper.make_node('Cast', [name + '_fp16'], [name], to=onnx.TensorProto.FLOAT, name=name + '_to_fp32'))

    return _store_weights(src, dst, lambda init: int(np.prod(init.dims)) >= min_elements, store)


def int8_weights(src: str, dst: str, min_elements: int = 16) -> Dict[str, int]:
    """Store an ONNX model's convolution and matrix weights as int8, one scale per output channel.

    Each weight of two or more dimensions and at least ``min_elements`` values becomes int8 values and a float32
    scale per output channel (symmetric: the channel's largest magnitude maps to 127), rebuilt as float32 by a
    DequantizeLinear when the graph runs; the arithmetic stays float32. A quarter of the float32 size, at a
    coarser rounding than float16: check the labels against the float32 model before shipping. Biases and
    batch-norm statistics stay float32. Returns counts: weights converted, bytes before and after.
    """
    import numpy as np
    from onnx import helper, numpy_helper

    def store(values, name):
        flat = np.abs(values.reshape(values.shape[0], -1)).max(axis=1)
        scale = np.where(flat > 0, flat / 127.0, 1.0).astype(np.float32)
        q = np.clip(np.round(values / scale.reshape((-1,) + (1,) * (values.ndim - 1))), -127, 127).astype(np.int8)
        zero = np.zeros(values.shape[0], np.int8)
        return ([numpy_helper.from_array(q, name + '_int8'), numpy_helper.from_array(scale, name + '_scale'),
                 numpy_helper.from_array(zero, name + '_zero')],
                helper.make_node('DequantizeLinear', [name + '_int8', name + '_scale', name + '_zero'], [name],
                                 axis=0, name=name + '_dequantize'))

    return _store_weights(src, dst, lambda init: len(init.dims) >= 2 and int(np.prod(init.dims)) >= min_elements,
                          store)

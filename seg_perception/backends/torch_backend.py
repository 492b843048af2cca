"""PyTorch backend: the reference the other backends are checked against; CUDA when a GPU is present.

On a GPU it is also the reference for the TensorRT path and a fast path of its own: FP16 weights, channels-last
memory (what tensor-core convolutions want; the NHWC camera batch already is channels-last once permuted), and
optionally CUDA graphs, which replay the whole network as one launch for a fixed batch size (the input size is
fixed by the model). On the CPU it runs in FP32 as before.
"""

import copy
from typing import Dict, Optional, Tuple

import numpy as np

from . import Backend, BackendUnavailable
from ..model_files import ModelFiles


def load_module(model: ModelFiles):
    """The registry model of ``model``'s torch weights (.pt), in float32 on the CPU, in eval mode."""
    import torch

    from .. import models

    checkpoint = torch.load(model.path('torch'), map_location='cpu', weights_only=False)
    module = models.create(checkpoint['arch'], num_classes=len(model.classes), **checkpoint.get('arch_kwargs', {}))
    module.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in checkpoint['state_dict'].items()})
    return module.eval()


class TorchBackend(Backend):
    """Runs the model's torch weights through the same deployable graph as the ONNX export.

    ``device``: 'cpu', 'cuda' or 'cuda:N' (default: CUDA when available); ``half``: FP16 weights and activations
    (default: on CUDA; CUDA only); ``channels_last`` (default: on CUDA); ``cuda_graphs``: capture one CUDA graph per
    batch size on first use and replay it (CUDA only; default off).
    """

    name = 'torch'

    def __init__(self, model: ModelFiles, device: Optional[str] = None, threads: int = 0, module=None,
                 half: Optional[bool] = None, channels_last: Optional[bool] = None, cuda_graphs: bool = False):
        try:
            import torch
        except ImportError:
            raise BackendUnavailable('the torch backend needs PyTorch: pip install torch==2.13.0 '
                                     '(or pip install -e .[torch])') from None
        from ..export import DeployGraph

        if threads:
            torch.set_num_threads(threads)
        self.device = device or ('cuda' if torch.cuda.is_available() else 'cpu')
        cuda = self.device.startswith('cuda')
        if cuda and not torch.cuda.is_available():
            raise BackendUnavailable(f'the torch backend on {self.device} needs a CUDA GPU and a CUDA build of '
                                     f'PyTorch (this one is {torch.__version__}, CUDA available: no); use device '
                                     f'cpu')
        self.half = cuda if half is None else half
        self.channels_last = cuda if channels_last is None else channels_last
        self.cuda_graphs = cuda_graphs
        for option, on in (('half', self.half), ('cuda_graphs', self.cuda_graphs)):
            if on and not cuda:
                raise ValueError(f'torch backend option {option} needs a CUDA device, got device {self.device!r}')
        if module is None:
            module = load_module(model)
        elif self.half or self.channels_last:
            module = copy.deepcopy(module)      # converted below: leave the caller's module as it was
        if self.half:
            # the graph normalises in FP32 and takes the softmax in FP32; the network between runs in FP16
            module = module.half()
            module.register_forward_pre_hook(lambda _, args: (args[0].half(), *args[1:]))
        if self.channels_last:
            module = module.to(memory_format=torch.channels_last)
        mean, std = model.mean_std
        self.graph = DeployGraph(module, mean, std, model.class_bias).eval().to(self.device)
        self._graphs: Dict[int, tuple] = {}
        self._torch = torch

    def infer(self, images: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Labels and margins for a uint8 N x H x W x 3 batch."""
        torch = self._torch
        batch = torch.from_numpy(np.ascontiguousarray(images))
        with torch.inference_mode():
            if self.cuda_graphs:
                labels, margin = self._replay(batch)
            else:
                labels, margin = self.graph(batch.to(self.device, non_blocking=True))
            return labels.cpu().numpy(), margin.float().cpu().numpy()

    def _replay(self, batch):
        """Run ``batch`` through the CUDA graph captured for its size (captured on first use)."""
        torch = self._torch
        n = len(batch)
        if n not in self._graphs:
            static_input = torch.zeros(tuple(batch.shape), dtype=torch.uint8, device=self.device)
            side = torch.cuda.Stream(self.device)
            side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(side):       # warm-up off the default stream, as graph capture requires
                for _ in range(3):
                    self.graph(static_input)
            torch.cuda.current_stream(self.device).wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                static_output = self.graph(static_input)
            self._graphs[n] = (graph, static_input, static_output)
        graph, static_input, static_output = self._graphs[n]
        static_input.copy_(batch, non_blocking=True)
        graph.replay()
        return static_output

    def describe(self) -> str:
        """Backend, device and the GPU options in use."""
        options = [name for name, on in (('fp16', self.half), ('channels-last', self.channels_last),
                                         ('CUDA graphs', self.cuda_graphs)) if on]
        return f'torch on {self.device}' + (f' ({", ".join(options)})' if options else '')

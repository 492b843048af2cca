"""DeconvNet (Noh, Hong, Han, "Learning Deconvolution Network for Semantic Segmentation", ICCV 2015).

What the paper specifies (Section 3 and its table of the network's configuration), and what
:class:`DeconvNet` builds:

- the convolution network: VGG16's thirteen convolutions, each followed by batch normalisation and ReLU
  (the paper adds batch normalisation to the output of every convolutional and deconvolutional layer, to
  ease the training of the deep network), with 2x2/2 max pooling whose *switches* (the location of each
  maximum) are kept;
- fc6 (7x7 convolution, 4096 channels) and fc7 (1x1, 4096 channels), with batch normalisation and ReLU;
- the mirrored deconvolution network: deconv-fc6 (7x7 deconvolution back to 512 channels), then per stage
  unpooling with the switches of the matching pooling layer (each value goes back to where its maximum
  came from, zeros elsewhere) followed by 3x3 deconvolutions: 512, 512, 512 | 512, 512, 256 | 256, 256, 128 |
  128, 64 | 64, 64 channels (``deconv5_1`` ... ``deconv1_2``), each with batch normalisation and ReLU;
- a 1x1 class-scoring layer (252 M parameters with 21 classes, the paper's figure).

Adapted, and why:

- The paper runs on 224 x 224 object proposals, where pool5 is 7x7 and fc6 is a "valid" 7x7 convolution to
  1x1 (deconv-fc6 maps it back). On whole street images there is no fixed 7x7 map, so fc6 and deconv-fc6
  pad by 3 and keep the map's size: the same weights applied at every position, as FCN does with its fc6.
  The input is padded to a multiple of 32 and the output cropped, so any size works.
- Unpooling without ``MaxUnpool``: TensorRT has no MaxUnpool and ONNX's needs pooling indices, which
  TensorRT's MaxPool does not give. :func:`max_pool_with_switches` records the switches as a 0/1 mask at the
  input's resolution, found where the input equals its 2x2 window's maximum, keeping only the first such
  position in each window in row-major order (as ``max_pool2d``'s indices do, which matters after ReLU, where
  whole windows of zeros tie); :func:`unpool` is then a nearest-neighbour 2x upsampling times the mask. Both
  export to Slice, Equal, Cast, Mul/Sub, Concat/Reshape and Resize, which TensorRT and ONNX Runtime run; the
  tests check that the result equals ``max_unpool2d``.
- He initialisation instead of the ImageNet VGG16 weights the paper starts from (none can be installed
  here). The paper's two-stage training (object-centred crops, then harder examples) and its instance-wise
  inference with proposal aggregation are procedures around the network and are not reproduced.
- ``fc_channels`` (default 4096, the paper's) narrows fc6/fc7; it exists so that tests can export the same
  graph quickly, not as a recommended setting.
"""

from collections import OrderedDict
from typing import List, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .common import crop, pad_to_multiple
from .vgg import VGG16, conv_relu, init_he

# output channels of the deconvolutions of each decoder stage, from stage 5 (next to fc) down to stage 1
DECODER_STAGES = ((512, 512, 512), (512, 512, 256), (256, 256, 128), (128, 64), (64, 64))


def max_pool_with_switches(x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """2x2/2 max pooling of N x C x H x W (even H, W) and its switches as an N x C x H x W 0/1 float mask.

    The mask has a single 1 per 2x2 window, at the first maximum in row-major order, the position that
    ``F.max_pool2d(..., return_indices=True)`` reports.
    """
    pooled = F.max_pool2d(x, 2, 2)
    _, c, h, w = (int(s) for s in pooled.shape)
    taken = torch.zeros_like(pooled)
    masks = []
    for dy, dx in ((0, 0), (0, 1), (1, 0)):
        is_max = (x[:, :, dy::2, dx::2] == pooled).to(x.dtype)
        first = is_max * (1 - taken)
        taken = taken + first
        masks.append(first)
    masks.append(1 - taken)     # the last position is the maximum exactly when none before it was
    top = torch.stack(masks[:2], dim=-1).reshape(-1, c, h, 2 * w)
    bottom = torch.stack(masks[2:], dim=-1).reshape(-1, c, h, 2 * w)
    switches = torch.stack((top, bottom), dim=3).reshape(-1, c, 2 * h, 2 * w)
    return pooled, switches.detach()


def unpool(x: torch.Tensor, switches: torch.Tensor) -> torch.Tensor:
    """Unpooling with switches: each value of ``x`` returns to its window's recorded maximum, zeros elsewhere."""
    return F.interpolate(x, scale_factor=2.0, mode='nearest') * switches


def _bn_relu_layer(layer: nn.Module, channels: int) -> nn.Sequential:
    return nn.Sequential(layer, nn.BatchNorm2d(channels), nn.ReLU(inplace=True))


class DeconvNet(nn.Module):
    """VGG16 convolution network, fc6/fc7, and the mirrored unpooling/deconvolution network."""

    size_divisor = 32

    def __init__(self, num_classes: int, fc_channels: int = 4096):
        super().__init__()
        self.vgg = VGG16(batch_norm=True)
        self.fc6 = _bn_relu_layer(nn.Conv2d(512, fc_channels, 7, padding=3), fc_channels)
        self.fc7 = _bn_relu_layer(nn.Conv2d(fc_channels, fc_channels, 1), fc_channels)
        self.deconv_fc6 = _bn_relu_layer(nn.ConvTranspose2d(fc_channels, 512, 7, padding=3), 512)
        stages = []
        channels = 512
        for index, widths in enumerate(DECODER_STAGES):
            layers = OrderedDict()
            for j, width in enumerate(widths):
                layers.update(conv_relu(f'{5 - index}_{j + 1}', channels, width, batch_norm=True, transposed=True))
                channels = width
            stages.append(nn.Sequential(layers))
        self.decoder = nn.ModuleList(stages)
        self.score = nn.Conv2d(channels, num_classes, 1)
        init_he(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map N x 3 x H x W (normalised, any size) to N x C x H x W logits."""
        x, size = pad_to_multiple(x, self.size_divisor)
        switches: List[torch.Tensor] = []
        for stage in self.vgg.stages:
            x, s = max_pool_with_switches(stage(x))
            switches.append(s)
        x = self.deconv_fc6(self.fc7(self.fc6(x)))
        for stage, s in zip(self.decoder, reversed(switches)):
            x = stage(unpool(x, s))
        return crop(self.score(x), size)


def deconvnet(*, num_classes: int, **kwargs) -> DeconvNet:
    """DeconvNet of Noh et al. (252 M parameters): VGG16 with batch norm, fc6/fc7, mirrored deconvolution net."""
    return DeconvNet(num_classes, **kwargs)

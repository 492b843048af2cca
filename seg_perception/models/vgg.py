"""The VGG16 convolutional layers (Simonyan and Zisserman, ICLR 2015, configuration D).

Shared by FCN, DeepLab v1, DeconvNet and Deep Contextual Networks.

Configuration D: thirteen 3x3 convolutions (stride 1, padding 1, with bias), each followed by ReLU, in five
stages of 2, 2, 3, 3, 3 layers with 64, 128, 256, 512, 512 channels (14,714,688 parameters). The pooling
between stages is left to each model, because the papers pool differently: FCN with 2x2/2 max pooling,
DeepLab with 3x3/2 (and 3x3/1 after stages 4 and 5), DeconvNet with pooling switches kept for unpooling.

``batch_norm=True`` inserts batch normalisation after every convolution (the ``vgg16_bn`` layout); DeconvNet
uses it as its paper does, FCN and DeepLab offer it as an option because no ImageNet VGG weights can be
installed here and a 16-layer plain network trained from scratch converges far more slowly without it.
``dilations`` gives each stage's atrous rate (DeepLab dilates stage 5 by 2).

Layer names follow the papers' Caffe definitions (``conv1_1`` ... ``conv5_3``).
"""

from collections import OrderedDict
from typing import Sequence

import torch
import torch.nn as nn

# (convolutions, channels) of the five stages of configuration D
VGG16_STAGES = ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512))


def conv_relu(name: str, in_channels: int, out_channels: int, batch_norm: bool, kernel_size: int = 3,
              dilation: int = 1, transposed: bool = False) -> OrderedDict:
    """Named layers ``conv<name>`` [``bn<name>``] ``relu<name>``; 'same' padding at any dilation."""
    padding = dilation * (kernel_size - 1) // 2
    conv_type = nn.ConvTranspose2d if transposed else nn.Conv2d
    prefix = 'deconv' if transposed else 'conv'
    layers = OrderedDict()
    layers[f'{prefix}{name}'] = conv_type(in_channels, out_channels, kernel_size, padding=padding,
                                          dilation=dilation)
    if batch_norm:
        layers[f'bn{name}'] = nn.BatchNorm2d(out_channels)
    layers[f'relu{name}'] = nn.ReLU(inplace=True)
    return layers


class VGG16(nn.Module):
    """VGG16's five convolutional stages without pooling; ``stages[i]`` maps stage i's input to its output."""

    def __init__(self, batch_norm: bool = False, dilations: Sequence[int] = (1, 1, 1, 1, 1), in_channels: int = 3):
        super().__init__()
        stages = []
        channels = in_channels
        for index, ((count, width), dilation) in enumerate(zip(VGG16_STAGES, dilations)):
            layers = OrderedDict()
            for j in range(count):
                layers.update(conv_relu(f'{index + 1}_{j + 1}', channels, width, batch_norm, dilation=dilation))
                channels = width
            stages.append(nn.Sequential(layers))
        self.stages = nn.ModuleList(stages)
        self.channels = tuple(width for _, width in VGG16_STAGES)
        init_he(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """All five stages without pooling (the models pool between stages themselves)."""
        for stage in self.stages:
            x = stage(x)
        return x


def init_he(module: nn.Module) -> None:
    """He (fan-in) initialisation of every (transposed) convolution and linear layer, zero biases, BN to 1/0.

    The papers start from ImageNet VGG16 weights, which cannot be installed here; He initialisation is what
    lets these plain ReLU networks train from scratch.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            # ConvTranspose2d stores (in, out, k, k): its fan-in for the forward pass is dimension 1 x k x k
            mode = 'fan_out' if isinstance(m, nn.ConvTranspose2d) else 'fan_in'
            nn.init.kaiming_normal_(m.weight, mode=mode, nonlinearity='relu')
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

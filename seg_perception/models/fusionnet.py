"""FusionNet (Quan, Hildebrand, Jeong, arXiv:1612.05360, 2016).

"FusionNet: A deep fully residual convolutional neural network for image segmentation in connectomics".

What the paper specifies (its description and figure of the architecture), and what :class:`FusionNet` builds:

- an encoder-decoder like U-Net, but "fully residual": every level is a 3x3 convolution, a residual block
  (three 3x3 convolutions added to the block's input by an identity connection), and another 3x3
  convolution; every convolution is followed by batch normalisation and ReLU;
- four encoder levels with 64, 128, 256 and 512 channels, each followed by 2x2/2 max pooling, a 1024-channel
  bridge, and four decoder levels back down to 64 channels;
- between levels of the decoder a stride-2 deconvolution (transposed convolution) halving the channels, and
  the skip connection from the encoder level of the same resolution *added* to it (summation, where U-Net
  concatenates), so that the network has residual connections at short and long range;
- padded convolutions, so that the output has the input's size; a final 1x1 convolution to the classes.

Adapted, and why:

- The deconvolution kernel is 2x2 with stride 2, like U-Net's up-convolution: it maps each coarse cell to
  exactly one 2x2 block, so the map lines up with the skip map for the summation with no cropping.
- The input is padded to a multiple of 16 and the output cropped, so any input size works.
- The paper's output unit (a single membrane probability for electron microscopy) is replaced by a 1x1
  convolution to ``num_classes`` logits.
"""

from typing import List

import torch
import torch.nn as nn

from .common import crop, pad_to_multiple
from .vgg import init_he

CHANNELS = (64, 128, 256, 512, 1024)


def conv_bn_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    """3x3 convolution, batch normalisation, ReLU."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class ResidualBlock(nn.Module):
    """Three 3x3 conv-BN-ReLU layers added to the input by an identity connection."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(*[conv_bn_relu(channels, channels) for _ in range(3)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``x + body(x)``."""
        return x + self.body(x)


def residual_level(in_channels: int, channels: int) -> nn.Sequential:
    """One FusionNet level: conv, residual block, conv."""
    return nn.Sequential(conv_bn_relu(in_channels, channels), ResidualBlock(channels),
                         conv_bn_relu(channels, channels))


class FusionNet(nn.Module):
    """Fully residual encoder-decoder with summation-based skip connections."""

    size_divisor = 2 ** (len(CHANNELS) - 1)

    def __init__(self, num_classes: int, in_channels: int = 3):
        super().__init__()
        self.encoder = nn.ModuleList()
        channels = in_channels
        for width in CHANNELS[:-1]:
            self.encoder.append(residual_level(channels, width))
            channels = width
        self.pool = nn.MaxPool2d(2, 2)
        self.bridge = residual_level(channels, CHANNELS[-1])
        channels = CHANNELS[-1]
        self.deconvs = nn.ModuleList()
        self.decoder = nn.ModuleList()
        for width in reversed(CHANNELS[:-1]):
            self.deconvs.append(nn.Sequential(nn.ConvTranspose2d(channels, width, 2, stride=2, bias=False),
                                              nn.BatchNorm2d(width), nn.ReLU(inplace=True)))
            self.decoder.append(residual_level(width, width))
            channels = width
        self.classifier = nn.Conv2d(channels, num_classes, 1)
        init_he(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map N x 3 x H x W (normalised, any size) to N x C x H x W logits."""
        x, size = pad_to_multiple(x, self.size_divisor)
        skips: List[torch.Tensor] = []
        for level in self.encoder:
            x = level(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bridge(x)
        for deconv, level in zip(self.deconvs, self.decoder):
            x = level(deconv(x) + skips.pop())
        return crop(self.classifier(x), size)


def fusionnet(*, num_classes: int, **kwargs) -> FusionNet:
    """FusionNet of Quan et al.: U-Net-shaped, residual at every level, skips by summation."""
    return FusionNet(num_classes, **kwargs)

"""U-Net (Ronneberger, Fischer, Brox, MICCAI 2015).

"U-Net: Convolutional Networks for Biomedical Image Segmentation".

What the paper specifies (Section 2, Figure 1), and what :class:`UNet` builds:

- a contracting path of four steps, each two 3x3 convolutions with ReLU and a 2x2/2 max pooling, the channels
  doubling from 64 to 512, then two 3x3 convolutions with 1024 channels at the bottom;
- an expansive path of four steps, each a 2x2 "up-convolution" (here a 2x2/2 transposed convolution) halving
  the channels, concatenation with the contracting path's feature map of the same level (the skip
  connection), and two 3x3 convolutions with ReLU;
- a final 1x1 convolution to the classes (23 convolutional layers in all; 31.0 M parameters, the figure
  commonly quoted for it; the paper does not give one);
- drop-out at the end of the contracting path; weights drawn from a Gaussian with standard deviation
  sqrt(2 / N), N the number of inputs of a unit (He initialisation).

Adapted, and why:

- The paper's convolutions are unpadded ("valid"): a 572 x 572 tile gives a 388 x 388 map, the skip maps are
  cropped, and large images are processed as overlapping tiles with a mirrored border. Here every 3x3
  convolution pads by 1, so skip maps need no cropping and the output covers the whole input in one pass,
  which a camera node needs; the input is padded to a multiple of 16 and the output cropped.
- The paper's pixel-wise loss weights (emphasising borders between touching cells) are a property of its
  cell data and loss, not of the network, and are not part of this model.
"""

from typing import List

import torch
import torch.nn as nn

from .common import crop, pad_to_multiple
from .vgg import init_he

CHANNELS = (64, 128, 256, 512, 1024)


def double_conv(in_channels: int, out_channels: int) -> nn.Sequential:
    """Two 3x3 convolutions with ReLU (one step of either path)."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.ReLU(inplace=True),
                         nn.Conv2d(out_channels, out_channels, 3, padding=1), nn.ReLU(inplace=True))


class UNet(nn.Module):
    """The U-Net: contracting path, 1024-channel bottom, expansive path with concatenated skips."""

    size_divisor = 2 ** (len(CHANNELS) - 1)

    def __init__(self, num_classes: int, in_channels: int = 3, dropout: float = 0.5):
        super().__init__()
        self.contracting = nn.ModuleList()
        channels = in_channels
        for width in CHANNELS:
            self.contracting.append(double_conv(channels, width))
            channels = width
        self.pool = nn.MaxPool2d(2, 2)
        self.dropout = nn.Dropout2d(dropout)
        self.up_convs = nn.ModuleList()
        self.expansive = nn.ModuleList()
        for width in reversed(CHANNELS[:-1]):
            self.up_convs.append(nn.ConvTranspose2d(channels, width, 2, stride=2))
            self.expansive.append(double_conv(2 * width, width))
            channels = width
        self.classifier = nn.Conv2d(channels, num_classes, 1)
        init_he(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map N x 3 x H x W (normalised, any size) to N x C x H x W logits."""
        x, size = pad_to_multiple(x, self.size_divisor)
        skips: List[torch.Tensor] = []
        for index, step in enumerate(self.contracting):
            if index:
                x = self.pool(x)
            x = step(x)
            skips.append(x)
        x = self.dropout(skips.pop())
        for up_conv, step in zip(self.up_convs, self.expansive):
            x = step(torch.cat([skips.pop(), up_conv(x)], dim=1))
        return crop(self.classifier(x), size)


def unet(*, num_classes: int, **kwargs) -> UNet:
    """U-Net of Ronneberger et al. with padded convolutions (64 ... 1024 channels, about 31 M parameters)."""
    return UNet(num_classes, **kwargs)

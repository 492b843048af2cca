"""Dilated ResNet-50 / ResNet-101 trunks for dense prediction (He et al., CVPR 2016; Zhao et al., CVPR 2017).

What the papers specify, and what this file implements:

- He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition" (CVPR 2016): bottleneck blocks
  (1x1 reduce, 3x3, 1x1 expand by 4, batch norm after every convolution, ReLU after the addition), a 1x1
  projection shortcut with batch norm where the shape changes, stages of [3, 4, 6, 3] (ResNet-50) and
  [3, 4, 23, 3] (ResNet-101) blocks with 64, 128, 256, 512 bottleneck channels. As in the common PyTorch
  ("v1.5") trunk, the stride of a stage sits on the 3x3 convolution, not on the first 1x1.
- Zhao, Shi, Qi, Wang, Jia, "Pyramid Scene Parsing Network" (CVPR 2017) and its released code: the "deep
  stem" (three 3x3 convolutions with 64, 64 and 128 channels, the first with stride 2, instead of the single
  7x7 convolution; also the ResNet-C stem of He et al., "Bag of Tricks", CVPR 2019), and the dilated network
  with output stride 8: layer3 and layer4 keep stride 1 and use dilation 2 and 4 in every 3x3 convolution
  (as the PSPNet code does; Chen et al., DeepLab, do the same). Output stride 16 dilates only layer4 (by 2);
  output stride 32 is the plain classification trunk.

No classifier (global pooling and fc) is built. ``forward`` returns the outputs of layer1..layer4 as a tuple
``(c1, c2, c3, c4)`` with ``channels == (256, 512, 1024, 2048)``, so a head can take layer4 (main branch) and
layer3 (PSPNet's auxiliary loss).
"""

from typing import Sequence, Tuple

import torch
import torch.nn as nn

# (stride, dilation) of layer1..layer4 for each output stride
_STRIDES_DILATIONS = {
    8: ((1, 1), (2, 1), (1, 2), (1, 4)),
    16: ((1, 1), (2, 1), (2, 1), (1, 2)),
    32: ((1, 1), (2, 1), (2, 1), (2, 1)),
}


def _conv_bn_relu(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class Bottleneck(nn.Module):
    """Bottleneck residual block: 1x1 reduce, 3x3 (strided or dilated), 1x1 expand by 4, plus shortcut."""

    expansion = 4

    def __init__(self, in_channels: int, planes: int, stride: int = 1, dilation: int = 1):
        super().__init__()
        out_channels = planes * self.expansion
        self.conv1 = nn.Conv2d(in_channels, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=dilation, dilation=dilation,
                               bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``relu(F(x) + shortcut(x))``."""
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """A bottleneck ResNet trunk (no classifier) with dilated last stages; returns layer1..layer4 features."""

    def __init__(self, blocks: Sequence[int], output_stride: int = 8, deep_stem: bool = True):
        super().__init__()
        if output_stride not in _STRIDES_DILATIONS:
            raise ValueError(f'output_stride must be one of {sorted(_STRIDES_DILATIONS)}; '
                             f'got {output_stride}')
        self.output_stride = output_stride
        if deep_stem:
            stem_channels = 128
            self.stem = nn.Sequential(_conv_bn_relu(3, 64, stride=2), _conv_bn_relu(64, 64),
                                      _conv_bn_relu(64, stem_channels))
        else:
            stem_channels = 64
            self.stem = nn.Sequential(nn.Conv2d(3, stem_channels, 7, stride=2, padding=3, bias=False),
                                      nn.BatchNorm2d(stem_channels), nn.ReLU(inplace=True))
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)

        in_channels = stem_channels
        layers = []
        strides_dilations = _STRIDES_DILATIONS[output_stride]
        for planes, count, (stride, dilation) in zip((64, 128, 256, 512), blocks, strides_dilations):
            units = [Bottleneck(in_channels, planes, stride, dilation)]
            in_channels = planes * Bottleneck.expansion
            units += [Bottleneck(in_channels, planes, 1, dilation) for _ in range(count - 1)]
            layers.append(nn.Sequential(*units))
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.channels: Tuple[int, ...] = tuple(p * Bottleneck.expansion for p in (64, 128, 256, 512))

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Map N x 3 x H x W to the features ``(c1, c2, c3, c4)`` at strides 4, 8 and (per output stride)."""
        c1 = self.layer1(self.maxpool(self.stem(x)))
        c2 = self.layer2(c1)
        c3 = self.layer3(c2)
        c4 = self.layer4(c3)
        return c1, c2, c3, c4


def resnet50(output_stride: int = 8, deep_stem: bool = True) -> ResNet:
    """ResNet-50 trunk, [3, 4, 6, 3] bottleneck blocks, dilated to ``output_stride`` (8, 16 or 32)."""
    return ResNet((3, 4, 6, 3), output_stride=output_stride, deep_stem=deep_stem)


def resnet101(output_stride: int = 8, deep_stem: bool = True) -> ResNet:
    """ResNet-101 trunk, [3, 4, 23, 3] bottleneck blocks, dilated to ``output_stride`` (8, 16 or 32)."""
    return ResNet((3, 4, 23, 3), output_stride=output_stride, deep_stem=deep_stem)

"""DeepLab v1 LargeFOV (Chen et al., ICLR 2015) and DeepLab v2 with ASPP on ResNet-101 (TPAMI 2017).

Chen, Papandreou, Kokkinos, Murphy, Yuille, "Semantic Image Segmentation with Deep Convolutional Nets and Fully
Connected CRFs" (ICLR 2015) and "DeepLab: Semantic Image Segmentation with Deep Convolutional Nets, Atrous
Convolution, and Fully Connected CRFs" (TPAMI 2017).

What the papers specify, and what this file builds:

- :func:`deeplab_largefov` (v1, Sections 3.1 and 4, Table 2 "DeepLab-CRF-LargeFOV"; the released
  ``DeepLab-LargeFOV`` net): VGG16 with its last two max poolings at stride 1 (pool1-3: 3x3, stride 2,
  padding 1; pool4, pool5: 3x3, stride 1, padding 1), so the output stride is 8; the conv5 layers atrous at
  rate 2; fc6 as a 3x3 convolution at rate 12 with 1024 channels, fc7 as a 1x1 convolution with 1024
  channels (ReLU and dropout 0.5 after each), fc8 a 1x1 class-scoring convolution (20.5 M parameters);
  scores bilinearly upsampled 8x. Caffe's pooling rounds up, as ``ceil_mode=True`` does here.
- :func:`deeplab_v2_aspp` (v2, Section 3.3 and its experiments, "DeepLab-ASPP-L"): ResNet-101 with the 7x7 stem,
  made atrous for output stride 8 (res4 at rate 2, res5 at rate 4), then atrous spatial pyramid pooling:
  four parallel 3x3 class-scoring convolutions on res5 at rates 6, 12, 18 and 24, their scores summed
  (in the ResNet-101 variant each branch scores the classes directly; initialised N(0, 0.01)).

Adapted, and why:

- Upsampling: DeepLab resizes its 8x coarser scores with Caffe's ``Interp`` (corner-aligned) and feeds
  inputs of size 8k + 1 (513), where the coarse grid falls exactly on every 8th pixel. For any other size the
  corner-aligned resize stretches the grid; here the scores are interpolated onto the 8(m - 1) + 1 pixel grid
  the m features actually sit on and cropped to the input, which equals DeepLab's resize at 8k + 1 sizes and
  stays aligned at all others.
- He initialisation instead of ImageNet weights (none can be installed here); the ResNet's batch norm is
  trained, where DeepLab v2 kept the ImageNet statistics fixed (there are none to keep here).
- DeepLab v2 also trains with three input scales (1, 0.75, 0.5) fused by a max ("MSC"); that is a training
  and test-time procedure around the network, not part of it, and it is not reproduced here. The ResNet
  puts the stride of a stage on its 3x3 convolution (see :mod:`resnet`), DeepLab's Caffe ResNet on the first
  1x1; the parameter count is the same.
"""

from typing import List

import torch
import torch.nn as nn
import torch.nn.functional as F

from .common import crop
from .vgg import VGG16, init_he

# DeepLab v2 ASPP-L rates
ASPP_RATES = (6, 12, 18, 24)
OUTPUT_STRIDE = 8


def upsample_scores(scores: torch.Tensor, size, stride: int = OUTPUT_STRIDE) -> torch.Tensor:
    """Bilinear upsampling of stride-``stride`` scores whose cell j is centred on pixel ``stride * j``."""
    m_h, m_w = int(scores.shape[-2]), int(scores.shape[-1])
    grid = (stride * (m_h - 1) + 1, stride * (m_w - 1) + 1)
    y = F.interpolate(scores, size=grid, mode='bilinear', align_corners=True)
    # a ResNet (floor-mode) input of 8k rows has k cells, whose grid ends 7 rows short of the last pixel:
    # extend by the border value, as bilinear interpolation does beyond its last sample (Slice and Tile
    # rather than an 'edge' Pad, which not every TensorRT version parses)
    if grid[0] < size[0]:
        y = torch.cat([y, y[:, :, -1:, :].repeat(1, 1, size[0] - grid[0], 1)], dim=2)
    if grid[1] < size[1]:
        y = torch.cat([y, y[:, :, :, -1:].repeat(1, 1, 1, size[1] - grid[1])], dim=3)
    return crop(y, size)


class DeepLabLargeFOV(nn.Module):
    """DeepLab v1 LargeFOV: atrous VGG16 at output stride 8, fc6 3x3 at rate 12 with 1024 channels."""

    def __init__(self, num_classes: int, dropout: float = 0.5, batch_norm: bool = False):
        super().__init__()
        self.vgg = VGG16(batch_norm=batch_norm, dilations=(1, 1, 1, 1, 2))
        # (kernel, stride) of pool1 ... pool5; padding 1 everywhere
        self.pools = nn.ModuleList(nn.MaxPool2d(3, stride, padding=1, ceil_mode=True) for stride in (2, 2, 2, 1, 1))
        self.fc6 = nn.Sequential(nn.Conv2d(512, 1024, 3, padding=12, dilation=12), nn.ReLU(inplace=True),
                                 nn.Dropout2d(dropout))
        self.fc7 = nn.Sequential(nn.Conv2d(1024, 1024, 1), nn.ReLU(inplace=True), nn.Dropout2d(dropout))
        self.fc8 = nn.Conv2d(1024, num_classes, 1)
        init_he(self)
        # DeepLab's fc8 starts at N(0, 0.01) so the first scores are small, as the FCN papers' zero init
        nn.init.normal_(self.fc8.weight, std=0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map N x 3 x H x W (normalised, any size) to N x C x H x W logits."""
        size = (int(x.shape[-2]), int(x.shape[-1]))
        for stage, pool in zip(self.vgg.stages, self.pools):
            x = pool(stage(x))
        return upsample_scores(self.fc8(self.fc7(self.fc6(x))), size)


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling, DeepLab v2's ASPP-L: 3x3 class scores at several rates, summed."""

    def __init__(self, in_channels: int, num_classes: int, rates=ASPP_RATES):
        super().__init__()
        self.branches = nn.ModuleList(nn.Conv2d(in_channels, num_classes, 3, padding=r, dilation=r) for r in rates)
        for branch in self.branches:
            nn.init.normal_(branch.weight, std=0.01)
            nn.init.zeros_(branch.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Sum of the branches' scores (ASPP fuses its branches by summation)."""
        scores: List[torch.Tensor] = [branch(x) for branch in self.branches]
        out = scores[0]
        for s in scores[1:]:
            out = out + s
        return out


class DeepLabV2(nn.Module):
    """DeepLab v2: atrous ResNet-101 (output stride 8) and ASPP on res5."""

    def __init__(self, num_classes: int, rates=ASPP_RATES):
        super().__init__()
        from . import resnet

        self.backbone = resnet.resnet101(output_stride=OUTPUT_STRIDE, deep_stem=False)
        self.aspp = ASPP(self.backbone.channels[-1], num_classes, rates)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map N x 3 x H x W (normalised, any size) to N x C x H x W logits."""
        size = (int(x.shape[-2]), int(x.shape[-1]))
        return upsample_scores(self.aspp(self.backbone(x)[-1]), size)


def deeplab_largefov(*, num_classes: int, **kwargs) -> DeepLabLargeFOV:
    """DeepLab v1 LargeFOV (VGG16, output stride 8, fc6 3x3 at rate 12, 1024 channels; 20.5 M parameters)."""
    return DeepLabLargeFOV(num_classes, **kwargs)


def deeplab_v2_aspp(*, num_classes: int, **kwargs) -> DeepLabV2:
    """DeepLab v2 ASPP-L on an atrous ResNet-101 (rates 6, 12, 18, 24, branches summed)."""
    return DeepLabV2(num_classes, **kwargs)

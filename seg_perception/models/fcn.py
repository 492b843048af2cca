"""FCN-32s, FCN-16s and FCN-8s (Long, Shelhamer, Darrell, CVPR 2015).

"Fully Convolutional Networks for Semantic Segmentation", and the VGG16 nets of the authors' released code
(``fcn.berkeleyvision.org``).

What the paper specifies (Sections 3-4), and what :class:`FCN` builds:

- VGG16's thirteen convolutions and five 2x2/2 max poolings; the classifier "convolutionalised": fc6 as a
  7x7 convolution with 4096 channels, fc7 as a 1x1 convolution with 4096 channels, each with ReLU and
  dropout 0.5, and a 1x1 class-scoring convolution ``score_fr`` (134 M parameters for FCN-32s, Table 1);
- FCN-32s: the scores upsampled 32x by a transposed convolution ("deconvolution") initialised to bilinear
  interpolation;
- FCN-16s: a 1x1 scoring layer on pool4 (``score_pool4``), added to the 2x upsampled coarse scores
  (``upscore2``); the sum upsampled 16x;
- FCN-8s: likewise a ``score_pool3`` added to the 2x upsampled fusion (``upscore_pool4``); upsampled 8x;
- the new scoring layers start at zero (random initialisation was no better, the paper reports), the
  intermediate 2x deconvolutions start at bilinear and are learned, and the final upsampling is fixed
  bilinear interpolation (Section 4.3, "Dense prediction"; learning rate 0 in the released nets), which
  :func:`bilinear_deconvolution` freezes. The paper's softmax is left to the loss; the model returns logits.

Adapted, and why:

- The released nets pad conv1_1 by 100 pixels and crop the upsampled scores by offsets (19, 27, 31) so that
  any input size works. Here fc6 pads by 3 ("same") and the input is padded to a multiple of 32 and the
  output cropped (:func:`common.pad_to_multiple`): outputs align with pixels by construction, and the network
  does not pay for 200 extra rows and columns (at 480 x 360 the 100-pixel margin would more than double the
  work). The parameters are the paper's, layer for layer.
- He initialisation instead of ImageNet VGG16 weights (none can be installed here); ``batch_norm=True``
  (not in the paper) adds batch normalisation after every VGG convolution for training from scratch.
- ``fc_channels`` (default 4096, the paper's) narrows fc6/fc7; it exists so that tests can export the same
  graph quickly, not as a recommended setting.

Parameter counts with 21 classes (PASCAL VOC, the paper's), fixed upsampling kernels included: FCN-32s 136.2 M
(134.3 M without its fixed 64 x 64 upsampling kernels), FCN-16s 134.8 M, FCN-8s 134.5 M; the paper: 134 M.
"""

from typing import List

import torch
import torch.nn as nn
import torch.nn.functional as F

from .common import bilinear_deconvolution, crop, pad_to_multiple
from .vgg import VGG16, init_he


class FCN(nn.Module):
    """VGG16 FCN with the skip fusions of the ``variant`` (32, 16 or 8) of Long et al."""

    size_divisor = 32

    def __init__(self, num_classes: int, variant: int = 8, fc_channels: int = 4096, dropout: float = 0.5,
                 batch_norm: bool = False):
        super().__init__()
        if variant not in (32, 16, 8):
            raise ValueError(f'FCN variant must be 32, 16 or 8 (FCN-32s, -16s, -8s); got {variant}')
        self.variant = variant
        self.vgg = VGG16(batch_norm=batch_norm)
        self.fc6 = nn.Sequential(nn.Conv2d(512, fc_channels, 7, padding=3), nn.ReLU(inplace=True),
                                 nn.Dropout2d(dropout))
        self.fc7 = nn.Sequential(nn.Conv2d(fc_channels, fc_channels, 1), nn.ReLU(inplace=True),
                                 nn.Dropout2d(dropout))
        init_he(self)
        self.score_fr = nn.Conv2d(fc_channels, num_classes, 1)
        scoring = [self.score_fr]
        if variant <= 16:
            self.score_pool4 = nn.Conv2d(512, num_classes, 1)
            self.upscore2 = bilinear_deconvolution(num_classes, 2)
            scoring.append(self.score_pool4)
        if variant == 8:
            self.score_pool3 = nn.Conv2d(256, num_classes, 1)
            self.upscore_pool4 = bilinear_deconvolution(num_classes, 2)
            scoring.append(self.score_pool3)
        for layer in scoring:
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        self.upscore = bilinear_deconvolution(num_classes, variant, learnable=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map N x 3 x H x W (normalised, any size) to N x C x H x W logits."""
        x, size = pad_to_multiple(x, self.size_divisor)
        pools: List[torch.Tensor] = []
        for stage in self.vgg.stages:
            x = F.max_pool2d(stage(x), 2, 2)
            pools.append(x)
        score = self.score_fr(self.fc7(self.fc6(x)))
        if self.variant <= 16:
            score = self.upscore2(score) + self.score_pool4(pools[3])
        if self.variant == 8:
            score = self.upscore_pool4(score) + self.score_pool3(pools[2])
        return crop(self.upscore(score), size)


def _fcn(variant: int, num_classes: int, **kwargs) -> FCN:
    return FCN(num_classes, variant=variant, **kwargs)


def fcn32s(*, num_classes: int, **kwargs) -> FCN:
    """FCN-32s: VGG16, fc6/fc7 convolutionalised, one 32x bilinear upsampling (paper Section 4.2)."""
    return _fcn(32, num_classes, **kwargs)


def fcn16s(*, num_classes: int, **kwargs) -> FCN:
    """FCN-16s: FCN-32s plus the pool4 skip, fused at stride 16."""
    return _fcn(16, num_classes, **kwargs)


def fcn8s(*, num_classes: int, **kwargs) -> FCN:
    """FCN-8s: FCN-16s plus the pool3 skip, fused at stride 8."""
    return _fcn(8, num_classes, **kwargs)

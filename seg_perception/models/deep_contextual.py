"""Deep Contextual Network (Chen, Qi, Cheng, Heng, AAAI 2016).

"Deep Contextual Networks for Neuronal Structure Segmentation".

What the paper specifies (Section "Method", Figure 2), and what :class:`DeepContextualNet` builds:

- a down-sampling path of convolutional and max-pooling layers, which gathers context at growing receptive
  fields;
- multi-level contextual features: the feature maps of several depths are each brought back to the input
  resolution by deconvolution (learned upsampling), so that shallow layers contribute local detail and deep
  layers global context;
- an auxiliary classifier on each level (C1, C2, C3 in the paper), trained with its own softmax loss to
  fight vanishing gradients and to make the shallow features discriminative; the auxiliary losses' weights
  are discounted towards zero as training goes on;
- the fused output: the levels' outputs summed and passed through one softmax, which is the network's
  prediction.

Chosen here, where the paper's figure leaves the layer details to the electron-microscopy network (1-channel
tiles; its exact widths are not restated for other inputs), and why:

- the down-sampling path is VGG16's thirteen convolutions with 2x2/2 max pooling (as in the authors'
  follow-up, DCAN, CVPR 2016), the three levels taken after pool3, pool4 and pool5 (strides 8, 16, 32);
- each level is scored by a 1x1 convolution and then upsampled by a learned deconvolution initialised to
  bilinear interpolation (kernel 2f, stride f); scoring before upsampling keeps the deconvolutions small
  (classes x classes) and avoids full-resolution 512-channel maps;
- in training mode ``forward`` returns ``(fused, c1, c2, c3)``: the training loop applies a fixed weight to
  every auxiliary loss (it does not discount it over time as the paper does). In eval mode it returns the
  fused logits, which is what the deployable graph exports;
- He initialisation (the paper trains from scratch too); the input is padded to a multiple of 32 and the
  output cropped, so any size works.
"""

from typing import Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from .common import bilinear_deconvolution, crop, pad_to_multiple
from .vgg import VGG16

# (VGG16 stage whose pooled output feeds the level, its stride)
LEVELS = ((2, 8), (3, 16), (4, 32))


class DeepContextualNet(nn.Module):
    """Down-sampling path, three contextual levels upsampled by deconvolution, auxiliary and fused outputs."""

    size_divisor = 32

    def __init__(self, num_classes: int, batch_norm: bool = False):
        super().__init__()
        self.vgg = VGG16(batch_norm=batch_norm)
        self.classifiers = nn.ModuleList(nn.Conv2d(self.vgg.channels[stage], num_classes, 1)
                                         for stage, _ in LEVELS)
        self.deconvs = nn.ModuleList(bilinear_deconvolution(num_classes, stride) for _, stride in LEVELS)
        for classifier in self.classifiers:
            nn.init.normal_(classifier.weight, std=0.01)
            nn.init.zeros_(classifier.bias)

    def forward(self, x: torch.Tensor) -> Union[torch.Tensor, Tuple[torch.Tensor, ...]]:
        """N x 3 x H x W (normalised, any size) -> fused N x C x H x W logits (and C1..C3 in training)."""
        x, size = pad_to_multiple(x, self.size_divisor)
        pooled = []
        for stage in self.vgg.stages:
            x = F.max_pool2d(stage(x), 2, 2)
            pooled.append(x)
        levels = [crop(deconv(classifier(pooled[stage])), size)
                  for (stage, _), classifier, deconv in zip(LEVELS, self.classifiers, self.deconvs)]
        fused = levels[0]
        for level in levels[1:]:
            fused = fused + level
        if self.training:
            return (fused, *levels)
        return fused


def deep_contextual(*, num_classes: int, **kwargs) -> DeepContextualNet:
    """Deep Contextual Network (VGG16 down-sampling path, levels at strides 8, 16, 32, summed)."""
    return DeepContextualNet(num_classes, **kwargs)

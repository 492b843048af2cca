"""PSPNet: Pyramid Scene Parsing Network (Zhao, Shi, Qi, Wang, Jia, CVPR 2017).

What the paper specifies (Sections 3.2-3.3, 4.1), and :func:`pspnet` builds:

- a dilated ResNet backbone (ResNet-50 or -101 with the three-conv "deep stem") with output stride 8;
- the pyramid pooling module on the last feature map: average pooling to 1x1, 2x2, 3x3 and 6x6 bins, a 1x1
  convolution reducing each level to 1/4 of the channels (2048 -> 512), bilinear upsampling back, and
  concatenation with the features;
- a 3x3 convolution (512), batch norm, ReLU, dropout 0.1 and a 1x1 classifier, upsampled to the input size;
- an auxiliary head on the res4 (layer3) features used only in training, loss weight 0.4.

Adapted: the pooling is written as explicit averages over the bins that ``F.adaptive_avg_pool2d`` would use,
computed from the (fixed) feature size, because the network's input size is fixed at deployment and adaptive
pooling at bins that do not divide the feature map does not export to ONNX or TensorRT cleanly.

:func:`pspnet_lite0` is a CPU-sized variant: the same pyramid pooling head on an ImageNet-pretrained
EfficientNet-Lite0 encoder dilated to output stride 16, with one stride-4 skip (as DeepLabv3+ does) to recover
thin structures that the coarse grid loses. With ``refine=True`` a second, residual refinement at stride 2 adds
the stride-2 encoder features to the upsampled logits (a 3x3 convolution whose 1x1 output layer starts at zero,
so a model trained without it gives the same labels before fine-tuning); it is there for poles and signs, a few
pixels wide at 480x360, which stride 4 blurs.
"""

from typing import Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F


def _conv_bn_relu(c_in: int, c_out: int, kernel: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


def adaptive_avg_pool(x: torch.Tensor, bins: int) -> torch.Tensor:
    """Equal to ``F.adaptive_avg_pool2d(x, bins)``, written with static slices so that it exports anywhere."""
    h, w = int(x.shape[-2]), int(x.shape[-1])
    if h % bins == 0 and w % bins == 0:
        return F.avg_pool2d(x, (h // bins, w // bins))
    rows = []
    for i in range(bins):
        h0, h1 = (i * h) // bins, -(-((i + 1) * h) // bins)
        cols = []
        for j in range(bins):
            w0, w1 = (j * w) // bins, -(-((j + 1) * w) // bins)
            cols.append(x[:, :, h0:h1, w0:w1].mean(dim=(2, 3), keepdim=True))
        rows.append(torch.cat(cols, dim=3))
    return torch.cat(rows, dim=2)


class PyramidPooling(nn.Module):
    """The pyramid pooling module (Section 3.3): pooled context at several bin sizes, concatenated."""

    def __init__(self, c_in: int, bins: Sequence[int] = (1, 2, 3, 6), c_reduced: int = 0):
        super().__init__()
        self.bins = tuple(bins)
        c_reduced = c_reduced or c_in // len(self.bins)
        self.stages = nn.ModuleList(_conv_bn_relu(c_in, c_reduced) for _ in self.bins)
        self.out_channels = c_in + c_reduced * len(self.bins)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        pooled = [F.interpolate(stage(adaptive_avg_pool(x, b)), size=size, mode='bilinear', align_corners=False)
                  for b, stage in zip(self.bins, self.stages)]
        return torch.cat([x] + pooled, dim=1)


def _classifier(c_in: int, c_mid: int, num_classes: int, dropout: float = 0.1) -> nn.Sequential:
    return nn.Sequential(_conv_bn_relu(c_in, c_mid, 3), nn.Dropout2d(dropout), nn.Conv2d(c_mid, num_classes, 1))


class PSPNet(nn.Module):
    """Backbone -> pyramid pooling -> classifier; an auxiliary classifier in training mode."""

    def __init__(self, backbone: nn.Module, c_features: int, c_aux: int, num_classes: int,
                 c_head: int = 512, aux_key: str = 'c3', out_key: str = 'c4', bins=(1, 2, 3, 6),
                 skip_key: str = '', c_skip: int = 0, refine_key: str = '', c_refine: int = 0):
        super().__init__()
        self.backbone = backbone
        self.aux_key, self.out_key, self.skip_key = aux_key, out_key, skip_key
        self.pyramid_pooling = PyramidPooling(c_features, bins)
        if skip_key:
            # DeepLabv3+-style refinement: context from the pyramid, detail from the stride-4 features
            self.bottleneck = _conv_bn_relu(self.pyramid_pooling.out_channels, c_head, 3)
            self.skip = _conv_bn_relu(c_skip, 48)
            self.head = _classifier(c_head + 48, c_head, num_classes)
        else:
            self.bottleneck = None
            self.head = _classifier(self.pyramid_pooling.out_channels, c_head, num_classes)
        self.aux_head = _classifier(c_aux, max(c_aux // 4, 64), num_classes) if c_aux else None
        self.refine_key = refine_key
        self.refine = None
        if refine_key:
            self.refine = nn.Sequential(_conv_bn_relu(c_refine + num_classes, 24, 3), nn.Conv2d(24, num_classes, 1))
            nn.init.zeros_(self.refine[-1].weight)
            nn.init.zeros_(self.refine[-1].bias)

    def forward(self, x: torch.Tensor) -> Union[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]:
        size = x.shape[-2:]
        features = self.backbone(x)
        y = self.pyramid_pooling(features[self.out_key])
        if self.bottleneck is not None:
            skip = self.skip(features[self.skip_key])
            y = F.interpolate(self.bottleneck(y), size=skip.shape[-2:], mode='bilinear', align_corners=False)
            y = torch.cat([y, skip], dim=1)
        y = self.head(y)
        correction = None
        if self.refine is not None:
            fine = features[self.refine_key]
            coarse = F.interpolate(y, size=fine.shape[-2:], mode='bilinear', align_corners=False)
            correction = F.interpolate(self.refine(torch.cat([coarse, fine], dim=1)), size=size, mode='bilinear',
                                       align_corners=False)
        y = F.interpolate(y, size=size, mode='bilinear', align_corners=False)
        if correction is not None:
            y = y + correction
        if self.training and self.aux_head is not None:
            aux = F.interpolate(self.aux_head(features[self.aux_key]), size=size, mode='bilinear',
                                align_corners=False)
            return y, aux
        return y


class _ResNetFeatures(nn.Module):
    """Adapts the ResNet trunk's layer outputs to the named features PSPNet reads."""

    def __init__(self, trunk: nn.Module):
        super().__init__()
        self.trunk = trunk

    def forward(self, x):
        c1, c2, c3, c4 = self.trunk(x)
        return {'c1': c1, 'c2': c2, 'c3': c3, 'c4': c4}


def pspnet(*, num_classes: int, depth: int = 50, aux: bool = True, pretrained_backbone: bool = False) -> PSPNet:
    """PSPNet as in the paper: dilated ResNet-``depth`` (50 or 101), output stride 8, bins 1, 2, 3, 6."""
    from . import resnet

    if depth not in (50, 101):
        raise ValueError(f'PSPNet uses ResNet-50 or ResNet-101; got depth {depth}')
    if pretrained_backbone:
        raise ValueError('no ImageNet ResNet weights can be installed here; use pspnet_lite0 for a pretrained '
                         'encoder, or train the ResNet from scratch (pretrained_backbone=False)')
    trunk = (resnet.resnet50 if depth == 50 else resnet.resnet101)(output_stride=8)
    return PSPNet(_ResNetFeatures(trunk), 2048, 1024 if aux else 0, num_classes)


def pspnet_lite0(*, num_classes: int, aux: bool = True, pretrained_backbone: bool = False,
                 output_stride: int = 16, refine: bool = False) -> PSPNet:
    """CPU-sized PSPNet: EfficientNet-Lite0 encoder (optionally ImageNet weights), pyramid pooling, skips.

    One skip at stride 4 and, with ``refine``, a residual refinement of the logits at stride 2.
    """
    from .efficientnet_lite import efficientnet_lite

    encoder = efficientnet_lite('lite0', output_stride=output_stride, pretrained=pretrained_backbone)
    return PSPNet(encoder, encoder.out_channels, encoder.channels[8] if aux else 0, num_classes, c_head=128,
                  aux_key='8', out_key='out', skip_key='4', c_skip=encoder.channels[4],
                  refine_key='2' if refine else '', c_refine=encoder.channels[2] if refine else 0)

"""Full-Resolution Residual Networks, FRRN A and B (Pohlen, Hermans, Mathias, Leibe, CVPR 2017).

"Full-Resolution Residual Networks for Semantic Segmentation in Street Scenes". What the paper (Table 1,
Figure 3) and its authors' code (github.com/TobyPDE/FRRN, ``dltools/architectures.py``) specify, and what this
file implements:

- Two streams. The *residual stream* stays at full resolution with 32 channels and is only ever changed by
  additions; the *pooling stream* goes through an encoder-decoder of max pooling and unpooling stages.
- FRRU (full-resolution residual unit), with pooling stream input ``z`` at scale 1/s and residual stream
  ``y``: ``y`` is max pooled by s (s x s window, stride s) and concatenated to ``z``; two 3x3 conv + BN + ReLU
  give the new pooling stream ``z'``; a 1x1 convolution (with bias, no BN) maps ``z'`` to 32 channels, which
  are unpooled by s (nearest neighbour, each value repeated s x s) and added to ``y``.
- RU (residual unit): 3x3 conv + BN + ReLU, 3x3 conv + BN, plus the input (no ReLU after the addition); where
  the channels change, the shortcut is a 1x1 projection (no BN, no bias).
- FRRN A: 5x5 conv + BN + ReLU (48), 3 RUs (48); split: the pooling stream is the 48-channel map, the residual
  stream a 1x1 conv + BN to 32 channels; encoder max pool /2, 3 FRRUs 96; /4, 4 FRRUs 192; /8, 2 FRRUs 384;
  /16, 2 FRRUs 384; decoder unpool /8, 2 FRRUs 192; /4, 2 FRRUs 192; /2, 2 FRRUs 96; unpool to /1,
  concatenate the streams (96 + 32), 3 RUs (48, the first with a projection), 1x1 conv (with bias) to the
  classes. The paper's softmax is left to the loss; the model returns logits.
- FRRN B adds an encoder stage at /32 (2 FRRUs 384) and a decoder stage at /16 (2 FRRUs 192).
- Unpooling of the pooling stream between decoder stages is 2x bilinear interpolation, as in the authors' code
  (``BilinearUpscaleLayer``); here ``align_corners=False``, which ONNX exports as a half-pixel ``Resize``.

Parameter counts (BN scale and shift included, 19 classes): FRRN A 17.74 M (paper: 17.7 M), FRRN B 24.75 M
(paper: 24.8 M).

Adapted: convolutions use "same" zero padding (as the authors' code) so every stream lines up with the input;
the input height and width must therefore be divisible by 2 ** (number of pooling stages), 16 for A and 32
for B; ``forward`` raises a ``ValueError`` naming the padded size otherwise. Weights use He initialisation.
``width`` scales the pooling-stream channels (48, 96, 192, 384), rounded to multiples of 8; the 32-channel
residual stream is kept. ``frrn_cpu`` is not from the paper: FRRN A at half width with one RU (instead of
three) before the split and after the merge (4.7 M parameters; at 368 x 480 about 0.45 s in onnxruntime on
one busy CPU core, against 1.6 s for FRRN A). All operations (fixed-window max pooling, integer-factor
resize, concat, add) have static shapes and are TensorRT-friendly.
"""

from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

RESIDUAL_CHANNELS = 32
# (number of FRRUs, channels) per stage; encoder stage i works at 1 / 2 ** (i + 1), decoder stages go back up
_FRRN_A = dict(stem=48, encoder=((3, 96), (4, 192), (2, 384), (2, 384)),
               decoder=((2, 192), (2, 192), (2, 96)))
_FRRN_B = dict(stem=48, encoder=((3, 96), (4, 192), (2, 384), (2, 384), (2, 384)),
               decoder=((2, 192), (2, 192), (2, 192), (2, 96)))


def _conv_bn(in_channels: int, out_channels: int, kernel_size: int, relu: bool = True) -> nn.Sequential:
    layers: List[nn.Module] = [nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2,
                                         bias=False), nn.BatchNorm2d(out_channels)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def _unpool(pooling_stream: torch.Tensor) -> torch.Tensor:
    return F.interpolate(pooling_stream, scale_factor=2.0, mode='bilinear', align_corners=False)


def _scaled(channels: int, width: float) -> int:
    return max(8, int(round(channels * width / 8)) * 8)


class RU(nn.Module):
    """Residual unit: two 3x3 conv + BN (ReLU between) added to the (projected) input."""

    def __init__(self, in_channels: int, channels: int):
        super().__init__()
        self.body = nn.Sequential(_conv_bn(in_channels, channels, 3),
                                  _conv_bn(channels, channels, 3, relu=False))
        self.shortcut = (nn.Identity() if in_channels == channels
                         else nn.Conv2d(in_channels, channels, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``shortcut(x) + body(x)``."""
        return self.shortcut(x) + self.body(x)


class FRRU(nn.Module):
    """Full-resolution residual unit working at ``1 / scale`` of the residual stream's resolution."""

    def __init__(self, in_channels: int, channels: int, scale: int,
                 residual_channels: int = RESIDUAL_CHANNELS):
        super().__init__()
        self.scale = scale
        self.body = nn.Sequential(_conv_bn(in_channels + residual_channels, channels, 3),
                                  _conv_bn(channels, channels, 3))
        self.to_residual = nn.Conv2d(channels, residual_channels, 1, bias=True)

    def forward(self, pooling_stream: torch.Tensor,
                residual_stream: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Return the new ``(pooling_stream, residual_stream)``."""
        pooled = F.max_pool2d(residual_stream, self.scale, self.scale) if self.scale > 1 else residual_stream
        pooling_stream = self.body(torch.cat([pooling_stream, pooled], dim=1))
        update = self.to_residual(pooling_stream)
        if self.scale > 1:
            update = F.interpolate(update, scale_factor=float(self.scale), mode='nearest')
        return pooling_stream, residual_stream + update


class FRRN(nn.Module):
    """Full-resolution residual network; ``encoder`` and ``decoder`` list (FRRU count, channels) per stage."""

    def __init__(self, num_classes: int, stem: int, encoder: Sequence[Tuple[int, int]],
                 decoder: Sequence[Tuple[int, int]], width: float = 1.0, num_rus: int = 3,
                 residual_channels: int = RESIDUAL_CHANNELS, name: str = 'FRRN'):
        super().__init__()
        if len(decoder) != len(encoder) - 1:
            raise ValueError('the decoder needs one stage fewer than the encoder '
                             '(the last unpooling goes to full resolution)')
        self.name = name
        self.size_divisor = 2 ** len(encoder)
        stem = _scaled(stem, width)
        self.stem = nn.Sequential(_conv_bn(3, stem, 5), *[RU(stem, stem) for _ in range(num_rus)])
        self.split = _conv_bn(stem, residual_channels, 1, relu=False)

        channels = stem
        self.encoder = nn.ModuleList()
        for index, (count, stage_channels) in enumerate(encoder):
            stage_channels = _scaled(stage_channels, width)
            scale = 2 ** (index + 1)
            self.encoder.append(self._stage(count, channels, stage_channels, scale, residual_channels))
            channels = stage_channels
        self.decoder = nn.ModuleList()
        for index, (count, stage_channels) in enumerate(decoder):
            stage_channels = _scaled(stage_channels, width)
            scale = 2 ** (len(encoder) - 1 - index)
            self.decoder.append(self._stage(count, channels, stage_channels, scale, residual_channels))
            channels = stage_channels

        self.merge = nn.Sequential(RU(channels + residual_channels, stem),
                                   *[RU(stem, stem) for _ in range(num_rus - 1)])
        self.classifier = nn.Conv2d(stem, num_classes, 1, bias=True)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_in', nonlinearity='relu')
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    @staticmethod
    def _stage(count: int, in_channels: int, channels: int, scale: int,
               residual_channels: int) -> nn.ModuleList:
        return nn.ModuleList(FRRU(in_channels if i == 0 else channels, channels, scale, residual_channels)
                             for i in range(count))

    def _check_size(self, height: int, width: int) -> None:
        d = self.size_divisor
        if height % d or width % d:
            fixed = f'{-(-height // d) * d} x {-(-width // d) * d}'
            raise ValueError(f'{self.name} expects height and width divisible by {d}; '
                             f'got {height} x {width}; pad or resize to {fixed}')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map N x 3 x H x W (normalised, sides divisible by ``size_divisor``) to N x C x H x W logits."""
        if not torch.jit.is_tracing():
            self._check_size(x.shape[-2], x.shape[-1])
        pooling_stream = self.stem(x)
        residual_stream = self.split(pooling_stream)
        for stage in self.encoder:
            pooling_stream = F.max_pool2d(pooling_stream, 2, 2)
            for frru in stage:
                pooling_stream, residual_stream = frru(pooling_stream, residual_stream)
        for stage in self.decoder:
            pooling_stream = _unpool(pooling_stream)
            for frru in stage:
                pooling_stream, residual_stream = frru(pooling_stream, residual_stream)
        pooling_stream = _unpool(pooling_stream)
        return self.classifier(self.merge(torch.cat([pooling_stream, residual_stream], dim=1)))


def frrn_a(*, num_classes: int, width: float = 1.0) -> FRRN:
    """FRRN A (paper Table 1, 17.7 M parameters); input sides divisible by 16."""
    return FRRN(num_classes, width=width, name='FRRN A', **_FRRN_A)


def frrn_b(*, num_classes: int, width: float = 1.0) -> FRRN:
    """FRRN B (FRRN A plus a /32 stage, 24.8 M parameters); input sides divisible by 32."""
    return FRRN(num_classes, width=width, name='FRRN B', **_FRRN_B)


def frrn_cpu(*, num_classes: int) -> FRRN:
    """FRRN A at half width, one RU at each full-resolution end (not in the paper); sides divisible by 16."""
    return FRRN(num_classes, width=0.5, num_rus=1, name='FRRN CPU', **_FRRN_A)

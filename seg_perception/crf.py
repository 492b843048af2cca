"""Fully connected CRF (Krahenbuhl and Koltun, NIPS 2011) as an offline refinement of class probabilities.

The seed's post-processing (DeepLab, Chen et al. 2015 and 2017): the network's softmax gives the unary term,
and a dense CRF with Potts compatibility and two Gaussian kernels over all pairs of pixels sharpens the labels
along image edges:

    k(i, j) = w_bilateral exp(-|p_i - p_j|^2 / 2 theta_alpha^2 - |I_i - I_j|^2 / 2 theta_beta^2)
            + w_gaussian  exp(-|p_i - p_j|^2 / 2 theta_gamma^2)

with p the pixel position and I the RGB colour. :func:`dense_crf` runs mean-field inference as Krahenbuhl's
released code does (version 2, the code DeepLab runs, and that ``pydensecrf`` wraps): Q starts at the
softmax, and each iteration sets ``Q = softmax(log P + sum_m w_m K_m Q)``, where each kernel is normalised
symmetrically, ``K_m = D^-1/2 G_m D^-1/2`` with ``D = diag(G_m 1)``, and includes the pixel itself (the
code's filtering does; the 2011 paper's sum skips j = i). Potts' ``-w [l = l']`` compatibility gives the
``+ w K Q`` sign. Unaries are ``-log(max(P, 1e-5))``, as ``pydensecrf.utils.unary_from_softmax``.

Two implementations, chosen by ``implementation``:

- ``'pydensecrf'``: Krahenbuhl's C++ code through ``pydensecrf`` (``pip install pydensecrf2``, which builds
  from source with a C++ compiler; it does on Python 3.11). Both kernels are filtered with the permutohedral
  lattice. Preferred by ``'auto'`` when it is installed.
- ``'numpy'``: this module's own, with no compiled dependency beyond OpenCV. The Gaussian kernel is computed
  exactly: it is separable, so it is a 1-D Gaussian along the rows, then along the columns, over the whole
  image. The bilateral kernel is filtered with a vectorised port of the permutohedral lattice (Adams, Baek,
  Davis, Eurographics 2010) as Krahenbuhl's ``permutohedral.cpp`` builds it (same elevation, rounding,
  barycentric weights, blur and scaling): with the bilateral kernel alone the two implementations agree to
  1e-6. The tests check it against brute-force O(N^2) mean-field updates on a small image (the Gaussian part
  to 1e-7; the lattice approximates the bilateral kernel to a few hundredths of a probability).

The CRF is kept off the live path: on a synthetic 480 x 360 frame with 11 classes, 10 iterations took 0.3 s
with pydensecrf and 2 s with the numpy implementation on one busy CPU core. ``seg-perception eval --crf``
measures its mIoU gain and cost per frame on real data.
"""

import time
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import cv2
import numpy as np

UNARY_CLIP = 1e-5


@dataclass(frozen=True)
class CRFParams:
    """Mean-field iterations and the two kernels' weights and standard deviations (pixels, RGB levels)."""

    iterations: int = 10
    bilateral_weight: float = 4.0
    bilateral_xy_std: float = 49.0
    bilateral_rgb_std: float = 5.0
    gaussian_weight: float = 3.0
    gaussian_xy_std: float = 3.0


# DeepLab v1 LargeFOV's released CRF settings (its run_densecrf.sh, chosen by cross-validation on VOC val)
DEEPLAB_LARGEFOV = CRFParams(10, 4.0, 49.0, 5.0, 3.0, 3.0)
# DeepLab v2 ResNet-101's (Chen et al. 2017, Section 4.1 and the released scripts)
DEEPLAB_V2_RESNET101 = CRFParams(10, 4.0, 67.0, 3.0, 3.0, 1.0)
# the settings by the names the node's crf parameter and eval --crf-params take
CRF_SETTINGS = {'largefov': DEEPLAB_LARGEFOV, 'v2_resnet101': DEEPLAB_V2_RESNET101}


def pydensecrf_available() -> bool:
    """Whether Krahenbuhl's C++ implementation can be imported (``pip install pydensecrf2``)."""
    try:
        import pydensecrf.densecrf  # noqa: F401
    except ImportError:
        return False
    return True


def dense_crf(probabilities: np.ndarray, rgb: np.ndarray, params: CRFParams = DEEPLAB_LARGEFOV,
              implementation: str = 'auto') -> np.ndarray:
    """Mean-field marginals (C x H x W float32) of the dense CRF on C x H x W ``probabilities`` and ``rgb``.

    ``rgb`` is the H x W x 3 uint8 image the probabilities belong to (same height and width);
    ``implementation`` is ``'auto'`` (pydensecrf when installed, else numpy), ``'pydensecrf'`` or ``'numpy'``.
    """
    probabilities, rgb = _check(probabilities, rgb)
    if implementation == 'auto':
        implementation = 'pydensecrf' if pydensecrf_available() else 'numpy'
    if implementation == 'pydensecrf':
        return _pydensecrf(probabilities, rgb, params)
    if implementation == 'numpy':
        return _mean_field(probabilities, rgb, params)
    raise ValueError(f"implementation must be 'auto', 'pydensecrf' or 'numpy'; got {implementation!r}")


def refine(probabilities_net: np.ndarray, rgb: np.ndarray, params: CRFParams = DEEPLAB_LARGEFOV,
           implementation: str = 'auto') -> Tuple[np.ndarray, Dict[str, float]]:
    """Labels (H x W uint8) of ``rgb`` from network-resolution C x h x w probabilities refined by the CRF.

    The probabilities are resized bilinearly to the image (as DeepLab does before its CRF); returns the labels
    and ``{'crf': milliseconds}`` for the resize and the inference together.
    """
    t = time.perf_counter()
    h, w = rgb.shape[:2]
    probabilities = np.asarray(probabilities_net, np.float32)
    if probabilities.shape[1:] != (h, w):
        probabilities = np.stack([cv2.resize(p, (w, h), interpolation=cv2.INTER_LINEAR) for p in probabilities])
    q = dense_crf(probabilities, rgb, params, implementation)
    labels = q.argmax(0).astype(np.uint8)
    return labels, {'crf': (time.perf_counter() - t) * 1e3}


def _check(probabilities, rgb) -> Tuple[np.ndarray, np.ndarray]:
    probabilities = np.asarray(probabilities, np.float32)
    rgb = np.asarray(rgb)
    if probabilities.ndim != 3:
        raise ValueError(f'expected C x H x W class probabilities, got shape {probabilities.shape}')
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f'expected an H x W x 3 uint8 RGB image, got {rgb.dtype} {rgb.shape}')
    if rgb.shape[:2] != probabilities.shape[1:]:
        raise ValueError(f'the image is {rgb.shape[1]} x {rgb.shape[0]} but the probabilities are '
                         f'{probabilities.shape[2]} x {probabilities.shape[1]}; resize them to the image '
                         f'first (crf.refine does)')
    return probabilities, np.ascontiguousarray(rgb)


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def _pydensecrf(probabilities: np.ndarray, rgb: np.ndarray, params: CRFParams) -> np.ndarray:
    import pydensecrf.densecrf as dcrf

    c, h, w = probabilities.shape
    crf = dcrf.DenseCRF2D(w, h, c)
    unary = -np.log(np.clip(probabilities, UNARY_CLIP, 1.0)).reshape(c, -1)
    crf.setUnaryEnergy(np.ascontiguousarray(unary, dtype=np.float32))
    crf.addPairwiseGaussian(sxy=params.gaussian_xy_std, compat=params.gaussian_weight)
    crf.addPairwiseBilateral(sxy=params.bilateral_xy_std, srgb=params.bilateral_rgb_std, rgbim=rgb,
                             compat=params.bilateral_weight)
    return np.asarray(crf.inference(params.iterations), np.float32).reshape(c, h, w)


def _mean_field(probabilities: np.ndarray, rgb: np.ndarray, params: CRFParams) -> np.ndarray:
    c, h, w = probabilities.shape
    log_p = np.log(np.clip(probabilities, UNARY_CLIP, 1.0)).astype(np.float64)
    gaussian = SeparableGaussian(h, w, params.gaussian_xy_std)
    ys, xs = np.mgrid[:h, :w]
    features = np.concatenate([np.stack([xs, ys], -1).reshape(-1, 2) / params.bilateral_xy_std,
                               rgb.reshape(-1, 3).astype(np.float64) / params.bilateral_rgb_std], axis=1)
    bilateral = PermutohedralLattice(features)
    kernels = [(params.gaussian_weight, _symmetric(gaussian.filter, np.ones((1, h, w)))),
               (params.bilateral_weight, _symmetric(bilateral.filter, np.ones((1, h, w))))]
    q = _softmax(log_p)
    for _ in range(params.iterations):
        energy = log_p.copy()
        for weight, kernel in kernels:
            energy += weight * kernel(q)
        q = _softmax(energy)
    return q.astype(np.float32)


def _symmetric(filter_fn, ones: np.ndarray):
    """``D^-1/2 G D^-1/2`` for the filter ``G``, D its response to ones (Krahenbuhl's NORMALIZE_SYMMETRIC)."""
    norm = 1.0 / np.sqrt(filter_fn(ones) + 1e-20)

    def kernel(q: np.ndarray) -> np.ndarray:
        return norm * filter_fn(q * norm)
    return kernel


class SeparableGaussian:
    """Filtering of C x H x W maps with exp(-|p_i - p_j|^2 / 2 std^2) over all pixel pairs, exact in float64.

    The kernel factors into a row and a column kernel; it is cut at 9 standard deviations, where its value
    (exp(-40.5), 2.6e-18) is below float64 resolution relative to the centre, and the image's outside counts
    as zero, which is the fully connected sum over the image's pixels.
    """

    CUTOFF_STDS = 9.0

    def __init__(self, height: int, width: int, std: float):
        radius = min(int(np.ceil(self.CUTOFF_STDS * std)), max(height, width))
        d = np.arange(-radius, radius + 1, dtype=np.float64)
        self.kernel = np.exp(-d * d / (2.0 * std * std))

    def filter(self, maps: np.ndarray) -> np.ndarray:
        """``sum_j k(i, j) maps[:, j]`` for every pixel i (the pixel itself included)."""
        return np.stack([cv2.sepFilter2D(np.ascontiguousarray(m, np.float64), cv2.CV_64F, self.kernel,
                                         self.kernel, borderType=cv2.BORDER_CONSTANT) for m in maps])


class PermutohedralLattice:
    """Gaussian filtering in a d-dimensional feature space on the permutohedral lattice (Adams et al. 2010).

    A vectorised port of Krahenbuhl's ``Permutohedral`` (densecrf v2): ``features`` is N x d, already divided
    by the kernel's standard deviations; :meth:`filter` approximates ``sum_j exp(-|f_i - f_j|^2 / 2) v_j``
    (to a constant factor, which the symmetric normalisation cancels).
    """

    def __init__(self, features: np.ndarray):
        n, d = features.shape
        self.n, self.d = n, d
        # elevate onto the hyperplane sum(x) = 0 in d + 1 dimensions (Adams et al., p. 5), scaled so that the
        # lattice's blur has the expected standard deviation (p. 6)
        inv_std_dev = np.sqrt(2.0 / 3.0) * (d + 1)
        i = np.arange(d)
        cf = features * (inv_std_dev / np.sqrt((i + 2.0) * (i + 1.0)))
        suffix = np.concatenate([np.cumsum(cf[:, ::-1], axis=1)[:, ::-1], np.zeros((n, 1))], axis=1)
        elevated = np.empty((n, d + 1))
        elevated[:, 0] = suffix[:, 0]
        elevated[:, 1:] = suffix[:, 1:] - np.arange(1, d + 1) * cf

        # the nearest remainder-0 lattice point, and the simplex containing the point
        v = elevated / (d + 1)
        up, down = np.ceil(v) * (d + 1), np.floor(v) * (d + 1)
        rem0 = np.where(up - elevated < elevated - down, up, down)
        total = np.rint(rem0 / (d + 1)).sum(axis=1).astype(np.int64)
        rank = np.zeros((n, d + 1), np.int64)
        diff = elevated - rem0
        for a in range(d):
            for b in range(a + 1, d + 1):
                less = diff[:, a] < diff[:, b]
                rank[:, a] += less
                rank[:, b] += ~less
        rank += total[:, None]
        low, high = rank < 0, rank > d
        rank[low] += d + 1
        rem0[low] += d + 1
        rank[high] -= d + 1
        rem0[high] -= d + 1

        # barycentric coordinates of the point in its simplex (p. 10)
        barycentric = np.zeros((n, d + 2))
        v = (elevated - rem0) / (d + 1)
        rows = np.arange(n)
        for a in range(d + 1):
            barycentric[rows, d - rank[:, a]] += v[:, a]
            barycentric[rows, d - rank[:, a] + 1] -= v[:, a]
        barycentric[:, 0] += 1.0 + barycentric[:, d + 1]
        self.weights = barycentric[:, :d + 1]

        # the simplex's d + 1 vertices (keys: their first d coordinates), hashed to consecutive ids
        canonical = np.array([[r if j <= d - r else r - (d + 1) for j in range(d + 1)] for r in range(d + 1)])
        rem0 = rem0.astype(np.int64)
        keys = np.stack([rem0[:, :d] + canonical[r][rank[:, :d]] for r in range(d + 1)], axis=1)  # N x (d+1) x d
        keys = keys.reshape(-1, d)
        self._origin = keys.min(axis=0) - (d + 1)
        span = keys.max(axis=0) - self._origin + d + 2
        if np.sum(np.log2(span.astype(np.float64))) > 62:
            raise ValueError('lattice keys do not fit in 64 bits; the features span too many standard deviations')
        self._strides = np.concatenate([np.cumprod(span[::-1])[::-1][1:], [1]]).astype(np.int64)
        codes = self._encode(keys)
        self.codes, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
        self.m = len(self.codes)
        self.offsets = inverse.reshape(n, d + 1) + 1         # row 0 of the value table is the zero vertex
        vertices = keys[first]
        # neighbours along each of the d + 1 lattice axes: -1 in every coordinate but +d in axis j, and back
        self.neighbours = []
        for j in range(d + 1):
            n1, n2 = vertices - 1, vertices + 1
            if j < d:
                n1[:, j] = vertices[:, j] + d
                n2[:, j] = vertices[:, j] - d
            self.neighbours.append((self._find(n1), self._find(n2)))
        # Adams' scaling constant of the blurred result
        self.alpha = 1.0 / (1.0 + 2.0 ** (-d))

    def _encode(self, keys: np.ndarray) -> np.ndarray:
        return ((keys - self._origin) * self._strides).sum(axis=1)

    def _find(self, keys: np.ndarray) -> np.ndarray:
        """Row of each key in the value table, 0 (the zero vertex) for keys not in the lattice."""
        codes = self._encode(keys)
        index = np.minimum(np.searchsorted(self.codes, codes), self.m - 1)
        return np.where(self.codes[index] == codes, index + 1, 0)

    def filter(self, maps: np.ndarray) -> np.ndarray:
        """Splat C x H x W (or C x N) values onto the lattice, blur along each axis, slice back."""
        shape = maps.shape
        values_in = maps.reshape(shape[0], -1)
        c = values_in.shape[0]
        flat = self.offsets.ravel()
        values = np.empty((self.m + 1, c))
        for k in range(c):
            values[:, k] = np.bincount(flat, weights=(self.weights * values_in[k][:, None]).ravel(),
                                       minlength=self.m + 1)
        values[0] = 0.0
        for n1, n2 in self.neighbours:
            blurred = values.copy()
            blurred[1:] += 0.5 * (values[n1] + values[n2])
            values = blurred
            values[0] = 0.0
        out = np.einsum('nr,nrc->cn', self.weights, values[self.offsets]) * self.alpha
        return out.reshape(shape)


def probabilities_torch(module, images: np.ndarray, mean, std, device: Optional[str] = None,
                        class_bias=None) -> np.ndarray:
    """Softmax class probabilities N x C x H x W (float32) of a registry model on N x H x W x 3 uint8 images.

    ``class_bias``: the model's per-class logit offsets (a C x 1 x 1 or 1 x C x 1 x 1 tensor, or None), as the
    deployed graph adds them.

    For offline stages that need more than the deployed graph's labels and margin (the CRF); the live path
    never calls it.
    """
    import torch

    device = device or 'cpu'
    x = torch.from_numpy(np.ascontiguousarray(images)).to(device).permute(0, 3, 1, 2).float()
    x = (x - torch.tensor(mean, device=device).view(1, 3, 1, 1)) / torch.tensor(std, device=device).view(1, 3, 1, 1)
    x = x.to(next(module.parameters()).dtype)     # the torch backend runs fp16 weights on a GPU
    was_training = module.training
    module.eval()
    try:
        with torch.inference_mode():
            logits = module(x)
            logits = logits[0] if isinstance(logits, (tuple, list)) else logits
            logits = logits.float()
            if class_bias is not None:
                logits = logits + class_bias.to(logits.device).view(1, -1, 1, 1)
            return torch.softmax(logits, dim=1).cpu().numpy()
    finally:
        module.train(was_training)

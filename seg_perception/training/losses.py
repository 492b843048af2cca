"""The training losses: class-weighted cross-entropy, PSPNet's auxiliary loss, FRRN's bootstrapped loss, Lovasz.

- the cross-entropy, with per-class weights where the training balances classes (median-frequency balancing,
  as SegNet did on CamVid, softened by a power);
- PSPNet's auxiliary loss, weight 0.4 (Zhao et al. 2017, Section 4.1), on every auxiliary output a model returns
  in training mode (Deep Contextual Networks has three; its paper discounts them over time);
- FRRN's bootstrapped cross-entropy, the mean loss over the K hardest pixels (Pohlen et al. 2017, Section 4;
  K = 512 x 64 at full Cityscapes resolution, i.e. 1/64 of the pixels, scaled with the pixel count);
- the Lovasz-softmax loss (Berman, Rannen Triki and Blaschko, CVPR 2018), a convex surrogate of each class's
  1 - IoU, added to the cross-entropy: the metric itself, thin classes counting as much as large ones.
"""

from typing import List, Optional

import numpy as np
import torch
import torch.nn.functional as F

# PSPNet's weight of the auxiliary loss (Zhao et al. 2017, Section 4.1)
AUX_WEIGHT = 0.4


def segmentation_loss(out, target: torch.Tensor, kind: str, weight: Optional[torch.Tensor], ignore_index: int,
                      bootstrap_fraction: float) -> torch.Tensor:
    """The training loss of a model's output ``out`` (logits, or a tuple: main logits, then auxiliary logits).

    ``kind``: ``ce`` (cross-entropy), ``bootstrap`` (over the ``bootstrap_fraction`` hardest pixels of each image)
    or ``ce+lovasz``, on the main output; plus ``AUX_WEIGHT`` x the cross-entropy of each auxiliary output.
    ``weight``: per-class weights of the cross-entropy (None: equal).
    """
    main, auxiliaries = (out[0], out[1:]) if isinstance(out, (tuple, list)) else (out, ())
    main = main.float()
    if kind == 'bootstrap':
        k = int(bootstrap_fraction * target[0].numel())
        loss = bootstrapped_cross_entropy(main, target, k, weight, ignore_index)
    else:
        loss = F.cross_entropy(main, target, weight=weight, ignore_index=ignore_index)
        if kind == 'ce+lovasz':
            loss = loss + lovasz_softmax(main, target, ignore_index)
    for aux in auxiliaries:
        loss = loss + AUX_WEIGHT * F.cross_entropy(aux.float(), target, weight=weight, ignore_index=ignore_index)
    return loss


def bootstrapped_cross_entropy(logits: torch.Tensor, target: torch.Tensor, k: int, weight=None,
                               ignore_index: int = 255) -> torch.Tensor:
    """Mean cross-entropy over the ``k`` hardest labelled pixels of each image (FRRN, Section 4)."""
    loss = F.cross_entropy(logits, target, weight=weight, ignore_index=ignore_index, reduction='none')
    loss = loss.flatten(1)
    valid = (target != ignore_index).flatten(1)
    loss = torch.where(valid, loss, torch.full_like(loss, -1.0))    # ignored pixels sort last
    k = max(1, min(k, loss.shape[1]))
    top = loss.topk(k, dim=1).values
    keep = top >= 0
    return (top * keep).sum() / keep.sum().clamp(min=1)


def _lovasz_grad(fg_sorted: torch.Tensor) -> torch.Tensor:
    """Gradient of the Lovasz extension of the Jaccard loss at errors sorted in decreasing order."""
    total = fg_sorted.sum()
    intersection = total - fg_sorted.cumsum(0)
    union = total + (1 - fg_sorted).cumsum(0)
    jaccard = 1.0 - intersection / union
    jaccard[1:] = jaccard[1:] - jaccard[:-1].clone()
    return jaccard


def lovasz_softmax(logits: torch.Tensor, target: torch.Tensor, ignore_index: int = 255) -> torch.Tensor:
    """Lovasz-softmax loss over the batch's labelled pixels, averaged over the classes present in the target.

    On one-hot probabilities it equals the mean of 1 - IoU over those classes (Berman et al. 2018, Eq. 12).
    """
    num_classes = logits.shape[1]
    probs = torch.softmax(logits.float(), dim=1).permute(0, 2, 3, 1).reshape(-1, num_classes)
    target = target.reshape(-1)
    valid = target != ignore_index
    probs, target = probs[valid], target[valid]
    losses = []
    for c in range(num_classes):
        fg = (target == c).float()
        if fg.sum() == 0:
            continue
        errors, order = torch.sort((fg - probs[:, c]).abs(), descending=True)
        losses.append(torch.dot(errors, _lovasz_grad(fg[order])))
    if not losses:
        return logits.sum() * 0.0
    return torch.stack(losses).mean()


def class_frequencies(labels: List[np.ndarray], num_classes: int) -> np.ndarray:
    """Pixel share of each class over a set of label maps (void excluded)."""
    counts = np.zeros(num_classes, np.float64)
    for lab in labels:
        counts += np.bincount(lab.ravel(), minlength=256)[:num_classes]
    return counts / max(counts.sum(), 1.0)


def median_frequency_weights(freq: np.ndarray, power: float = 1.0) -> np.ndarray:
    """Median-frequency balancing (Eigen and Fergus 2015, as SegNet used on CamVid), optionally softened."""
    freq = np.maximum(freq, 1e-6)
    return (np.median(freq) / freq) ** power

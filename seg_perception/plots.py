"""Plots of evaluation figures as PNG files; matplotlib (and the taxonomy's colours) imported when one is drawn."""

import numpy as np


def plot_confusion(confusion: np.ndarray, classes, path: str, title: str) -> None:
    """Row-normalised confusion matrix (rows: ground truth) as a PNG; each class named on its overlay colour."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    from .taxonomy import class_palette

    rows = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1 + 0.6 * len(classes), 0.8 + 0.55 * len(classes)))
    ax.imshow(rows, cmap='Blues', vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, rotation=60, ha='right')
    ax.set_yticks(range(len(classes)), classes)
    colours = class_palette(classes)
    for axis in (ax.get_xticklabels(), ax.get_yticklabels()):
        for label, (r, g, b) in zip(axis, colours):
            light = 0.299 * r + 0.587 * g + 0.114 * b > 140     # ITU-R BT.601 luma: dark text on light colours
            label.set_color('black' if light else 'white')
            label.set_bbox({'facecolor': (r / 255, g / 255, b / 255), 'edgecolor': 'none', 'pad': 1.5})
    for i in range(len(classes)):
        for j in range(len(classes)):
            if rows[i, j] >= 0.01:
                ax.text(j, i, f'{100 * rows[i, j]:.0f}', ha='center', va='center', fontsize=7,
                        color='white' if rows[i, j] > 0.5 else 'black')
    ax.set_xlabel('prediction')
    ax.set_ylabel('ground truth')
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

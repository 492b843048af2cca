"""Segmentation under common corruptions: mIoU per corruption and severity, mPC and rPC.

The benchmark of Kamann and Rother ("Benchmarking the Robustness of Semantic Segmentation Models", CVPR 2020)
on the corruptions of Hendrycks and Dietterich (ICLR 2019; :mod:`seg_perception.corruptions`): every frame of a
labelled split is corrupted by each corruption at each severity, segmented through :class:`Segmenter` (the
node's path), and scored as ``eval`` scores (one confusion matrix over the split, :mod:`seg_perception.metrics`).
Following Michaelis et al. (2019), mPC is the mean over corruptions of the mean over severities of the mIoU, and
rPC = mPC / clean mIoU. Figures are fractions (0..1), not percentages.

Each (frame, corruption, severity) draws from its own generator, seeded by (seed, corruption, severity, frame's
index in the split), so a figure does not change with the subset of corruptions, severities or frames asked for.

Usable from a script::

    data = datasets.load_camvid('../shared/datasets/camvid', 'val')
    result = robustness.evaluate(Segmenter.default(), data)
    print(result.table()); result.plot('out/robustness.png')
"""

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import metrics
from .corruptions import CORRUPTIONS, DEVIATIONS, FAMILIES, SEVERITIES, corrupt, family_of

__all__ = ['RobustnessResult', 'evaluate', 'select_frames']


@dataclass
class RobustnessResult:
    """mIoU (fraction) of one model on one split, clean and per corruption and severity."""

    model: str
    backend: str
    dataset: str
    classes: Tuple[str, ...]
    frame_names: List[str]
    seed: int
    clean_iou: Dict[str, Optional[float]]
    clean_miou: float
    miou: Dict[str, Dict[int, float]]                       # corruption -> severity -> mIoU
    iou: Dict[str, Dict[int, Dict[str, Optional[float]]]] = field(default_factory=dict)
    wall_s: float = 0.0

    @property
    def corruptions(self) -> Tuple[str, ...]:
        """The corruptions measured, in the paper's order."""
        return tuple(name for name in CORRUPTIONS if name in self.miou)

    @property
    def severities(self) -> Tuple[int, ...]:
        """The severities measured."""
        return tuple(sorted({s for by_severity in self.miou.values() for s in by_severity}))

    def corruption_mean(self, name: str) -> float:
        """mIoU of one corruption averaged over its severities."""
        return float(np.mean(list(self.miou[name].values())))

    def family_means(self) -> Dict[str, float]:
        """Mean over each family's measured corruptions of their severity means."""
        return {family: float(np.mean([self.corruption_mean(n) for n in names if n in self.miou]))
                for family, names in FAMILIES.items() if any(n in self.miou for n in names)}

    def family_severity_means(self) -> Dict[str, Dict[int, float]]:
        """Mean over each family's measured corruptions of the mIoU at each severity."""
        return {family: {s: float(np.mean([self.miou[n][s] for n in names if n in self.miou]))
                         for s in self.severities}
                for family, names in FAMILIES.items() if any(n in self.miou for n in names)}

    @property
    def mpc(self) -> float:
        """Mean performance under corruption: the mean over corruptions of the mean over severities."""
        return float(np.mean([self.corruption_mean(n) for n in self.corruptions]))

    @property
    def rpc(self) -> float:
        """Relative performance under corruption, mPC / clean mIoU (NaN if the clean mIoU is 0)."""
        return self.mpc / self.clean_miou if self.clean_miou > 0 else float('nan')

    def to_json(self) -> Dict:
        """The figures as a JSON-ready dict (severities as string keys)."""
        return {
            'model': self.model, 'backend': self.backend, 'dataset': self.dataset, 'frames': len(self.frame_names),
            'frame_names': list(self.frame_names), 'seed': self.seed, 'classes': list(self.classes),
            'severities': list(self.severities), 'corruptions': list(self.corruptions),
            'clean': {'miou': self.clean_miou, 'iou': self.clean_iou},
            'corrupted': {name: {'family': family_of(name), 'mean': self.corruption_mean(name),
                                 'miou': {str(s): v for s, v in self.miou[name].items()},
                                 'iou': {str(s): v for s, v in self.iou.get(name, {}).items()}}
                          for name in self.corruptions},
            'families': self.family_means(),
            'mpc': self.mpc, 'rpc': self.rpc, 'wall_s': self.wall_s,
            'definitions': 'mIoU as eval (one confusion matrix over the frames, mean over classes present), as a '
                           'fraction; mPC: mean over corruptions of the mean over severities; rPC = mPC / clean',
            'deviations': list(DEVIATIONS),
        }

    def table(self) -> str:
        """A markdown table: one row per corruption and per family, one column per severity, and the summary."""
        sev = self.severities
        lines = ['| corruption | family | ' + ' | '.join(f'sev {s}' for s in sev) + ' | mean |',
                 '|---|---|' + '---|' * (len(sev) + 1)]
        for name in self.corruptions:
            cells = ' | '.join(f'{self.miou[name][s]:.3f}' for s in sev)
            lines.append(f'| {name} | {family_of(name)} | {cells} | {self.corruption_mean(name):.3f} |')
        by_severity = self.family_severity_means()
        for family, mean in self.family_means().items():
            cells = ' | '.join(f'{by_severity[family][s]:.3f}' for s in sev)
            lines.append(f'| **{family}** (mean) | | {cells} | **{mean:.3f}** |')
        lines += ['', f'clean mIoU {self.clean_miou:.3f}; mPC {self.mpc:.3f} (mean over {len(self.corruptions)} '
                      f'corruptions x {len(sev)} severities); rPC {self.rpc:.3f}; {len(self.frame_names)} frames of '
                      f'{self.dataset}']
        return '\n'.join(lines)

    def plot(self, path: str, title: str = '') -> None:
        """Write a PNG: mIoU against severity (0 = clean), one line per corruption, one panel per family.

        Needs matplotlib; RuntimeError saying how to install it otherwise.
        """
        try:
            import matplotlib
        except ImportError:
            raise RuntimeError('the robustness plot needs matplotlib: pip install matplotlib (or the package\'s '
                               '"plots" extra)') from None
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt

        families = list(self.family_means())
        cols = min(len(families), 2)
        rows = (len(families) + cols - 1) // cols
        fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.6 * rows), squeeze=False, sharey=True)
        xs = [0] + list(self.severities)
        for ax, family in zip(axes.ravel(), families):
            for name in FAMILIES[family]:
                if name in self.miou:
                    ax.plot(xs, [self.clean_miou] + [self.miou[name][s] for s in self.severities], marker='o',
                            label=f'{name} ({self.corruption_mean(name):.2f})')
            ax.axhline(self.clean_miou, color='grey', linestyle='--', linewidth=0.8)
            ax.set_title(f'{family}: mean {self.family_means()[family]:.3f}', fontsize=10)
            ax.set_xticks(xs, ['clean'] + [str(s) for s in self.severities])
            ax.set_xlabel('severity')
            ax.set_ylabel('mIoU')
            ax.set_ylim(0, 1)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7, loc='lower left')
        for ax in axes.ravel()[len(families):]:
            ax.axis('off')
        fig.suptitle(title or f'{self.model} on {self.dataset} ({len(self.frame_names)} frames): clean '
                              f'{self.clean_miou:.3f}, mPC {self.mpc:.3f}, rPC {self.rpc:.3f}', fontsize=10)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)


def select_frames(total: int, count: int, first: bool = False) -> List[int]:
    """Indices of ``count`` frames out of ``total``: evenly spaced over the split, or the first ones (0: all)."""
    if count <= 0 or count >= total:
        return list(range(total))
    if first:
        return list(range(count))
    return sorted({int(round(v)) for v in np.linspace(0, total - 1, count)})


def _score(confusion: np.ndarray, classes) -> Tuple[float, Dict[str, Optional[float]]]:
    report = metrics.summary(confusion, classes)
    return report['miou'] / 100.0, {k: (None if v is None else v / 100.0) for k, v in report['iou'].items()}


def evaluate(segmenter, data, corruptions: Sequence[str] = CORRUPTIONS, severities: Sequence[int] = SEVERITIES,
             seed: int = 0, frame_ids: Optional[Sequence[int]] = None, dataset: str = '',
             progress: Optional[Callable[[int, int], None]] = None) -> RobustnessResult:
    """Score ``segmenter`` on ``data`` (datasets.LabelledImages) clean and under each corruption and severity.

    ``frame_ids``: each frame's index in its split (default 0, 1, ...), which seeds its corruptions; ``dataset``:
    its name for the report (e.g. 'camvid val'); ``progress(done, total)`` is called after each segmented frame.
    ValueError for classes that differ from the model's, an unknown corruption or severity, a negative seed or
    no frames.
    """
    import time

    if tuple(data.classes) != tuple(segmenter.classes):
        raise ValueError(f'the model predicts {len(segmenter.classes)} classes ({", ".join(segmenter.classes[:4])}, '
                         f'...) but the data are labelled with {len(data.classes)} ({", ".join(data.classes[:4])}, '
                         f'...)')
    if not len(data):
        raise ValueError('no frames to evaluate')
    if seed < 0:
        raise ValueError(f'the seed must be 0 or more, got {seed}')
    for name in corruptions:
        family_of(name)
    bad = [s for s in severities if s not in SEVERITIES]
    if bad or not severities or not corruptions:
        raise ValueError(f'severities must be a non-empty choice of {", ".join(map(str, SEVERITIES))} and at least '
                         f'one corruption given; got severities {list(severities)}, corruptions {list(corruptions)}')
    frame_ids = list(range(len(data))) if frame_ids is None else list(frame_ids)
    if len(frame_ids) != len(data):
        raise ValueError(f'{len(frame_ids)} frame ids given for {len(data)} frames')
    n = len(segmenter.classes)
    total = len(data) * (1 + len(corruptions) * len(severities))
    done = 0
    t0 = time.perf_counter()

    def confusion_of(images):
        nonlocal done
        confusion = np.zeros((n, n), np.int64)
        for img, lab in zip(images, data.labels):
            confusion += metrics.confusion_matrix(lab, segmenter.segment(img).labels, n, data.ignore_index)
            done += 1
            if progress is not None:
                progress(done, total)
        return confusion

    clean_miou, clean_iou = _score(confusion_of(data.images), segmenter.classes)
    miou: Dict[str, Dict[int, float]] = {}
    iou: Dict[str, Dict[int, Dict[str, Optional[float]]]] = {}
    for name in (c for c in CORRUPTIONS if c in corruptions):
        index = CORRUPTIONS.index(name)
        for severity in sorted(severities):
            images = (corrupt(img, name, severity, np.random.default_rng([seed, index, severity, frame]))
                      for img, frame in zip(data.images, frame_ids))
            value, per_class = _score(confusion_of(images), segmenter.classes)
            miou.setdefault(name, {})[severity] = value
            iou.setdefault(name, {})[severity] = per_class
    return RobustnessResult(model=segmenter.model.name, backend=segmenter.backend.describe(),
                            dataset=dataset, classes=tuple(segmenter.classes),
                            frame_names=list(data.names), seed=seed, clean_iou=clean_iou, clean_miou=clean_miou,
                            miou=miou, iou=iou, wall_s=time.perf_counter() - t0)

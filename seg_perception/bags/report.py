"""``eval-bag``'s HTML report: its figures, the IoU and hazard tables, and PNG plots beside it.

The plots are the confusion matrix, a latency histogram, a timeline of per-frame mIoU and pixel accuracy with
the hazards, alarms, degraded frames, silent failures and drivable-area violations marked (:func:`timeline_marks`),
and the worst frames; they are drawn from a :class:`seg_perception.bags.evaluate.BagEvaluation`.
"""

import html
import json
import os
from typing import List, Tuple

import cv2
import numpy as np

from .. import metrics
from ..taxonomy import OUTSIDE_COLOUR, OUTSIDE_NAME, TAXONOMY_CLASSES, TAXONOMY_PALETTE, colourise, legend_strip
from .degraded import silent
from .hazards import violates
from .messages import as_rgb


def frame_miou(frame) -> float:
    """Mean IoU (%) of one scored frame over the classes present in it."""
    return float(np.nanmean(metrics.iou_per_class(frame.confusion)) * 100)


# label, matplotlib marker, colour and row (mIoU %) of each kind of mark on the timeline, bottom up
MARKS = (('hazard', 'v', 'tab:red', -3), ('alarm', 'x', 'black', -3), ('drivable violation', 's', 'tab:purple', -3),
         ('degraded', 'D', 'tab:olive', -9), ('silent failure', '*', 'tab:pink', -15))


def timeline_marks(evaluation) -> List[Tuple[str, str, str, float, List[float]]]:
    """(label, marker, colour, row, times in s from the first ground truth) of the timeline's marks, every kind.

    A kind with no frame has no times: the timeline draws no mark for it and leaves it out of its legend.
    """
    report = evaluation.report
    scored = [f for f in evaluation.frames if f.confusion is not None]
    t0 = evaluation.frames[0].stamp_ns if evaluation.frames else 0
    picks = {'hazard': lambda f: f.hazard, 'alarm': lambda f: f.alarm,
             'drivable violation': lambda f: violates(f, report['hazards']['rule']['violation_share']),
             'degraded': lambda f: f.degraded, 'silent failure': silent}
    return [(label, marker, color, row, [(f.stamp_ns - t0) / 1e9 for f in scored if picks[label](f)])
            for label, marker, color, row in MARKS]


def write_html(evaluation, path: str, worst: int = 4) -> List[str]:
    """An HTML report with PNG plots beside it: confusion matrix, latency histogram, timeline, worst frames.

    The worst frames colour the classes with the one table (taxonomy.TAXONOMY_PALETTE); the legend strip under
    them (``_legend.png``) and the swatches in the IoU table name the colours.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    from ..plots import plot_confusion

    stem = os.path.splitext(path)[0]
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    report = evaluation.report
    scored = [f for f in evaluation.frames if f.confusion is not None]
    plots = {'confusion': f'{stem}_confusion.png', 'latency': f'{stem}_latency.png',
             'timeline': f'{stem}_timeline.png', 'worst': f'{stem}_worst.png', 'legend': f'{stem}_legend.png'}
    plot_confusion(evaluation.confusion, TAXONOMY_CLASSES, plots['confusion'],
                   f'{report["predictions"]} vs {report["gt_topic"]}: mIoU {report["miou"]:.1f}%')
    latencies = [f.latency_ms for f in scored if f.latency_ms is not None]
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.hist(latencies or [0.0], bins=30, color='tab:blue')
    ax.set_xlabel('latency, ms (labels receive time - input stamp)')
    ax.set_ylabel('frames')
    if not latencies:
        ax.set_title('no recorded latencies (--run, or no labels topic)', fontsize=9)
    fig.tight_layout()
    fig.savefig(plots['latency'], dpi=100)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(8, 3))
    t0 = evaluation.frames[0].stamp_ns if evaluation.frames else 0
    times = [(f.stamp_ns - t0) / 1e9 for f in scored]
    ax.plot(times, [frame_miou(f) for f in scored], '.-', label='mIoU %')
    accuracy = [np.nan if f.accuracy is None else 100 * f.accuracy for f in scored]
    ax.plot(times, accuracy, '.:', color='tab:green', label='pixel accuracy %')
    ax.axhline(100 * report['degraded']['fail_below'], color='tab:green', linewidth=0.5, linestyle='--')
    ax.set_xlabel('time from the first ground truth, s')
    ax.set_ylabel('mIoU, pixel accuracy, %')
    for label, marker, color, row, marked in timeline_marks(evaluation):
        if marked:
            ax.plot(marked, [row] * len(marked), marker, color=color, label=label, linestyle='none')
    ax.legend(loc='lower left', fontsize=7, ncol=2)
    if latencies:
        twin = ax.twinx()
        twin.plot([(f.stamp_ns - t0) / 1e9 for f in scored if f.latency_ms is not None], latencies, '.',
                  color='tab:orange')
        twin.set_ylabel('latency, ms', color='tab:orange')
    fig.tight_layout()
    fig.savefig(plots['timeline'], dpi=100)
    plt.close(fig)
    tiles = []
    for frame in sorted(scored, key=frame_miou)[:worst]:
        pred, truth = colourise(frame.pred), colourise(frame.truth)
        if frame.image is not None:
            rgb = as_rgb(frame.image)
            if rgb.shape[:2] != pred.shape[:2]:
                rgb = cv2.resize(rgb, pred.shape[1::-1])
            pred = (0.5 * rgb + 0.5 * pred).astype(np.uint8)
        tile = np.concatenate([pred, truth], axis=1)
        scale = 480 / tile.shape[1]
        tile = cv2.resize(tile, (480, max(1, round(tile.shape[0] * scale))), interpolation=cv2.INTER_NEAREST)
        cv2.putText(tile, f'{frame_miou(frame):.0f}% mIoU', (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255))
        tiles.append(tile)
    strip = np.concatenate(tiles, axis=0) if tiles else np.zeros((16, 480, 3), np.uint8)
    cv2.imwrite(plots['worst'], strip[:, :, ::-1])
    cv2.imwrite(plots['legend'], legend_strip(strip.shape[1])[:, :, ::-1])
    colours = dict(zip(TAXONOMY_CLASSES, TAXONOMY_PALETTE))

    def swatch(name):
        r, g, b = colours.get(name, OUTSIDE_COLOUR)
        return f'<td style="background:rgb({r},{g},{b});width:1.5em" title="rgb({r},{g},{b})"></td>'
    rows = ''.join(f'<tr>{swatch(name)}<td>{html.escape(name)}</td><td>{"-" if v is None else f"{v:.1f}"}</td></tr>'
                   for name, v in report['iou'].items())
    figures = {k: v for k, v in report.items() if k not in ('iou', 'taxonomy', 'hazards', 'degraded')}
    degraded = report['degraded']
    degraded_rows = ''.join(
        f'<tr><td>{html.escape(name)}</td><td>{html.escape("-" if degraded[k] is None else str(degraded[k]))}</td>'
        f'</tr>'
        for name, k in (('degraded source', 'degraded_source'),
                        ('frames with a degraded verdict', 'frames_with_degraded_verdict'),
                        ('degraded frames', 'degraded_frames'), ('degraded share', 'degraded_share'),
                        ('failing frames (pixel accuracy under the bound)', 'failing_frames'),
                        ('silent failures (failing, neither alarm nor degraded)', 'silent_failures'),
                        ('silent-failure rate', 'silent_failure_rate'),
                        ('accurate frames', 'accurate_frames'),
                        ('over-caution (accurate frames degraded)', 'over_caution'),
                        ('mean pixel accuracy, %', 'pixel_accuracy_mean')))
    reason_rows = ''.join(f'<tr><td>{html.escape(reason)}</td><td>{count}</td></tr>'
                          for reason, count in degraded['degraded_reasons'].items())
    hazards = report['hazards']
    hazard_rows = ''.join(
        f'<tr><td>{html.escape(name)}</td><td>{html.escape("-" if hazards[k] is None else str(hazards[k]))}</td></tr>'
        for name, k in (('alarm source', 'alarm_source'), ('hazard frames', 'hazard_frames'),
                        ('alarm recall on hazard frames', 'alarm_recall'),
                        ('hazard-free frames', 'hazard_free_frames'),
                        ('false-alarm rate on hazard-free frames', 'false_alarm_rate'),
                        ('frames with a drivable area', 'frames_with_drivable'),
                        ('drivable-area violations, frames', 'drivable_violation_frames'),
                        ('drivable-area violations, share', 'drivable_violation_share')))

    def img(name):
        return f'<img src="{html.escape(os.path.basename(plots[name]))}">'
    images = ''.join(f'<h2>{name}</h2>{img(name)}' for name in ('confusion', 'latency', 'timeline'))
    with open(path, 'w') as f:
        f.write(f'<!doctype html><html><head><meta charset="utf-8"><title>eval-bag {html.escape(report["bag"])}'
                f'</title></head><body><h1>eval-bag {html.escape(report["bag"])}</h1>'
                f'<pre>{html.escape(json.dumps(figures, indent=2))}</pre>'
                f'<h2>IoU per class (shared taxonomy), %</h2><table>{rows}</table>'
                f'<h2>Ambiguity alarms against hazards</h2><table>{hazard_rows}</table>'
                f'<p>hazard: a person, cyclist or vehicle in the ground truth\'s path ahead, predicted sky or road on '
                f'{hazards["rule"]["misread_share"]:.0%} of its pixels or more; rule: '
                f'{html.escape(json.dumps(hazards["rule"]))}</p>'
                f'<h2>Degraded frames against ground-truth accuracy</h2><table>{degraded_rows}</table>'
                f'<p>failing: pixel accuracy under {degraded["fail_below"]:.0%}; accurate: '
                f'{degraded["accurate_from"]:.0%} or more; degraded: the frame-level trust check</p>'
                f'<h3>degraded frames by reason</h3><table>{reason_rows or "<tr><td>none</td></tr>"}</table>'
                f'{images}'
                f'<h2>worst</h2><p>worst frames: prediction (over the camera frame where recorded) | ground truth; '
                f'{html.escape(OUTSIDE_NAME)}: not in the taxonomy, not scored</p>{img("worst")}<br>{img("legend")}'
                f'</body></html>')
    return [path, *plots.values()]

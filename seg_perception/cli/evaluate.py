"""``seg-perception eval`` and ``scenarios``: a model's figures on labelled data and on the hazard suite."""

import argparse
import json
import sys

import numpy as np

from .. import crf
from ..plots import plot_confusion
from .common import add_model_args, make_segmenter, must_exist, require


def cmd_eval(args) -> int:
    """Evaluate a model on a labelled split through Segmenter, at the labels' full resolution."""
    from .. import datasets, metrics

    if args.crf and args.backend != 'torch':
        raise SystemExit('error: eval --crf needs the class probabilities, which the deployed ONNX graph does not '
                         'output (only labels and margin); add --backend torch (the model needs its .pt weights)')
    if args.crf:
        require('eval --crf', 'torch', 'torch')
    if args.dataset != 'rendered':
        must_exist(args.root, '--root')
    seg = make_segmenter(args)
    # the first N frames of the chosen sequences (rendered: N frames are generated, then chosen among)
    load_all = args.sequence and args.dataset != 'rendered'
    data = datasets.load(args.dataset, args.root, args.split, limit=0 if load_all else args.limit)
    if args.sequence:
        try:
            data = datasets.select_sequences(data, include=args.sequence, what=f'{args.dataset} {args.split}')
        except ValueError as exc:
            raise SystemExit(f'error: --sequence: {exc}') from None
        if load_all and args.limit:
            data = datasets.LabelledImages(data.images[:args.limit], data.labels[:args.limit], data.classes,
                                           data.ignore_index, data.names[:args.limit])
    if tuple(data.classes) != tuple(seg.classes):
        raise SystemExit(f'error: the model predicts {len(seg.classes)} classes ({", ".join(seg.classes[:4])}, ...) '
                         f'but {args.dataset} is labelled with {len(data.classes)} ({", ".join(data.classes[:4])}, '
                         f'...); evaluate a model trained on {args.dataset}')
    if args.crf:
        crf_params = crf.CRF_SETTINGS[args.crf_params]
    n = len(seg.classes)
    confusion = np.zeros((n, n), np.int64)
    crf_confusion = np.zeros((n, n), np.int64)
    times, crf_times = [], []
    for img, lab in zip(data.images, data.labels):
        result = seg.segment(img)
        times.append(result.timings_ms['total'])
        confusion += metrics.confusion_matrix(lab, result.labels, n, data.ignore_index)
        if args.crf:
            labels, timings = seg.crf_labels(img, crf_params, args.crf_implementation)
            crf_times.append(timings['crf'])
            crf_confusion += metrics.confusion_matrix(lab, labels, n, data.ignore_index)
    report = metrics.summary(confusion, seg.classes)
    report.update({'model': seg.model.name, 'backend': seg.backend.describe(), 'frames': len(times),
                   'ms_per_frame_median': float(np.median(times)), 'dataset': f'{args.dataset} {args.split}'
                   + (f' ({", ".join(args.sequence)} only)' if args.sequence else '')})
    if args.crf:
        from dataclasses import asdict

        refined = metrics.summary(crf_confusion, seg.classes)
        implementation = args.crf_implementation
        if implementation == 'auto':
            implementation = 'pydensecrf' if crf.pydensecrf_available() else 'numpy'
        report['crf'] = dict(refined, miou_gain=refined['miou'] - report['miou'],
                             ms_per_frame_median=float(np.median(crf_times)), implementation=implementation,
                             params=dict(asdict(crf_params), name=args.crf_params))
    print(json.dumps(report, indent=2))
    if args.plot:
        plot_confusion(confusion, seg.classes, args.plot, f'{seg.model.name} on {args.dataset} {args.split}: '
                                                          f'mIoU {report["miou"]:.1f}%')
        print(f'confusion matrix written to {args.plot}')
    if args.json:
        extra = {'confusion': confusion.tolist()}
        if args.crf:
            extra['crf_confusion'] = crf_confusion.tolist()
        with open(args.json, 'w') as f:
            json.dump(dict(report, **extra), f, indent=2)
    return 0


def _range(text):
    lo, _, hi = text.partition(':')
    return int(lo), int(hi)


def _print_figures(title, rows, goals):
    """Print a markdown table of figure rows (name, summary dict) and the goals line by line."""
    print(f'\n## {title}\n')
    print('| case | frames | hazard handled | alarm on hazard | false alarm | degraded | drivable IoU | '
          'drivable recall | checks p50 / p99 ms |')
    print('|---|---|---|---|---|---|---|---|---|')

    def pct(v):
        return '-' if v != v else f'{100 * v:.1f}%'
    for name, f in rows:
        print(f'| {name} | {f["frames"]} | {pct(f["hazard_handled"])} | {pct(f["hazard_alarm"])} | '
              f'{pct(f["false_alarm"])} | {pct(f["degraded"])} | {pct(f["drivable_iou"])} | '
              f'{pct(f["drivable_recall"])} | '
              f'{f["checks_ms_p50"]:.2f} / {f["checks_ms_p99"]:.2f} |')
    for label, value, goal, better in goals:
        ok = value >= goal if better == 'high' else value <= goal
        in_ms = label.endswith(' ms per frame')
        shown = f'{value:.2f} ms' if in_ms else f'{100 * value:.1f}%'
        wanted = f'{goal:.1f} ms' if in_ms else f'{100 * goal:.0f}%'
        print(f'- {label}: {shown} (goal {"<=" if better == "low" else ">="} {wanted}): '
              f'{"met" if ok else "MISSED"}')


def _print_items(title, items, show):
    """Print ``title (count):`` and the first ``show`` items, one a line; nothing when there are none."""
    if items:
        print(f'\n{title} ({len(items)}):')
        for line in items[:show]:
            print(f'  {line}')


def cmd_scenarios(args) -> int:
    """Run the model and the ambiguity checks over the rendered hazard suite (and CamVid); print the figures."""
    from ..sim import scenarios
    from ..sim.scenarios import GOALS

    must_exist(args.camvid, '--camvid')
    seg = make_segmenter(args)
    print(f'# seg-perception {" ".join(sys.argv[1:])}'.rstrip())
    print(f'# model {seg.model.name}, {seg.backend.describe()}')
    report = {'model': seg.model.name, 'settings': seg.safety.flat()}

    def progress(i, n):
        if not args.quiet and (i % 50 == 0 or i == n):
            print(f'  {i}/{n}', file=sys.stderr)
    if not args.no_rendered:
        lo, hi = args.seeds
        suite = scenarios.scenario_suite(range(lo, hi), tuple(float(v) for v in args.distance.split(':')))
        results = scenarios.run_suite(seg, suite, use_camera=args.horizon == 'camera', progress=progress)
        total = scenarios.summarise(results)
        cases = scenarios.by_case(results)
        _print_figures(f'rendered suite, seeds {lo}..{hi - 1}, hazards at {args.distance} m, horizon from '
                       f'{args.horizon}', list(cases.items()) + [('all', total)],
                       [('hazard handled', total['hazard_handled'], GOALS['hazard_handled'], 'high'),
                        ('false alarms, hazard-free rendered frames', total['false_alarm'],
                         GOALS['false_alarm_rendered'], 'low'),
                        ('hazard-free rendered frames degraded', total['degraded_clear'],
                         GOALS['degraded_clean'], 'low'),
                        ('checks p50, ms per frame', total['checks_ms_p50'], GOALS['checks_ms'], 'low')])
        missed = [f'{r.name} {r.case}: {100 * r.hazard_excluded:.1f}% excluded, alarm {r.alarm}'
                  for r in results if r.hazardous and r.hazard_excluded < scenarios.HANDLED_SHARE]
        alarms = [f'{r.name} {r.case}: {"; ".join(r.reasons)}' for r in results if not r.hazardous and r.alarm]
        _print_items('hazards not handled', missed, args.show)
        _print_items('false alarms', alarms, args.show)
        report['rendered'] = {'total': total, 'cases': cases, 'not_handled': missed, 'false_alarms': alarms}
    if args.camvid:
        from .. import datasets

        data = datasets.load_camvid(args.camvid, args.split, limit=args.limit)
        results = scenarios.run_dataset(seg, data, progress=progress)
        total = scenarios.summarise(results)
        _print_figures(f'CamVid {args.split} ({args.camvid}), no camera model', [('camvid', total)],
                       [('false alarms, CamVid frames', total['false_alarm'], GOALS['false_alarm_camvid'], 'low'),
                        ('CamVid frames degraded', total['degraded'], GOALS['degraded_clean'], 'low'),
                        ('drivable recall of the road ahead', total['drivable_recall'],
                         GOALS['drivable_recall_camvid'], 'high'),
                        ('checks p50, ms per frame', total['checks_ms_p50'], GOALS['checks_ms'], 'low')])
        alarms = [f'{r.name}: {"; ".join(r.reasons)}' for r in results if r.alarm]
        _print_items('false alarms', alarms, args.show)
        sources = {s: sum(r.horizon_source == s for r in results) for s in ('estimate', 'default')}
        print(f'\nhorizon: {sources["estimate"]} frames estimated from the road, {sources["default"]} default')
        report['camvid'] = {'total': total, 'false_alarms': alarms}
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(report, f, indent=2)
    return 0


def add_parser(sub) -> None:
    """Register the eval and scenarios commands and their options on ``sub``."""
    p = sub.add_parser('eval', help='per-class IoU and mIoU on a labelled split',
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description='Evaluate through Segmenter (the node\'s path) at full label resolution.\n\n'
                                   'example:\n  seg-perception eval --dataset camvid --root ../shared/datasets/camvid '
                                   '--split val --json out/eval.json --plot out/confusion.png')
    p.add_argument('--dataset', choices=('camvid', 'cityscapes', 'rendered'), default='camvid',
                   help='labelled data: CamVid (SegNet layout), Cityscapes (gtFine), or rendered street scenes')
    p.add_argument('--root', default='../shared/datasets/camvid', help='dataset root (unused for rendered)')
    p.add_argument('--split', default='val', help='split to evaluate: train, val or test')
    p.add_argument('--limit', type=int, default=0, help='first N frames only (rendered: number of frames)')
    p.add_argument('--sequence', nargs='+', default=[], metavar='PREFIX',
                   help='only the frames whose names start with PREFIX (a CamVid sequence such as 0006R0)')
    p.add_argument('--json', default='', help='write the figures and the confusion matrix as JSON')
    p.add_argument('--plot', default='', help='write the row-normalised confusion matrix as a PNG')
    p.add_argument('--crf', action='store_true',
                   help='also score the labels refined by the dense CRF (offline; needs --backend torch) and '
                        'report its mIoU gain and cost per frame')
    p.add_argument('--crf-params', choices=tuple(crf.CRF_SETTINGS), default='largefov',
                   help="DeepLab's CRF settings: v1 LargeFOV (10 it., 4/49/5, 3/3) or v2 ResNet-101 (4/67/3, 3/1)")
    p.add_argument('--crf-implementation', choices=('auto', 'pydensecrf', 'numpy'), default='auto',
                   help='pydensecrf (pip install pydensecrf2) or the built-in numpy one; auto: the former if '
                        'installed')
    add_model_args(p)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser('scenarios', help='hazard scenarios: the ambiguity checks\' figures',
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description='Render the hazard suite (trailers and truck sides across the road, overpasses, '
                                   'tunnel exits, low sun, varied pitch), run the model and the ambiguity checks, and '
                                   'print: hazard handled rate, false alarm rate, drivable-area IoU against the '
                                   'ground truth\'s road ahead, and the checks\' time per frame. With --camvid, also '
                                   'false alarms and drivable recall on real frames.\n\nexample:\n'
                                   '  seg-perception scenarios --seeds 1000:1300 --camvid ../shared/datasets/camvid')
    p.add_argument('--seeds', type=_range, default=(1000, 1300),
                   help='seed range lo:hi; one hazard and one hazard-free frame per seed (tune on another range)')
    p.add_argument('--distance', default='10:50', help='range of hazard distances, metres')
    p.add_argument('--horizon', choices=('camera', 'auto'), default='camera',
                   help='camera: the checks get the camera model (as with camera_info); auto: estimate/default')
    p.add_argument('--no-rendered', action='store_true', help='skip the rendered suite')
    p.add_argument('--camvid', default='', help='CamVid root: also measure on its --split (no hazards there)')
    p.add_argument('--split', default='val', help='CamVid split for --camvid')
    p.add_argument('--limit', type=int, default=0, help='first N CamVid frames only (0: all)')
    p.add_argument('--show', type=int, default=20, help='list at most this many misses and false alarms')
    p.add_argument('--json', default='', help='also write the figures to this JSON file')
    p.add_argument('-q', '--quiet', action='store_true', help='no progress lines')
    add_model_args(p)
    p.set_defaults(func=cmd_scenarios)

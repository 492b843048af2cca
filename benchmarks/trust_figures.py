r"""Figures of the frame-level trust check on clean and corrupted frames: silent failures, false degraded, caution.

Each frame of a split is segmented clean and under every corruption at the chosen severities, one frame at a
time (no stream history: ``frozen`` and ``unstable`` cannot fire here). A corrupted frame *fails* under 75% pixel
accuracy and is *silent* when it then raises neither the alarm nor ``degraded``; it is *accurate* at 85% or more,
and ``degraded`` there is over-caution (a needless stop). Printed: the three rates and their goals, a table per
corruption, the counts per reason, and the statistics' percentiles (clean vs failing frames) to tune on.

The corruptions are the robustness benchmark's 15 (Hendrycks and Dietterich's, seg_perception.corruptions) by
default; ``--corruptions MODULE:NAME`` names another dict ``name -> f(rgb, severity, rng)`` (severity 1..5, rng a
numpy Generator), and ``--corruptions simple`` the five simple ones here (CORRUPTIONS). Tune on train splits and
rendered frames; report other frames.

    python benchmarks/trust_figures.py --dataset camvid --root ../shared/datasets/camvid --split val \
        --step 10 --limit 10 --severities 1 3 5
    python benchmarks/trust_figures.py --dataset rendered --limit 10 --csv /tmp/trust_rendered.csv
    python benchmarks/trust_figures.py --dataset camvid --split train --limit 0 --clean-only
    python benchmarks/trust_figures.py --dataset scenarios --seeds 0:200 --csv /tmp/trust_scenarios.csv

``--dataset scenarios`` takes the hazard-free frames of the hazard suite's seeds (``seg-perception scenarios``;
0..199 tune, 1000..1299 are its report), clean only: there a ``degraded`` frame is a needless stop.
"""

import argparse
import importlib
import sys
import time
from typing import Callable, Dict

import cv2
import numpy as np

from seg_perception.safety_config import SafetyConfig
from seg_perception.datasets import load
from seg_perception.segmenter import Segmenter
from seg_perception.trust import REASONS, TrustStatistics, low_margin_share

FAIL_BELOW, ACCURATE_FROM = 0.75, 0.85
# the low-margin share is also written at these margins (columns low_margin_share@M), so that the tuner can choose
# trust_low_margin_max as well as the share
MARGIN_LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5)
GOALS = {'silent_failure': 0.02, 'false_degraded': 0.01, 'over_caution': 0.10}

Corruption = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]


def _value(rgb: np.ndarray, change) -> np.ndarray:
    """``rgb`` with its HSV value channel (0..1) passed through ``change``."""
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV_FULL).astype(np.float32)
    hsv[..., 2] = np.clip(change(hsv[..., 2] / 255.0), 0.0, 1.0) * 255.0
    return cv2.cvtColor(np.round(hsv).astype(np.uint8), cv2.COLOR_HSV2RGB_FULL)


def gaussian_noise(rgb, severity, rng):
    """Additive Gaussian noise, sigma 0.08..0.38 of the range (Hendrycks & Dietterich 2019's severities)."""
    sigma = (0.08, 0.12, 0.18, 0.26, 0.38)[severity - 1] * 255.0
    return np.clip(rgb + rng.normal(0.0, sigma, rgb.shape), 0, 255).astype(np.uint8)


def gaussian_blur(rgb, severity, rng):
    """Gaussian blur, sigma 1..6 pixels of a 480 x 360 frame."""
    sigma = (1.0, 2.0, 3.0, 4.0, 6.0)[severity - 1] * rgb.shape[1] / 480.0
    return cv2.GaussianBlur(rgb, (0, 0), sigma)


def brightness(rgb, severity, rng):
    """Brighter: 0.1..0.5 added to the HSV value (Hendrycks & Dietterich 2019)."""
    return _value(rgb, lambda v: v + (0.1, 0.2, 0.3, 0.4, 0.5)[severity - 1])


def darkness(rgb, severity, rng):
    """Darker: the HSV value times 0.6..0.1 (an under-exposed frame)."""
    return _value(rgb, lambda v: v * (0.6, 0.45, 0.3, 0.2, 0.1)[severity - 1])


def contrast(rgb, severity, rng):
    """Less contrast: the distance to the mean colour times 0.4..0.05 (Hendrycks & Dietterich 2019)."""
    c = (0.4, 0.3, 0.2, 0.1, 0.05)[severity - 1]
    mean = rgb.reshape(-1, 3).mean(axis=0)
    return np.clip((rgb - mean) * c + mean, 0, 255).astype(np.uint8)


CORRUPTIONS: Dict[str, Corruption] = {'gaussian_noise': gaussian_noise, 'gaussian_blur': gaussian_blur,
                                      'brightness': brightness, 'darkness': darkness, 'contrast': contrast}


def pixel_accuracy(labels: np.ndarray, truth: np.ndarray, ignore_index: int) -> float:
    """Share of the labelled pixels (not ``ignore_index``) whose label is right."""
    valid = truth != ignore_index
    return float(np.count_nonzero((labels == truth) & valid)) / max(int(np.count_nonzero(valid)), 1)


def run(seg: Segmenter, data, corruptions: Dict[str, Corruption], severities, progress=None):
    """One row per (frame, corruption, severity), clean first: accuracy, alarm, degraded, reasons, statistics."""
    rows = []
    for i, (name, rgb, truth) in enumerate(zip(data.names, data.images, data.labels)):
        variants = [('clean', 0, rgb)]
        for cname, corrupt in corruptions.items():
            for severity in severities:
                rng = np.random.default_rng([i, severity, sum(map(ord, cname))])
                variants.append((cname, severity, corrupt(rgb, severity, rng)))
        for cname, severity, image in variants:
            out = seg.segment(image)
            stats = out.trust.statistics.as_dict() if out.trust is not None else {}
            if out.trust is not None:
                stats.update({f'low_margin_share@{m:g}': low_margin_share(out.margin_net, m) for m in MARGIN_LEVELS})
            rows.append(dict(frame=name, corruption=cname, severity=severity,
                             accuracy=pixel_accuracy(out.labels, truth, data.ignore_index), alarm=out.alarm,
                             degraded=out.degraded, reasons=out.degraded_reasons, checks_ms=out.timings_ms['checks'],
                             **stats))
        if progress:
            progress(i + 1, len(data))
    return rows


def rates(rows):
    """The three figures (and their counts) over ``rows``."""
    clean = [r for r in rows if r['corruption'] == 'clean']
    corrupted = [r for r in rows if r['corruption'] != 'clean']
    failing = [r for r in corrupted if r['accuracy'] < FAIL_BELOW]
    silent = [r for r in failing if not (r['alarm'] or r['degraded'])]
    accurate = [r for r in corrupted if r['accuracy'] >= ACCURATE_FROM]
    cautious = [r for r in accurate if r['degraded']]
    false_degraded = [r for r in clean if r['degraded']]

    def share(part, whole):
        return len(part) / len(whole) if whole else float('nan')
    return {'clean': len(clean), 'corrupted': len(corrupted), 'failing': len(failing), 'silent': len(silent),
            'accurate': len(accurate), 'cautious': len(cautious), 'false_degraded_n': len(false_degraded),
            'silent_failure': share(silent, corrupted), 'silent_of_failing': share(silent, failing),
            'false_degraded': share(false_degraded, clean), 'over_caution': share(cautious, accurate),
            'clean_failing': sum(r['accuracy'] < FAIL_BELOW for r in clean)}


def _group_counts(group):
    """(failing, silent, accurate, cautious, degraded, alarm) counts of some rows."""
    failing = [r for r in group if r['accuracy'] < FAIL_BELOW]
    accurate = [r for r in group if r['accuracy'] >= ACCURATE_FROM]
    return (len(failing), sum(not (r['alarm'] or r['degraded']) for r in failing), len(accurate),
            sum(bool(r['degraded']) for r in accurate), sum(bool(r['degraded']) for r in group),
            sum(bool(r['alarm']) for r in group))


def _top_reasons(group, n: int = 3) -> str:
    """The ``n`` most frequent degraded reasons of some rows, with their counts."""
    counts = {}
    for r in group:
        for reason in r['reasons']:
            counts[reason] = counts.get(reason, 0) + 1
    return ', '.join(f'{k} {v}' for k, v in sorted(counts.items(), key=lambda kv: -kv[1])[:n]) or '-'


def pct(v):
    return '-' if v != v else f'{100 * v:.1f}%'


def report(rows, seconds):
    """Print the figures, the per-corruption table, the reasons and the statistics' percentiles."""
    f = rates(rows)
    print(f'\n## Figures ({f["clean"]} clean, {f["corrupted"]} corrupted frames, {seconds:.0f} s)\n')
    print(f'- silent failures: {f["silent"]} of {f["corrupted"]} corrupted frames = {pct(f["silent_failure"])} '
          f'(goal <= {pct(GOALS["silent_failure"])}); {pct(f["silent_of_failing"])} of the {f["failing"]} '
          f'failing (< {FAIL_BELOW:.0%} pixel accuracy)')
    print(f'- false degraded: {f["false_degraded_n"]} of {f["clean"]} clean frames = {pct(f["false_degraded"])} '
          f'(goal <= {pct(GOALS["false_degraded"])}); {f["clean_failing"]} clean frames fail')
    print(f'- over-caution: {f["cautious"]} of {f["accurate"]} corrupted frames still >= {ACCURATE_FROM:.0%} '
          f'accurate are degraded = {pct(f["over_caution"])} (goal <= {pct(GOALS["over_caution"])})')
    print('\n| corruption | severity | frames | mean accuracy | failing | silent | accurate | cautious | degraded | '
          'alarm | top reasons |')
    print('|---|---|---|---|---|---|---|---|---|---|---|')
    groups = {}
    for r in rows:
        groups.setdefault((r['corruption'], r['severity']), []).append(r)
    for (cname, severity), group in groups.items():
        print(f'| {cname} | {severity} | {len(group)} | {pct(np.mean([r["accuracy"] for r in group]))} | '
              + ' | '.join(str(n) for n in _group_counts(group)) + f' | {_top_reasons(group)} |')
    print('\n| corruption (all severities) | frames | failing | silent | accurate | cautious |')
    print('|---|---|---|---|---|---|')
    by_name = {}
    for r in rows:
        by_name.setdefault(r['corruption'], []).append(r)
    for cname, group in by_name.items():
        failing, silent, accurate, cautious = _group_counts(group)[:4]
        print(f'| {cname} | {len(group)} | {failing} | {silent} ({pct(silent / len(group))}) | {accurate} | '
              f'{cautious} ({pct(cautious / accurate if accurate else float("nan"))}) |')
    kinds = {'clean': lambda r: r['corruption'] == 'clean',
             'failing': lambda r: r['corruption'] != 'clean' and r['accuracy'] < FAIL_BELOW,
             'middle': lambda r: r['corruption'] != 'clean' and FAIL_BELOW <= r['accuracy'] < ACCURATE_FROM,
             'accurate': lambda r: r['corruption'] != 'clean' and r['accuracy'] >= ACCURATE_FROM}
    print('\n| reason | clean | corrupted failing | corrupted 75-85% | corrupted accurate | alone (only reason) |')
    print('|---|---|---|---|---|---|')
    for reason in REASONS:
        counts = [sum(reason in r['reasons'] for r in rows if kind(r)) for kind in kinds.values()]
        alone = sum(r['reasons'] == (reason,) for r in rows)
        print(f'| {reason} | ' + ' | '.join(str(c) for c in counts) + f' | {alone} |')
    names = [k for k in TrustStatistics().as_dict() if k not in ('frame_difference', 'frozen_count',
                                                                 'unstable_share')]
    print('\n| statistic | clean p1 | clean p50 | clean p99 | failing p10 | failing p50 | failing p90 | '
          'accurate p50 |')
    print('|---|---|---|---|---|---|---|---|')
    for name in names:
        def q(kind, p):
            values = [r[name] for r in rows if kinds[kind](r) and name in r and r[name] == r[name]]
            return f'{np.percentile(values, p):.3g}' if values else '-'
        print(f'| {name} | {q("clean", 1)} | {q("clean", 50)} | {q("clean", 99)} | {q("failing", 10)} | '
              f'{q("failing", 50)} | {q("failing", 90)} | {q("accurate", 50)} |')
    checks = [r['checks_ms'] for r in rows]
    print(f'\nchecks (ambiguity + trust) p50 / p99: {np.percentile(checks, 50):.1f} / '
          f'{np.percentile(checks, 99):.1f} ms')


STANDARD = 'seg_perception.corruptions:BY_NAME'


def load_corruptions(spec: str) -> Dict[str, Corruption]:
    """The dict ``MODULE:NAME`` names (name -> f(rgb, severity, rng)); 'simple': CORRUPTIONS."""
    if spec == 'simple':
        return CORRUPTIONS
    module, _, attr = spec.partition(':')
    table = getattr(importlib.import_module(module), attr or 'CORRUPTIONS')
    if not isinstance(table, dict) or not all(callable(f) for f in table.values()):
        raise SystemExit(f'error: --corruptions {spec}: expected a dict name -> f(rgb, severity, rng)')
    return table


def scenario_frames(seeds: range):
    """The hazard-free frames of the hazard suite's ``seeds`` (seg_perception.sim.scenarios) as labelled images."""
    from seg_perception.datasets import LabelledImages
    from seg_perception.sim.scenarios import scenario
    from seg_perception.taxonomy import CAMVID_CLASSES, CAMVID_VOID

    frames = [(seed, scenario(seed, False)) for seed in seeds]
    rendered = [(seed, sc.case, sc.render()) for seed, sc in frames]
    return LabelledImages([f.rgb for _, _, f in rendered], [f.labels for _, _, f in rendered], CAMVID_CLASSES,
                          CAMVID_VOID, [f'seed_{seed}_{case}' for seed, case, _ in rendered])


def main(argv=None):
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--dataset', default='camvid',
                    help='camvid, cityscapes, rendered (seg_perception.datasets) or scenarios (the hazard-free '
                         'frames of the hazard suite, clean only)')
    ap.add_argument('--seeds', default='0:200', help='--dataset scenarios: the seeds A:B')
    ap.add_argument('--root', default='../shared/datasets/camvid')
    ap.add_argument('--split', default='train')
    ap.add_argument('--start', type=int, default=0, help='first frame of the split')
    ap.add_argument('--step', type=int, default=1, help='every n-th frame')
    ap.add_argument('--limit', type=int, default=30, help='frames (after start and step); 0: all of the split')
    ap.add_argument('--severities', type=int, nargs='+', default=[1, 3, 5], choices=[1, 2, 3, 4, 5])
    ap.add_argument('--corruptions', default=STANDARD,
                    help='MODULE:NAME of a dict name -> f(rgb, severity, rng) (default: the 15 standard ones), or '
                         'simple')
    ap.add_argument('--only', nargs='*', default=[], help='corruption names to run (default: all)')
    ap.add_argument('--clean-only', action='store_true', help='no corruptions: the false-degraded rate alone')
    ap.add_argument('--model', default=None)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--set', action='append', default=[], help='safety setting NAME=VALUE (trust_*, ...)')
    ap.add_argument('--csv', default='', help='write one row per frame here (statistics, for tuning)')
    args = ap.parse_args(argv)
    corruptions = load_corruptions(args.corruptions)
    if args.only:
        unknown = set(args.only) - set(corruptions)
        if unknown:
            raise SystemExit(f'error: --only {sorted(unknown)}: unknown; known: {sorted(corruptions)}')
        corruptions = {k: v for k, v in corruptions.items() if k in args.only}
    if args.clean_only or args.dataset == 'scenarios':
        corruptions = {}
    defaults = SafetyConfig().flat()
    values = {}
    for item in args.set:
        name, _, text = item.partition('=')
        if name not in defaults:
            raise SystemExit(f'error: --set {item}: unknown setting {name!r}')
        kind = type(defaults[name])
        values[name] = text.lower() in ('1', 'true') if kind is bool else kind(text)
    seg = Segmenter.from_model(args.model, threads=args.threads, safety=SafetyConfig.from_flat(values))
    if args.dataset == 'scenarios':
        first, _, last = args.seeds.partition(':')
        try:
            data = scenario_frames(range(int(first), int(last)))
        except ValueError:
            raise SystemExit(f'error: --seeds {args.seeds}: expected A:B, two integers')
        if not len(data):
            raise SystemExit(f'error: --seeds {args.seeds}: no seeds')
        keep = list(range(len(data)))
    else:
        count = args.start + args.step * args.limit if args.dataset != 'rendered' and args.limit else args.limit
        data = load(args.dataset, args.root, args.split, limit=count)
        keep = list(range(args.start, len(data), args.step))[:args.limit or None] if args.dataset != 'rendered' \
            else list(range(len(data)))
    for key in ('images', 'labels', 'names'):
        setattr(data, key, [getattr(data, key)[i] for i in keep])
    print(f'# python benchmarks/trust_figures.py {" ".join(sys.argv[1:])}'.rstrip())
    which = f'corruptions {", ".join(corruptions)} at severities {args.severities}' if corruptions else 'clean only'
    which_frames = f'seeds {args.seeds}' if args.dataset == 'scenarios' else args.split
    print(f'# model {seg.model.name}, {seg.backend.describe()}; {len(data)} {args.dataset} {which_frames} frames '
          f'({data.names[0]} ..), {which}')
    t = time.perf_counter()
    rows = run(seg, data, corruptions, args.severities,
               progress=lambda i, n: print(f'  {i}/{n} frames', file=sys.stderr, flush=True))
    report(rows, time.perf_counter() - t)
    if args.csv:
        import csv

        with open(args.csv, 'w', newline='') as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            for r in rows:
                writer.writerow(dict(r, reasons=' '.join(r['reasons'])))
        print(f'# {len(rows)} rows written to {args.csv}')


if __name__ == '__main__':
    main()

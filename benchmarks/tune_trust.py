r"""Choose the trust check's thresholds on statistics measured once: the silent-failure / over-caution trade-off.

Reads one or more per-frame CSVs written by ``benchmarks/trust_figures.py --csv`` (one row per clean or corrupted
frame: its pixel accuracy, whether the alarm rose, and every statistic of seg_perception.trust), applies every
combination of the thresholds below through ``trust.judge`` (the function the node itself applies them with), and
prints the combinations that keep silent failures and false ``degraded`` within the goals with the least
over-caution (ties: the most failing frames degraded, then the most reasons on them), best first, with the
``--set`` options that check the choice with trust_figures.py.

Tune on frames that are not the report: CamVid train (a sequence the model did not train on, such as 0006R0) and
rendered frames; then run trust_figures.py once on CamVid val with the chosen settings. ``low_margin_max`` (the
margin under which a pixel is unsure) varies over the margins whose shares the CSVs hold (columns
``low_margin_share@M``, trust_figures.py's MARGIN_LEVELS); CSVs without them are judged at the share measured.

    python benchmarks/trust_figures.py --dataset camvid --split train --start 62 --step 5 --limit 20 \
        --csv /tmp/trust_0006R0.csv
    python benchmarks/tune_trust.py /tmp/trust_0006R0.csv /tmp/trust_rendered.csv --silent 0.01
    python benchmarks/tune_trust.py /tmp/trust_0006R0.csv /tmp/trust_rendered.csv --caution 0.08
"""

import argparse
import csv
import dataclasses
import itertools
import math
import sys

import numpy as np

from seg_perception.safety_config import TrustConfig
from seg_perception.trust import TrustStatistics, judge
from trust_figures import ACCURATE_FROM, FAIL_BELOW     # the same definitions of failing and accurate frames

# Each threshold decides one reason alone, and a frame is degraded when any reason holds: so each threshold is
# judged once per value and the combinations are OR-ed (fast, and the same as judging each combination whole).
# The first value of each turns its reason off. A key of two names joined by '+' is one reason's pair of
# thresholds, varied together.
BLURRED = tuple((b, m) for b in (0.06, 0.08, 0.1, 0.12, 0.15, 0.2) for m in (0.1, 0.12, 0.14, 0.16, 0.18, 0.2))
GRID = {
    'max_noise_sigma': (255.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0),
    'min_sharpness': (0.0, 0.02, 0.03, 0.05, 0.07, 0.08, 0.09, 0.1, 0.12),
    'max_low_margin_share': (1.0, 0.02, 0.03, 0.04, 0.06, 0.08, 0.1, 0.12, 0.15, 0.2, 0.25, 0.3, 0.4),
    'max_repeated_share': (1.0, 0.45, 0.5, 0.6, 0.7),
    'blurred_below+blurred_max_low_margin_share': ((0.0, 1.0),) + BLURRED,
}


def settings(key, value):
    """The TrustConfig fields a GRID key at one of its values sets."""
    names = key.split('+')
    return dict(zip(names, value)) if len(names) > 1 else {key: value}


FIELDS = {f.name for f in dataclasses.fields(TrustStatistics)}


def read_rows(paths):
    """(corruption, accuracy, alarm, TrustStatistics, which CSV) of every row of the CSVs, and per row its
    low-margin shares by margin ({M: share} from the columns ``low_margin_share@M``; empty without them)."""
    rows, levels = [], []
    for source, path in enumerate(paths):
        with open(path, newline='') as f:
            for row in csv.DictReader(f):
                levels.append({float(k.split('@')[1]): float(v) for k, v in row.items()
                               if k.startswith('low_margin_share@') and v not in ('', 'nan')})
                values = {}
                for name in FIELDS:
                    text = row.get(name, '')
                    value = float(text) if text not in ('', 'nan') else math.nan
                    values[name] = int(value) if name == 'frozen_count' and not math.isnan(value) else value
                if math.isnan(values.get('frozen_count', 0)):
                    values['frozen_count'] = 0
                rows.append((row['corruption'], float(row['accuracy']), row['alarm'] == 'True',
                             TrustStatistics(**values), source))
    return rows, levels


def at_margin(rows, levels, margin):
    """The rows with the low-margin share that ``low_margin_max = margin`` gives (None: as measured)."""
    if margin is None:
        return rows
    return [(c, a, alarm, dataclasses.replace(s, low_margin_share=shares[margin]), source)
            for (c, a, alarm, s, source), shares in zip(rows, levels)]


def search(rows, base, silent_max, false_max, margin):
    """Every combination of GRID on ``rows``: (within the goals, caution, silent, false, values, counts)."""
    names = list(GRID)
    flags = degraded_by_threshold(rows, base)
    outcome = outcomes(rows)
    failing = ~outcome[0] & (outcome[1] < FAIL_BELOW)
    caught = {n: [int(np.sum(f & failing)) for f in flags[n]] for n in names}    # failing frames each reason holds on
    results = []
    for index in itertools.product(*(range(len(GRID[n])) for n in names)):
        degraded = np.logical_or.reduce([flags[n][i] for n, i in zip(names, index)])
        silent, false, caution, counts = rates(outcome, degraded)
        values = (margin,) + tuple(x for n, i in zip(names, index) for x in settings(n, GRID[n][i]).values())
        depth = sum(caught[n][i] for n, i in zip(names, index))
        results.append((silent <= silent_max and false <= false_max, caution, silent, false, values,
                        counts + (depth,)))
    return results


def degraded_by_threshold(rows, base):
    """name -> array (values x rows) of ``degraded`` with that threshold at each value and the others off."""
    off = base
    for name, values in GRID.items():
        off = dataclasses.replace(off, **settings(name, values[0]))
    return {name: np.array([[bool(judge(statistics, dataclasses.replace(off, **settings(name, v))))
                             for _, _, _, statistics, _ in rows] for v in values])
            for name, values in GRID.items()}


def outcomes(rows):
    """(clean, accuracy, alarm, which CSV) of the rows as arrays."""
    return (np.array([r[0] == 'clean' for r in rows]), np.array([r[1] for r in rows]),
            np.array([r[2] for r in rows], bool), np.array([r[4] for r in rows]))


def rates(outcome, degraded):
    """(silent failure, false degraded, over-caution) rates of the per-row ``degraded`` flags, and the counts.

    The false-degraded rate is the highest of the CSVs' own (each set of clean frames, CamVid or rendered, is
    held to the goal by itself, as the report holds each); its counts are over all clean rows.
    """
    clean, accuracy, alarm, source = outcome
    corrupted = ~clean
    silent = int(np.sum(corrupted & (accuracy < FAIL_BELOW) & ~(alarm | degraded)))
    false = int(np.sum(clean & degraded))
    accurate = corrupted & (accuracy >= ACCURATE_FROM)
    cautious = int(np.sum(accurate & degraded))
    caught = int(np.sum(corrupted & (accuracy < FAIL_BELOW) & degraded))   # ties: the more failing frames degraded
    n_corrupted, n_clean, n_accurate = int(corrupted.sum()), int(clean.sum()), int(accurate.sum())
    share = lambda a, b: a / b if b else 0.0       # noqa: E731
    false_share = max((share(int(np.sum(clean & degraded & (source == k))), int(np.sum(clean & (source == k))))
                       for k in np.unique(source)), default=0.0)
    return (share(silent, n_corrupted), false_share, share(cautious, n_accurate),
            (silent, n_corrupted, false, n_clean, cautious, n_accurate, caught))


def _show(value, measured_at):
    """A threshold's value in the table; the margin None is the one the shares were measured at."""
    return f'{measured_at:g} (measured)' if value is None else f'{value:g}'


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('csv', nargs='+', help='per-frame CSVs of trust_figures.py --csv')
    parser.add_argument('--silent', type=float, default=0.01, help='the most silent failures to allow (share)')
    parser.add_argument('--false-degraded', type=float, default=0.01,
                        help='the most false degraded on the clean frames of each CSV')
    parser.add_argument('--caution', type=float, default=None,
                        help='instead: the most over-caution to allow (share); the fewest silent failures within it '
                             'and the false-degraded limit are chosen')
    parser.add_argument('--top', type=int, default=12)
    args = parser.parse_args()
    try:
        rows, levels = read_rows(args.csv)
    except (OSError, KeyError, ValueError) as e:
        print(f'cannot read the rows of {", ".join(args.csv)}: {type(e).__name__}: {e} (expected CSVs written by '
              f'trust_figures.py --csv)', file=sys.stderr)
        return 2
    if not rows:
        print('no rows in ' + ', '.join(args.csv), file=sys.stderr)
        return 1
    base = TrustConfig()
    margins = sorted(set.intersection(*(set(m) for m in levels))) or [None]     # the margins every row holds
    results = []
    for margin in margins:
        results += search(at_margin(rows, levels, margin), base, args.silent, args.false_degraded, margin)
    names = ['low_margin_max'] + [part for key in GRID for part in key.split('+')]
    if args.caution is None:
        kept = sorted((r for r in results if r[0]), key=lambda r: (r[1], r[2], -r[5][6], -r[5][7]))
        within = f'silent <= {args.silent:.1%}'
    else:
        kept = sorted((r for r in results if r[1] <= args.caution and r[3] <= args.false_degraded),
                      key=lambda r: (r[2], r[1], -r[5][6], -r[5][7]))
        within = f'over-caution <= {args.caution:.1%}'
    print(f'# python benchmarks/tune_trust.py {" ".join(sys.argv[1:])}')
    print(f'# {len(rows)} rows; {len(results)} combinations, {len(kept)} within {within} and '
          f'false degraded <= {args.false_degraded:.1%}')
    silent, false, caution, counts = rates(outcomes(rows), np.array([bool(judge(r[3], base)) for r in rows]))
    print(f'# today\'s defaults: silent {silent:.1%} ({counts[0]}/{counts[1]}), false degraded {false:.1%} in the '
          f'worst CSV ({counts[2]}/{counts[3]} in all), over-caution {caution:.1%} ({counts[4]}/{counts[5]})')
    print('| ' + ' | '.join(names) + ' | silent | false degraded (worst CSV) | over-caution |')
    print('|' + '---|' * (len(names) + 3))
    for _, caution, silent, false, values, counts in kept[:args.top]:
        print('| ' + ' | '.join(_show(v, base.low_margin_max) for v in values)
              + f' | {silent:.1%} ({counts[0]}/{counts[1]}) | {false:.1%} | {caution:.1%} ({counts[4]}/{counts[5]}) |')
    if not kept:
        print('no combination meets the goals', file=sys.stderr)
        return 1
    best = kept[0][4]
    print('\nchosen: ' + ' '.join(f'--set trust_{n}={v:g}' for n, v in zip(names, best) if v is not None))
    return 0


if __name__ == '__main__':
    sys.exit(main())

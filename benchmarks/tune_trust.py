r"""Choose the trust check's thresholds on statistics measured once: the silent-failure / over-caution trade-off.

Reads one or more per-frame CSVs written by ``benchmarks/trust_figures.py --csv`` (one row per clean or corrupted
frame: its pixel accuracy, whether the alarm rose, and every statistic of seg_perception.trust), applies every
combination of the thresholds below through ``trust.judge`` (the function the node itself applies them with), and
prints the combinations that keep silent failures and false ``degraded`` within the goals with the least
over-caution, best first, with the ``--set`` options that check the choice with trust_figures.py.

Tune on frames that are not the report: CamVid train (a sequence the model did not train on, such as 0006R0) and
rendered frames; then run trust_figures.py once on CamVid val with the chosen settings. ``low_margin_max`` cannot
vary here (the CSV holds the low-margin share at the value it was measured with).

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

from seg_perception.safety_config import TrustConfig
from seg_perception.trust import TrustStatistics, judge
from trust_figures import ACCURATE_FROM, FAIL_BELOW     # the same definitions of failing and accurate frames

GRID = {
    'max_noise_sigma': (2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 255.0),
    'min_sharpness': (0.0, 0.02, 0.03, 0.05, 0.07, 0.08, 0.09, 0.1, 0.12),
    'max_low_margin_share': (0.06, 0.08, 0.1, 0.12, 0.15, 0.2, 0.3),
    'max_repeated_share': (0.45, 0.5, 0.6, 0.7, 1.0),
}
FIELDS = {f.name for f in dataclasses.fields(TrustStatistics)}


def read_rows(paths):
    """(corruption, accuracy, alarm, TrustStatistics) of every row of the CSVs."""
    rows = []
    for path in paths:
        with open(path, newline='') as f:
            for row in csv.DictReader(f):
                values = {}
                for name in FIELDS:
                    text = row.get(name, '')
                    value = float(text) if text not in ('', 'nan') else math.nan
                    values[name] = int(value) if name == 'frozen_count' and not math.isnan(value) else value
                if math.isnan(values.get('frozen_count', 0)):
                    values['frozen_count'] = 0
                rows.append((row['corruption'], float(row['accuracy']), row['alarm'] == 'True',
                             TrustStatistics(**values)))
    return rows


def rates(rows, config):
    """(silent failure, false degraded, over-caution) rates of ``config`` on ``rows``, and the counts behind them."""
    silent = corrupted = clean = false = accurate = cautious = 0
    for corruption, accuracy, alarm, statistics in rows:
        degraded = bool(judge(statistics, config))
        if corruption == 'clean':
            clean += 1
            false += degraded
            continue
        corrupted += 1
        if accuracy < FAIL_BELOW and not (alarm or degraded):
            silent += 1
        if accuracy >= ACCURATE_FROM:
            accurate += 1
            cautious += degraded
    share = lambda a, b: a / b if b else 0.0       # noqa: E731
    return (share(silent, corrupted), share(false, clean), share(cautious, accurate),
            (silent, corrupted, false, clean, cautious, accurate))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('csv', nargs='+', help='per-frame CSVs of trust_figures.py --csv')
    parser.add_argument('--silent', type=float, default=0.01, help='the most silent failures to allow (share)')
    parser.add_argument('--false-degraded', type=float, default=0.01, help='the most false degraded on clean frames')
    parser.add_argument('--caution', type=float, default=None,
                        help='instead: the most over-caution to allow (share); the fewest silent failures within it '
                             'and the false-degraded limit are chosen')
    parser.add_argument('--top', type=int, default=12)
    args = parser.parse_args()
    try:
        rows = read_rows(args.csv)
    except (OSError, KeyError, ValueError) as e:
        print(f'cannot read the rows of {", ".join(args.csv)}: {type(e).__name__}: {e} (expected CSVs written by '
              f'trust_figures.py --csv)', file=sys.stderr)
        return 2
    if not rows:
        print('no rows in ' + ', '.join(args.csv), file=sys.stderr)
        return 1
    base = TrustConfig()
    names = list(GRID)
    results = []
    for values in itertools.product(*(GRID[n] for n in names)):
        config = dataclasses.replace(base, **dict(zip(names, values)))
        silent, false, caution, counts = rates(rows, config)
        results.append((silent <= args.silent and false <= args.false_degraded, caution, silent, false, values,
                        counts))
    if args.caution is None:
        kept = sorted((r for r in results if r[0]), key=lambda r: (r[1], r[2]))
        within = f'silent <= {args.silent:.1%}'
    else:
        kept = sorted((r for r in results if r[1] <= args.caution and r[3] <= args.false_degraded),
                      key=lambda r: (r[2], r[1]))
        within = f'over-caution <= {args.caution:.1%}'
    print(f'# python benchmarks/tune_trust.py {" ".join(sys.argv[1:])}')
    print(f'# {len(rows)} rows; {len(results)} combinations, {len(kept)} within {within} and '
          f'false degraded <= {args.false_degraded:.1%}')
    silent, false, caution, counts = rates(rows, base)
    print(f'# today\'s defaults: silent {silent:.1%} ({counts[0]}/{counts[1]}), false degraded {false:.1%} '
          f'({counts[2]}/{counts[3]}), over-caution {caution:.1%} ({counts[4]}/{counts[5]})')
    print('| ' + ' | '.join(names) + ' | silent | false degraded | over-caution |')
    print('|' + '---|' * (len(names) + 3))
    for _, caution, silent, false, values, counts in kept[:args.top]:
        print('| ' + ' | '.join(f'{v:g}' for v in values) + f' | {silent:.1%} ({counts[0]}/{counts[1]}) | '
              f'{false:.1%} | {caution:.1%} ({counts[4]}/{counts[5]}) |')
    if not kept:
        print('no combination meets the goals', file=sys.stderr)
        return 1
    best = kept[0][4]
    print('\nchosen: ' + ' '.join(f'--set trust_{n}={v:g}' for n, v in zip(names, best)))
    return 0


if __name__ == '__main__':
    sys.exit(main())

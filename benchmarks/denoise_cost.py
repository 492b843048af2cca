"""What test-time denoising costs per frame: the Segmenter with it and without, interleaved in one run.

Each round segments the same frame once with ``denoise_enabled`` true and once false (the order alternating),
on a clean rendered frame (denoising only measures it) and on the same frame under Gaussian noise and under
pixelation (it filters),
and prints the median and p99 of ``timings_ms['total']`` per variant with the ratio to the one without.

    python benchmarks/denoise_cost.py --sizes 480x360 800x600 --rounds 60
"""

import argparse
import sys
from dataclasses import replace

import numpy as np

from seg_perception.corruptions import corrupt
from seg_perception.segmenter import Segmenter
from seg_perception.sim.scenes import render_scene


def main(argv=None) -> int:
    """Time the variants and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--sizes', nargs='+', default=['480x360', '800x600'])
    ap.add_argument('--rounds', type=int, default=60)
    ap.add_argument('--backend', default='auto')
    ap.add_argument('--threads', type=int, default=2)
    args = ap.parse_args(argv)
    on = Segmenter.default(backend=args.backend, threads=args.threads)
    off = Segmenter.default(backend=args.backend, threads=args.threads)
    off.safety = replace(off.safety, denoise=replace(off.safety.denoise, enabled=False))
    print(f'# python benchmarks/denoise_cost.py {" ".join(sys.argv[1:] if argv is None else argv)}')
    print(f'# {on.model.name} on {on.backend.describe()}; {args.rounds} interleaved rounds')
    print('| input | frame | denoised | with: p50 / p99 ms | without: p50 / p99 ms | ratio of p50 |')
    print('|---|---|---|---|---|---|')
    for size in args.sizes:
        w, h = (int(v) for v in size.split('x'))
        clean = render_scene(3, height=h, width=w)[0]
        frames = {'clean': clean}
        for corruption in ('gaussian_noise', 'pixelate'):
            frames[f"{corruption.replace('_', ' ')}, severity 3"] = corrupt(clean, corruption, 3,
                                                                            np.random.default_rng(0))
        for name, frame in frames.items():
            times = {'on': [], 'off': []}
            what = on.segment(frame).denoised
            off.segment(frame)
            for r in range(args.rounds):
                for key in (('on', 'off') if r % 2 == 0 else ('off', 'on')):
                    seg = on if key == 'on' else off
                    times[key].append(seg.segment(frame).timings_ms['total'])
            p = {k: (np.percentile(v, 50), np.percentile(v, 99)) for k, v in times.items()}
            print(f"| {size} | {name} | {what or '-'} | {p['on'][0]:.1f} / {p['on'][1]:.1f} | "
                  f"{p['off'][0]:.1f} / {p['off'][1]:.1f} | {p['on'][0] / p['off'][0]:.3f} |")
    return 0


if __name__ == '__main__':
    sys.exit(main())

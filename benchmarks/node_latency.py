"""End-to-end latency of the real seg_node: input header stamp -> labels received in another process.

Starts ``seg_node`` in its own process, publishes rgb8 frames (rendered road scenes) at a fixed rate over
ROS 2 (reliable, as most drivers do), and measures, per frame, the time from the stamp it put in the header to
the arrival of ``segmentation/labels`` with that stamp here. Prints a table and the command that made it.

    python benchmarks/node_latency.py --sizes 480x360 800x600 --frames 60 --rate 4
"""

import argparse
import json
import os
import random
import sys
import tempfile
import time

import numpy as np


def measure(size, frames, rate_hz, model, backend, threads):
    """Run one node at one input size; returns a dict of figures."""
    from seg_perception.ros.conversions import array_to_image
    from seg_perception.ros.probe import NodeProcess, Probe
    from seg_perception.sim.scenes import render_scene

    w, h = (int(v) for v in size.split('x'))
    ns = f'/bench_{os.getpid()}_{w}x{h}'
    params = {'backend': backend, 'threads': threads, 'publish_color': False}
    if model:
        params['model'] = model
    sent = []
    with tempfile.TemporaryFile() as output, NodeProcess(ns, params, output=output) as node, \
            Probe('latency_bench', ns) as probe:
        images = [render_scene(i, height=h, width=w, t=0.1 * i)[0] for i in range(8)]    # while the node starts
        probe.wait_for_node(node, timeout_s=60.0)
        time.sleep(1.0)
        started = None
        for i in range(frames + 5):
            if i == 5:
                started = time.monotonic()
            stamp = probe.send(array_to_image(images[i % len(images)], probe.header()))
            if i >= 5:                      # the first frames warm the backend up
                sent.append(stamp)
            time.sleep(1.0 / rate_hz)
        sending_s = time.monotonic() - started
        time.sleep(2.0)
    arrivals = probe.arrivals['labels']
    latency = np.array([(arrivals[s] - s) / 1e6 for s in sent if s in arrivals])
    segment_ms = segmenter_ms(images, model, backend, threads)
    possible = min(len(sent), int(sending_s * 1e3 / np.percentile(segment_ms, 50)))
    half = latency.size // 2
    return {'size': size, 'sent': len(sent), 'answered': int(latency.size), 'possible': possible,
            'segmenter_p50_ms': float(np.percentile(segment_ms, 50)),
            'segmenter_p99_ms': float(np.percentile(segment_ms, 99)),
            'p50_first_half_ms': float(np.median(latency[:half])) if half else None,
            'p50_second_half_ms': float(np.median(latency[half:])) if half else None,
            'p50_ms': float(np.percentile(latency, 50)) if latency.size else None,
            'p99_ms': float(np.percentile(latency, 99)) if latency.size else None,
            'max_ms': float(latency.max()) if latency.size else None}


def segmenter_ms(images, model, backend, threads, rounds=3):
    """A Segmenter's total time per frame (ms) on ``images``, after one warm-up frame."""
    from seg_perception.segmenter import Segmenter

    options = {'threads': threads} if threads else {}
    segmenter = Segmenter.from_model(model or None, backend=backend, **options)
    segmenter.segment(images[0])
    return np.array([segmenter.segment(im).timings_ms['total'] for _ in range(rounds) for im in images])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--sizes', nargs='+', default=['480x360', '800x600'])
    parser.add_argument('--frames', type=int, default=60)
    parser.add_argument('--rate', type=float, default=4.0,
                        help="publish rate in Hz (below the node's capacity, so that latency is not queueing)")
    parser.add_argument('--model', default='')
    parser.add_argument('--backend', default='onnxruntime')
    parser.add_argument('--threads', type=int, default=0)
    parser.add_argument('--json', default='')
    args = parser.parse_args()
    os.environ.setdefault('ROS_DOMAIN_ID', str(random.randint(100, 200)))
    rows = [measure(s, args.frames, args.rate, args.model, args.backend, args.threads) for s in args.sizes]
    print('# python benchmarks/node_latency.py ' + ' '.join(sys.argv[1:]))
    print(f'# backend {args.backend}, {os.cpu_count()} CPU cores, rate {args.rate:g} Hz, reliable QoS')
    print('| input | frames sent | answered | possible | answered / possible | latency p50 ms | p99 ms | max ms | '
          'p50 1st / 2nd half ms | Segmenter p50 / p99 ms |')
    print('|---|---|---|---|---|---|---|---|---|---|')
    for r in rows:
        if not r['answered']:
            print(f"| {r['size']} | {r['sent']} | 0 | {r['possible']} | 0% | - | - | - | - | "
                  f"{r['segmenter_p50_ms']:.1f} / {r['segmenter_p99_ms']:.1f} |")
            continue
        halves = (f"{r['p50_first_half_ms']:.1f} / {r['p50_second_half_ms']:.1f}" if r['p50_first_half_ms'] is not None
                  else '-')
        print(f"| {r['size']} | {r['sent']} | {r['answered']} | {r['possible']} | "
              f"{100 * r['answered'] / max(r['possible'], 1):.0f}% | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
              f"{r['max_ms']:.1f} | {halves} | {r['segmenter_p50_ms']:.1f} / {r['segmenter_p99_ms']:.1f} |")
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(rows, f, indent=2)


if __name__ == '__main__':
    main()

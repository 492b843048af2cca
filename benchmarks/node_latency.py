"""End-to-end latency of the real seg_node: input header stamp -> labels received in another process.

Starts ``seg_node`` in its own process, publishes rgb8 frames (rendered road scenes) at a fixed rate over
ROS 2 (reliable, as most drivers do), and measures, per frame, the time from the stamp it put in the header to
the arrival of ``segmentation/labels`` with that stamp here. Prints a table and the command that made it.

It also prints how many frames the node answered against the frames it could have answered: a Segmenter of the
same model, backend and threads, in this process, segments the same frames while the node is idle, before, between
and after blocks of frames (``--blocks``), so that a machine whose speed drifts is compared with itself.

    python benchmarks/node_latency.py --sizes 480x360 800x600 --frames 60 --rate 4

``--pipeline on off`` runs the node both ways per size, one after the other (interleaved over ``--repeat``
rounds, the order alternating), and prints the ratio of frames answered.

    python benchmarks/node_latency.py --sizes 480x360 800x600 --frames 600 --rate 30 --backend auto --pipeline on off

``--floor`` first measures the transport floor per size: an echo node in its own process in place of seg_node,
which turns each frame into an array and answers it at once with a mono8 label image of its size (the node's own
conversions and QoS, no network, no checks), at the same rate; then each row gets the p99 bar of the node that
keeps up: 2 x the Segmenter's p99 + the floor's p99.

    python benchmarks/node_latency.py --sizes 480x360 800x600 --frames 600 --rate 30 --backend auto --floor
"""

import argparse
import json
import os
import random
import sys
import tempfile
import time

import numpy as np


def measure(size, frames, rate_hz, model, backend, threads, blocks=4, pipeline=True):
    """Run one node at one input size; returns a dict of figures.

    The frames go out in ``blocks`` blocks. Before the first block and after each one, with the node idle, a
    Segmenter in this process segments the same images for a third of a block's time: this machine's speed drifts
    within a minute, so each block's ``possible`` (the complete inferences that fit in it, floor(block time /
    Segmenter p50)) comes from the measurements on either side of it. A frame counts as answered in its block when
    its labels arrived before the block ended: the Segmenter gets no credit for an inference cut off either.
    """
    from seg_perception.ros.conversions import array_to_image
    from seg_perception.ros.probe import NodeProcess, Probe
    from seg_perception.segmenter import Segmenter
    from seg_perception.sim.scenes import render_scene

    w, h = (int(v) for v in size.split('x'))
    ns = f'/bench_{os.getpid()}_{w}x{h}'
    params = {'backend': backend, 'threads': threads, 'publish_color': False, 'pipeline': pipeline}
    if model:
        params['model'] = model
    options = {'threads': threads} if threads else {}
    block_frames = max(1, frames // blocks)
    sent, windows, segment_ms = [], [], []     # stamps; per block (stamps, end ns, seconds); per pause (ms array)
    with tempfile.TemporaryFile() as output, NodeProcess(ns, params, output=output) as node, \
            Probe('latency_bench', ns) as probe:
        images = [render_scene(i, height=h, width=w, t=0.1 * i)[0] for i in range(8)]    # while the node starts
        segmenter = Segmenter.from_model(model or None, backend=backend, **options)
        segmenter.segment(images[0])
        probe.wait_for_node(node, timeout_s=60.0)
        for i in range(5):                  # the first frames warm the node's backend up
            probe.send(array_to_image(images[i % len(images)], probe.header()))
            time.sleep(1.0 / rate_hz)
        time.sleep(2.0)
        segment_ms.append(segmenter_ms(segmenter, images, block_frames / rate_hz / 3))
        for b in range(blocks):
            stamps = []
            started = time.monotonic()
            for i in range(block_frames):
                stamps.append(probe.send(array_to_image(images[i % len(images)], probe.header())))
                time.sleep(max(0.0, started + (i + 1) / rate_hz - time.monotonic()))
            windows.append((stamps, time.time_ns(), time.monotonic() - started))
            sent += stamps
            time.sleep(1.0 + 2 * np.percentile(segment_ms[-1], 99) / 1e3)      # the node finishes its frame
            segment_ms.append(segmenter_ms(segmenter, images, block_frames / rate_hz / 3))
    arrivals = probe.arrivals['labels']
    latency_of = {s: (arrivals[s] - s) / 1e6 for s in sent if s in arrivals}     # stamp -> ms, in sending order
    latency = np.array(list(latency_of.values()))
    # per block: answered, possible, the Segmenter's p50 beside it (ms), the block's latency p50 over that
    per_block = []
    for b, (stamps, end_ns, seconds) in enumerate(windows):
        p50 = float(np.percentile(np.concatenate(segment_ms[b:b + 2]), 50))
        block_latency = [latency_of[s] for s in stamps if s in latency_of]
        per_block.append((sum(1 for s in stamps if arrivals.get(s, end_ns + 1) <= end_ns),
                          min(len(stamps), int(seconds * 1e3 / p50)), p50,
                          float(np.median(block_latency)) / p50 if block_latency else None))
    answered, possible = (sum(column) for column in list(zip(*per_block))[:2])
    all_ms = np.concatenate(segment_ms)
    pause_p50 = [float(np.median(m)) for m in segment_ms]
    half = latency.size // 2
    return {'size': size, 'pipeline': 'on' if pipeline else 'off', 'sent': len(sent), 'answered': answered,
            'answered_late': int(latency.size) - answered,
            'possible': possible, 'blocks': per_block,
            'segmenter_p50_ms': float(np.percentile(all_ms, 50)),
            'segmenter_p99_ms': float(np.percentile(all_ms, 99)),
            'segmenter_p50_range_ms': [min(pause_p50), max(pause_p50)],
            'p50_first_half_ms': float(np.median(latency[:half])) if half else None,
            'p50_second_half_ms': float(np.median(latency[half:])) if half else None,
            'p50_ms': float(np.percentile(latency, 50)) if latency.size else None,
            'p99_ms': float(np.percentile(latency, 99)) if latency.size else None,
            'max_ms': float(latency.max()) if latency.size else None}


ECHO = r'''
import sys
import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from sensor_msgs.msg import Image
from rclpy.qos import ReliabilityPolicy
from seg_perception.ros.conversions import array_to_image, message_to_rgb
from seg_perception.ros.seg_node import IMAGE_TOPIC, LABELS_TOPIC
from seg_perception.ros.streams import input_qos, output_qos
rclpy.init()
node = rclpy.create_node('transport_echo', namespace=sys.argv[1])
pub = node.create_publisher(Image, LABELS_TOPIC, output_qos())
def answer(msg):
    rgb = message_to_rgb(msg)
    pub.publish(array_to_image(np.zeros(rgb.shape[:2], np.uint8), msg.header))
node.create_subscription(Image, IMAGE_TOPIC, answer, input_qos(ReliabilityPolicy.RELIABLE))
executor = SingleThreadedExecutor()
executor.add_node(node)
try:
    executor.spin()
except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
    pass
'''


def measure_floor(size, frames, rate_hz):
    """The transport floor at one size: the echo node's end-to-end latency (ms) p50, p99 and max."""
    from seg_perception.ros.conversions import array_to_image
    from seg_perception.ros.probe import NodeProcess, Probe
    from seg_perception.sim.scenes import render_scene

    w, h = (int(v) for v in size.split('x'))
    ns = f'/floor_{os.getpid()}_{w}x{h}'
    images = [render_scene(i, height=h, width=w, t=0.1 * i)[0] for i in range(8)]
    with tempfile.TemporaryFile() as output:
        echo = NodeProcess(ns, {}, output=output)
        echo.command = [sys.executable, '-c', ECHO, ns]
        with echo, Probe('floor_bench', ns) as probe:
            probe.wait_for_node(echo, timeout_s=60.0)
            for i in range(5):          # discovery and the first frames' allocations
                probe.send(array_to_image(images[i], probe.header()))
                time.sleep(1.0 / rate_hz)
            time.sleep(1.0)
            stamps = []
            started = time.monotonic()
            for i in range(frames):
                stamps.append(probe.send(array_to_image(images[i % len(images)], probe.header())))
                time.sleep(max(0.0, started + (i + 1) / rate_hz - time.monotonic()))
            time.sleep(1.0)
    arrivals = probe.arrivals['labels']
    latency = np.array([(arrivals[s] - s) / 1e6 for s in stamps if s in arrivals])
    return {'size': size, 'sent': len(stamps), 'answered': int(latency.size),
            'p50_ms': float(np.percentile(latency, 50)) if latency.size else None,
            'p99_ms': float(np.percentile(latency, 99)) if latency.size else None,
            'max_ms': float(latency.max()) if latency.size else None}


def segmenter_ms(segmenter, images, seconds):
    """A Segmenter's total times per frame (ms) on ``images`` in turn, for about ``seconds`` (3 frames at least)."""
    times = []
    started = time.monotonic()
    while len(times) < 3 or time.monotonic() - started < seconds:
        times.append(segmenter.segment(images[len(times) % len(images)]).timings_ms['total'])
    return np.array(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--sizes', nargs='+', default=['480x360', '800x600'])
    parser.add_argument('--frames', type=int, default=60)
    parser.add_argument('--rate', type=float, default=4.0,
                        help="publish rate in Hz (below the node's capacity, so that latency is not queueing)")
    parser.add_argument('--model', default='')
    parser.add_argument('--backend', default='onnxruntime')
    parser.add_argument('--threads', type=int, default=0)
    parser.add_argument('--blocks', type=int, default=4,
                        help='blocks of frames, with the Segmenter measured before, between and after them')
    parser.add_argument('--pipeline', nargs='+', choices=('on', 'off'), default=['on'],
                        help="the node's pipeline parameter; both: compared in one run")
    parser.add_argument('--repeat', type=int, default=1, help='rounds of every size and pipeline setting')
    parser.add_argument('--floor', action='store_true',
                        help='also measure the transport floor per size (an echo node in place of seg_node)')
    parser.add_argument('--json', default='')
    args = parser.parse_args()
    os.environ.setdefault('ROS_DOMAIN_ID', str(random.randint(100, 200)))
    floors = {s: measure_floor(s, args.frames, args.rate) for s in args.sizes} if args.floor else {}
    rows = []
    for round_ in range(args.repeat):
        for s in args.sizes:
            order = args.pipeline if round_ % 2 == 0 else args.pipeline[::-1]
            rows += [measure(s, args.frames, args.rate, args.model, args.backend, args.threads, args.blocks,
                             setting == 'on') for setting in order]
    print('# python benchmarks/node_latency.py ' + ' '.join(sys.argv[1:]))
    print(f'# backend {args.backend}, {os.cpu_count()} CPU cores, rate {args.rate:g} Hz, reliable QoS')
    print(f'# {args.blocks} blocks per size; answered = labels arrived before the end of the frame\'s block, '
          f'possible = the Segmenter\'s complete frames in the same time (measured beside each block)')
    print('| input | pipeline | frames sent | answered | possible | answered / possible | latency p50 ms | p99 ms | '
          'max ms | '
          'p50 1st / 2nd half ms (first / last block over its Segmenter p50) | Segmenter p50 / p99 ms | '
          'Segmenter p50 between blocks ms |')
    print('|---|---|---|---|---|---|---|---|---|---|---|---|')
    for r in rows:
        segmenter = (f"{r['segmenter_p50_ms']:.1f} / {r['segmenter_p99_ms']:.1f} | "
                     f"{r['segmenter_p50_range_ms'][0]:.0f}-{r['segmenter_p50_range_ms'][1]:.0f}")
        if r['p50_ms'] is None:
            print(f"| {r['size']} | {r['pipeline']} | {r['sent']} | 0 | {r['possible']} | 0% | - | - | - | - | "
                  f"{segmenter} |")
            continue
        halves = (f"{r['p50_first_half_ms']:.1f} / {r['p50_second_half_ms']:.1f}" if r['p50_first_half_ms'] is not None
                  else '-')
        ratios = [b[3] for b in r['blocks'] if b[3] is not None]
        halves += f" ({ratios[0]:.2f} / {ratios[-1]:.2f})" if ratios else ''
        print(f"| {r['size']} | {r['pipeline']} | {r['sent']} | {r['answered']} | {r['possible']} | "
              f"{100 * r['answered'] / max(r['possible'], 1):.0f}% | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
              f"{r['max_ms']:.1f} | {halves} | {segmenter} |")
    if floors:
        print('| input | transport floor: answered / sent | p50 ms | p99 ms | max ms |')
        print('|---|---|---|---|---|')
        for f in floors.values():
            print(f"| {f['size']} | {f['answered']} / {f['sent']} | {f['p50_ms']:.1f} | {f['p99_ms']:.1f} | "
                  f"{f['max_ms']:.1f} |")
        for r in rows:
            if r['p99_ms'] is not None and floors[r['size']]['p99_ms'] is not None:
                bar = 2 * r['segmenter_p99_ms'] + floors[r['size']]['p99_ms']
                r['p99_bar_ms'] = bar
                print(f"# {r['size']}, pipeline {r['pipeline']}: p99 {r['p99_ms']:.1f} ms against 2 x Segmenter p99 "
                      f"+ floor p99 = {bar:.1f} ms: {'within' if r['p99_ms'] <= bar else 'over'}")
    if len(set(args.pipeline)) == 2:
        for size in args.sizes:
            totals = {p: [sum(r[k] for r in rows if r['size'] == size and r['pipeline'] == p)
                          for k in ('answered', 'possible')] for p in ('on', 'off')}
            (on, on_possible), (off, off_possible) = totals['on'], totals['off']
            print(f"# {size}: pipeline on answered {on} of {on_possible} possible "
                  f"({100 * on / max(on_possible, 1):.0f}%), off {off} of {off_possible} "
                  f"({100 * off / max(off_possible, 1):.0f}%): ratio on / off {on / max(off, 1):.2f}")
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(rows, f, indent=2)


if __name__ == '__main__':
    main()

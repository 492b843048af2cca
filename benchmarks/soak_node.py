"""Soak the real seg_node: 800x600 rgb8 frames at 60 Hz for minutes; per-minute rate, latency, drops and memory.

Starts ``seg_node`` in its own process (on a ROS domain of its own) and publishes rgb8 frames (rendered road
scenes) to it at ``--rate`` Hz, reliable keep-last 1 as camera drivers do, for ``--minutes``. Per interval
(``--interval-s``, a minute by default) it reports the output rate (labels received per second), the
end-to-end latency p50/p99 from the input stamp to the labels' arrival here, the frames not answered (the
node keeps only the newest frame, so above its capacity most are dropped by design), and the node's resident
memory (VmRSS at the interval's end), and, to tell the node's own slowing from the machine's, the node's CPU time
per answered frame and the share of the host's CPU time the hypervisor gave to other guests (steal, /proc/stat).
Writes the figures as JSON and plots them to a PNG beside it. The
verdicts: p99 of the last interval not above the first's by more than ``--p99-tolerance``, and memory after the
first interval within 5% of the memory at its end.

    python benchmarks/soak_node.py --minutes 10 --json runs/soak.json
"""

import argparse
import json
import os
import random
import sys
import tempfile
import time

import numpy as np

from seg_perception.model_files import DEFAULT_MODEL

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def host_jiffies():
    """(steal, total) jiffies of all CPUs so far (/proc/stat): time the hypervisor gave to others."""
    with open('/proc/stat') as f:
        values = [int(v) for v in f.readline().split()[1:]]
    return values[7] if len(values) > 7 else 0, sum(values[:8])


def soak(minutes: float, rate_hz: float, size, model: str, interval_s: float, domain_id: int) -> dict:
    """Run the soak; per-interval figures as a dict."""
    from std_msgs.msg import Header

    from seg_perception.ros.conversions import array_to_image
    from seg_perception.ros.probe import NodeProcess, Probe
    from seg_perception.sim.scenes import render_scene

    width, height = size
    namespace = f'/soak_{os.getpid()}'
    params = {'model': model, 'reliability': 'reliable', 'publish_color': False}
    intervals = []
    with tempfile.TemporaryFile() as output, \
            NodeProcess(namespace, params, domain_id=domain_id, output=output, cwd=ROOT) as node, \
            Probe('soak', namespace, domain_id=domain_id, depth=1) as probe:
        messages = [array_to_image(render_scene(i, height=height, width=width, t=0.1 * i)[0],
                                   Header(frame_id='camera')) for i in range(8)]

        def stamped(i):
            msg = messages[i % len(messages)]
            msg.header.stamp = probe.header().stamp
            return msg

        # started, subscribed and the model warmed up
        probe.wait_until_answered(node, lambda: stamped(0), timeout_s=180.0, every_s=0.5)
        probe.clear()
        period_ns, start = int(1e9 / rate_hz), time.time_ns()
        sent, i = [], 0
        cpu_before, host_before = node.cpu_seconds(), host_jiffies()
        for k in range(max(1, int(round(minutes * 60 / interval_s)))):
            end = start + int((k + 1) * interval_s * 1e9)
            stamps = []
            while True:
                due = start + i * period_ns
                if due >= end:
                    break
                time.sleep(max(0.0, (due - time.time_ns()) / 1e9))
                stamps.append(probe.send(stamped(i)))
                i += 1
            sent.append(stamps)
            time.sleep(max(0.0, (end - time.time_ns()) / 1e9))
            cpu_now, host_now = node.cpu_seconds(), host_jiffies()
            steal, total = (now - before for now, before in zip(host_now, host_before))
            intervals.append(dict(rss_mb=node.memory_mb(), node_cpu_s=round(cpu_now - cpu_before, 2),
                                  steal_pct=round(100.0 * steal / max(total, 1), 1)))
            cpu_before, host_before = cpu_now, host_now
        time.sleep(2.0)             # the last frames' answers
    arrivals = probe.arrivals['labels']
    for figures, stamps in zip(intervals, sent):
        latency_ms = np.array([(arrivals[s] - s) / 1e6 for s in stamps if s in arrivals])
        figures.update(sent=len(stamps), answered=int(latency_ms.size), not_answered=len(stamps) - latency_ms.size,
                       output_rate_hz=round(latency_ms.size / interval_s, 2),
                       node_cpu_ms_per_frame=round(1e3 * figures['node_cpu_s'] / latency_ms.size, 1)
                       if latency_ms.size else None,
                       p50_ms=round(float(np.percentile(latency_ms, 50)), 1) if latency_ms.size else None,
                       p99_ms=round(float(np.percentile(latency_ms, 99)), 1) if latency_ms.size else None)
    return dict(size=f'{width}x{height}', rate_hz=rate_hz, minutes=minutes, interval_s=interval_s, model=model,
                node_exit_status=node.returncode, intervals=intervals)


def verdicts(figures: dict, p99_tolerance: float) -> dict:
    """p99 not growing from the first interval to the last; memory flat (5%) after the first interval."""
    rows = figures['intervals']
    p99 = [r['p99_ms'] for r in rows]
    rss = [r['rss_mb'] for r in rows]
    return dict(p99_not_growing=None not in (p99[0], p99[-1]) and p99[-1] <= p99[0] * (1 + p99_tolerance),
                memory_flat=None not in rss and max(abs(m - rss[0]) for m in rss) <= 0.05 * rss[0])


def plot(figures: dict, path: str):
    """Per-interval output rate, latency p50/p99 and memory, to a PNG."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    rows = figures['intervals']
    t = [(k + 1) * figures['interval_s'] / 60 for k in range(len(rows))]
    fig, axes = plt.subplots(3, 1, figsize=(7, 8), sharex=True)
    axes[0].plot(t, [r['output_rate_hz'] for r in rows], 'o-')
    axes[0].set_ylabel('output rate (Hz)')
    axes[1].plot(t, [r['p50_ms'] for r in rows], 'o-', label='p50')
    axes[1].plot(t, [r['p99_ms'] for r in rows], 's-', label='p99')
    axes[1].set_ylabel('end-to-end latency (ms)')
    axes[1].legend()
    axes[2].plot(t, [r['rss_mb'] for r in rows], 'o-')
    axes[2].set_ylabel('node resident memory (MiB)')
    axes[2].set_xlabel('minutes')
    fig.suptitle(f'seg_node soak: {figures["size"]} rgb8 at {figures["rate_hz"]:g} Hz')
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--minutes', type=float, default=10.0)
    parser.add_argument('--rate', type=float, default=60.0, help='publish rate, Hz')
    parser.add_argument('--size', default='800x600', help='WxH of the rgb8 frames')
    parser.add_argument('--model', default=DEFAULT_MODEL, help='model name or manifest for the node')
    parser.add_argument('--interval-s', type=float, default=60.0, help='length of one row of figures')
    parser.add_argument('--p99-tolerance', type=float, default=0.0,
                        help='allowed growth of p99 from the first interval to the last (0.1: 10%%)')
    parser.add_argument('--json', default='soak.json', help='figures; the plot goes beside it as .png')
    parser.add_argument('--domain-id', type=int, default=None, help='ROS domain (default: a random 100..200)')
    args = parser.parse_args(argv)
    size = tuple(int(v) for v in args.size.split('x'))
    domain_id = args.domain_id if args.domain_id is not None else random.randint(100, 200)
    figures = soak(args.minutes, args.rate, size, args.model, args.interval_s, domain_id)
    figures['verdicts'] = verdicts(figures, args.p99_tolerance)
    print('# python benchmarks/soak_node.py ' + ' '.join(argv if argv is not None else sys.argv[1:]))
    print(f'# {figures["size"]} rgb8 at {args.rate:g} Hz, model {args.model}, {os.cpu_count()} CPU cores')
    print('| until min | sent | answered | output Hz | latency p50 ms | p99 ms | node RSS MiB | node CPU ms per '
          'answered frame | host CPU steal % |')
    print('|---|---|---|---|---|---|---|---|---|')
    for k, r in enumerate(figures['intervals']):
        print(f'| {(k + 1) * args.interval_s / 60:.2f} | {r["sent"]} | {r["answered"]} | {r["output_rate_hz"]} | '
              f'{r["p50_ms"]} | {r["p99_ms"]} | {r["rss_mb"]:.0f} | {r["node_cpu_ms_per_frame"]} | '
              f'{r["steal_pct"]} |')
    print(f'verdicts: {figures["verdicts"]}; node exit status {figures["node_exit_status"]}')
    with open(args.json, 'w') as f:
        json.dump(figures, f, indent=1)
    png = os.path.splitext(args.json)[0] + '.png'
    plot(figures, png)
    print(f'wrote {args.json} and {png}')
    return 0 if all(figures['verdicts'].values()) and figures['node_exit_status'] == 0 else 1


if __name__ == '__main__':
    sys.exit(main())

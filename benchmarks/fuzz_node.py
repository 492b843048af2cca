"""Fuzz the real seg_node over DDS: seeded malformed messages, interleaved with good frames that must be answered.

Starts ``seg_node`` in its own process (on a ROS domain of its own), and publishes ``--messages`` messages to
its ``image`` and ``image/compressed`` inputs: malformed ones from ``seg_perception.ros.fuzz.malformed(seed)``
(message i has seed ``--seed + i``), and every ``--good-every``-th a good frame of a random size and encoding,
which must be answered with ``segmentation/labels`` of its size before the next message is sent. A good frame
not answered is a failure: a crash if the node process is gone (it is then restarted), else 'no answer'.
Prints messages sent, good frames answered, node crashes, the node's largest resident memory (VmHWM) and the
seeds of the malformed messages sent before any failure (replay one with ``malformed(seed)``). Exit status 0
when there was no failure.

``--storm ROUNDS`` then runs ``seg_perception.ros.fuzz.storm``: good frames in pairs, the second waiting in the
node's one-slot holder while the first is segmented, with malformed messages (those the node's cheap checks
refuse) at full rate on both transports around them; it prints the good frames answered against those the node
had time for (all of them: must be 100%) and the malformed messages' rate.

    python benchmarks/fuzz_node.py --messages 10000 --seed 0
    python benchmarks/fuzz_node.py --messages 0 --storm 20
"""

import argparse
import collections
import json
import os
import random
import sys
import tempfile
import time

from seg_perception.model_files import DEFAULT_MODEL

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class NodeUnderFire:
    """seg_node as its own process, and a probe node that publishes to it and keeps its labels and status."""

    def __init__(self, model: str, domain_id: int, log):
        from diagnostic_msgs.msg import DiagnosticArray

        from seg_perception.ros.probe import NodeProcess, Probe

        self.namespace = f'/fuzz_{os.getpid()}'
        self.node = NodeProcess(self.namespace, {'model': model, 'reliability': 'reliable', 'publish_color': False,
                                                 'error_throttle_s': 60.0}, domain_id=domain_id, output=log, cwd=ROOT)
        self.peak_rss_mb = 0.0
        # labels kept as (width, height) by stamp (ns)
        self.probe = Probe('fuzzer', self.namespace, domain_id=domain_id, depth=1, compressed=True,
                           keep=lambda msg: (msg.width, msg.height))
        self.status = {}            # the node's newest diagnostics values
        self.probe.node.create_subscription(DiagnosticArray, '/diagnostics', self._keep_status, 10)

    def _keep_status(self, msg):
        from seg_perception.status_keys import status_name

        for status in msg.status:
            if status.name == status_name(f'{self.namespace}/seg_node'):
                self.status = {kv.key: kv.value for kv in status.values}

    def start(self, timeout_s=180.0) -> bool:
        """Start the node process and wait until it answers a good frame."""
        from seg_perception.ros.fuzz import good_frame
        from seg_perception.ros.probe import NodeNotReady

        self.node.start()
        try:
            self.probe.wait_until_answered(self.node, lambda: good_frame(0, self.probe.header()), timeout_s)
        except NodeNotReady:
            return False
        return True

    def wait_for_delivery(self, timeout_s=10.0):
        """Wait until the node has acknowledged everything sent, and a moment for its executor to take it."""
        self.probe.wait_for_delivery(timeout_s)
        time.sleep(0.02)

    def send_and_wait(self, msg, timeout_s: float):
        """Publish a good frame; (width, height) of its labels, or None if none came within ``timeout_s``."""
        stamp = self.probe.send(msg)
        self.probe.wait_for_answers([stamp], timeout_s=timeout_s, node=self.node)
        return self.probe.take(stamp)

    def rss(self):
        """Update and return the node's largest resident memory, MiB."""
        rss = self.node.memory_mb('VmHWM')
        self.peak_rss_mb = max(self.peak_rss_mb, rss or 0.0)
        return self.peak_rss_mb

    def close(self):
        """Stop the node (SIGINT; killed if it does not end) and the probe."""
        self.node.stop()
        self.probe.close()


def good_size(msg):
    """(width, height) that the labels of a good frame must have."""
    from sensor_msgs.msg import CompressedImage

    from seg_perception.ros.conversions import compressed_size

    if isinstance(msg, CompressedImage):
        return compressed_size(bytes(msg.data))[1:]
    return msg.width, msg.height


def fuzz(messages: int, seed: int, model: str, good_every: int, pace_s: float, answer_timeout_s: float,
         domain_id: int, log_path: str, storm_rounds: int = 0) -> dict:
    """Run the fuzzer (then the storm, with ``storm_rounds``); the figures as a dict."""
    from seg_perception.ros.fuzz import good_frame, malformed, storm, storm_pool
    from seg_perception.ros.parameters import MAX_INPUT_PIXELS
    from seg_perception.status_keys import frame_counts

    progress_every = 1000 if messages >= 5000 else 100
    figures = dict(messages=messages, seed=seed, model=model, sent=0, malformed=0, good=0, answered=0,
                   crashes=0, failures=[], cases=collections.Counter())
    with open(log_path, 'w') as log:
        target = NodeUnderFire(model, domain_id, log)
        try:
            if not target.start():
                raise RuntimeError(f'seg_node did not start or never answered; its log: {log_path}')
            start = time.monotonic()
            recent = []             # seeds of the malformed messages since the last good frame
            for i in range(messages):
                message_seed = seed + i
                if i and i % progress_every == 0:
                    print(f'  {i} sent, {figures["answered"]} of {figures["good"]} good frames answered, '
                          f'{figures["crashes"]} crashes, node RSS {target.node.memory_mb() or 0:.0f} '
                          f'MiB (peak {target.rss():.0f}), {time.monotonic() - start:.0f} s', file=sys.stderr)
                if i % good_every == good_every - 1:
                    # the malformed messages first reach the node: a large one still in transit on the other
                    # topic would otherwise arrive after the good frame and replace it (the node keeps the
                    # newest arrival), which says nothing about robustness
                    target.wait_for_delivery()
                    msg = good_frame(message_seed, target.probe.header())
                    figures['good'] += 1
                    figures['sent'] += 1
                    answer = target.send_and_wait(msg, answer_timeout_s)
                    expected = good_size(msg)
                    if answer == expected:
                        figures['answered'] += 1
                    else:
                        crashed = not target.node.running
                        what = 'crash' if crashed else 'no answer' if answer is None else f'labels of {answer}'
                        figures['failures'].append(dict(what=what, good_seed=message_seed, malformed_seeds=recent,
                                                        expected=expected))
                        if crashed:
                            figures['crashes'] += 1
                            target.rss()
                            if not target.start():
                                raise RuntimeError(f'seg_node did not restart; its log: {log_path}')
                    recent = []
                    target.rss()
                    continue
                case, msg = malformed(message_seed)
                target.probe.send(msg)
                figures['sent'] += 1
                figures['malformed'] += 1
                figures['cases'][case] += 1
                recent.append(message_seed)
                time.sleep(pace_s)
            if storm_rounds:
                target.wait_for_delivery()
                pool = storm_pool(range(seed, seed + 2000), MAX_INPUT_PIXELS)
                figures['storm'] = storm(target.probe, storm_rounds, seed, pool, answer_timeout_s, node=target.node)
            figures['seconds'] = round(time.monotonic() - start, 1)
            time.sleep(2.5)         # the next diagnostics status counts everything sent
            figures['node_counts'] = frame_counts(target.status)
            figures['peak_rss_mb'] = round(target.rss(), 1)
            figures['exit_status'] = target.node.stop()
        finally:
            target.close()
    with open(log_path) as f:
        figures['tracebacks_in_log'] = f.read().count('Traceback')
    figures['cases'] = dict(sorted(figures['cases'].items()))
    return figures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--messages', type=int, default=10000, help='messages to send in all (default 10000)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the first message (message i: seed + i)')
    parser.add_argument('--model', default=DEFAULT_MODEL, help='model name or manifest for the node')
    parser.add_argument('--good-every', type=int, default=20, help='every n-th message is a good frame')
    parser.add_argument('--pace-ms', type=float, default=2.0, help='pause after each malformed message')
    parser.add_argument('--answer-timeout-s', type=float, default=20.0, help='wait for a good frame\'s labels')
    parser.add_argument('--domain-id', type=int, default=None, help='ROS domain (default: a random 100..200)')
    parser.add_argument('--log', default=None, help='the node\'s output (default: a temporary file)')
    parser.add_argument('--json', default=None, help='also write the figures to this JSON file')
    parser.add_argument('--storm', type=int, default=0, metavar='ROUNDS',
                        help='then this many rounds of two good frames among malformed messages at full rate')
    args = parser.parse_args(argv)
    domain_id = args.domain_id if args.domain_id is not None else random.randint(100, 200)
    log_path = args.log or os.path.join(tempfile.mkdtemp(prefix='fuzz_node_'), 'seg_node.log')
    figures = fuzz(args.messages, args.seed, args.model, args.good_every, args.pace_ms / 1e3,
                   args.answer_timeout_s, domain_id, log_path, args.storm)
    counts = figures['node_counts']
    rows = [('messages sent', figures['sent']), ('malformed', figures['malformed']),
            ('good frames answered', f'{figures["answered"]} of {figures["good"]}'),
            ('node crashes', figures['crashes']),
            ('node: received / rejected / processed / failed / dropped',
             ' / '.join(str(counts.get(k, '-')) for k in ('received', 'rejected', 'processed', 'failed', 'dropped'))),
            ('largest resident memory of the node (VmHWM)', f'{figures["peak_rss_mb"]:.0f} MiB'),
            ('node exit status after SIGINT', figures['exit_status']),
            ('tracebacks in the node log', figures['tracebacks_in_log']),
            ('seconds', figures['seconds'])]
    storm_figures = figures.get('storm')
    if storm_figures:
        rows[3:3] = [('storm: good frames answered / the node had time for',
                      f'{storm_figures["answered"]} of {storm_figures["good"]} '
                      f'({100 * storm_figures["answered"] / storm_figures["good"]:.0f}%)'),
                     ('storm: malformed sent (at full rate while a frame waited)',
                      f'{storm_figures["malformed_sent"]} ({storm_figures["at_full_rate"]}, '
                      f'{storm_figures["malformed_per_s"]:.0f}/s)')]
    print(f'fuzz of seg_node, model {args.model}, seeds {args.seed}..'
          f'{args.seed + args.messages - 1}')
    for name, value in rows:
        print(f'  {name:<58} {value}')
    print('  cases: ' + ', '.join(f'{k} {v}' for k, v in figures['cases'].items()))
    for failure in figures['failures']:
        print(f'  FAILURE {failure["what"]}: good frame seed {failure["good_seed"]}, after malformed seeds '
              f'{failure["malformed_seeds"]}')
    print(f'  node log: {log_path}')
    print('command: python benchmarks/fuzz_node.py ' + ' '.join(argv if argv is not None else sys.argv[1:]))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(figures, f, indent=1)
    for r, which in (storm_figures or {}).get('missed', []):
        print(f'  FAILURE storm round {r}: the {which} good frame was not answered')
    failed = figures['failures'] or figures['crashes'] or figures['exit_status'] != 0 \
        or figures['tracebacks_in_log'] or (storm_figures or {}).get('missed')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())

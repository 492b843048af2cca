"""Every architecture trained on the same fixed, short budget on CamVid, then scored on CamVid val the same way.

    python benchmarks/train_budget.py --root ../shared/datasets/camvid --budget-min 3 --out runs/budget

For each registry model, one after the other on this machine: ``seg-perception train`` from scratch (no
pretrained weights for any model, so that the architectures are compared and not their initialisations) for
``--budget-min`` minutes of wall-clock time, the poly learning-rate schedule spanning that time (``--budget-min``
of the trainer), on the CamVid train split with the same recipe for all (AdamW, lr ``--lr``, batch
``--batch-size``, crops at the input size, random scale, flip and colour jitter, cross-entropy with
median-frequency weights to the power 0.5, auxiliary losses where the paper has them); then the deployable
graph is exported at ``--input`` (W x H) and ``seg-perception eval`` scores it on the 101 CamVid val frames at
their full 480 x 360 resolution through ``Segmenter`` and ONNX Runtime (the node's path).

A budget of minutes on two CPU cores buys few iterations, and the big models get fewest: the table compares
what each architecture reaches for the same cost on this machine, not what it reaches trained to convergence.
Writes ``OUT/summary.json`` and prints a Markdown table; a model whose run fails is listed with the error.
"""

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = ('fcn32s', 'fcn16s', 'fcn8s', 'deeplab_largefov', 'deeplab_v2_aspp', 'deconvnet', 'unet', 'deep_contextual',
          'fusionnet', 'frrn_a', 'frrn_b', 'pspnet', 'frrn_cpu', 'pspnet_lite0')
CLASSES = ('sky', 'building', 'pole', 'road', 'sidewalk', 'tree', 'sign', 'fence', 'car', 'pedestrian', 'bicyclist')


def run(cmd, log):
    """Run a command, its output appended to ``log``; True when it succeeded."""
    with open(log, 'a') as f:
        f.write('$ ' + ' '.join(cmd) + '\n')
        f.flush()
        return subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT).returncode == 0


def one(model, args):
    """Train, export and evaluate ``model``; its figures as a dict."""
    folder = os.path.join(args.out, model)
    os.makedirs(folder, exist_ok=True)
    log = os.path.join(folder, 'log.txt')
    width, height = (int(v) for v in args.input.split('x'))
    cli = [sys.executable, '-m', 'seg_perception.cli']
    started = time.time()
    train = cli + ['train', '--model', model, '--root', args.root, '--encoder-weights', 'none',
                   '--budget-min', str(args.budget_min), '--batch-size', str(args.batch_size), '--lr', str(args.lr),
                   '--crop-height', str(height), '--crop-width', str(width), '--class-weight-power', '0.5',
                   '--threads', str(args.threads), '--no-progress', '--restart', '--out', os.path.join(folder, 'run'),
                   '--export', os.path.join(folder, 'export'), '--name', model,
                   '--input-height', str(height), '--input-width', str(width)]
    if not run(train, log):
        return {'model': model, 'error': f'training failed, see {log}'}
    manifest = os.path.join(folder, 'export', f'{model}.json')
    with open(manifest) as f:
        iterations = json.load(f)['training']['recipe']['iters']
    evaluation = os.path.join(folder, 'eval.json')
    if not run(cli + ['eval', '--dataset', 'camvid', '--root', args.root, '--split', 'val', '--model', manifest,
                      '--threads', str(args.threads), '--json', evaluation], log):
        return {'model': model, 'iterations': iterations, 'error': f'evaluation failed, see {log}'}
    with open(evaluation) as f:
        report = json.load(f)
    for name in os.listdir(os.path.join(folder, 'export')):       # ONNX files of up to 1 GB: keep the figures only
        if name.endswith(('.onnx', '.pt')):
            os.remove(os.path.join(folder, 'export', name))
    return {'model': model, 'iterations': iterations, 'miou': report['miou'], 'iou': report['iou'],
            'minutes_total': round((time.time() - started) / 60, 1)}


def main(argv=None) -> int:
    """Run the budget for each model and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument('--root', required=True, help='CamVid in the SegNet layout')
    parser.add_argument('--models', nargs='+', default=list(MODELS))
    parser.add_argument('--budget-min', type=float, default=3.0, help='training minutes per model')
    parser.add_argument('--batch-size', type=int, default=4)
    parser.add_argument('--lr', type=float, default=1e-3)
    parser.add_argument('--input', default='256x192', help='W x H of the crops and of the exported graph')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--out', default='runs/budget')
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    summary_path = os.path.join(args.out, 'summary.json')
    rows = []
    for model in args.models:
        rows.append(one(model, args))
        print(json.dumps(rows[-1]), flush=True)
        with open(summary_path, 'w') as f:
            json.dump({'budget_min': args.budget_min, 'batch_size': args.batch_size, 'lr': args.lr,
                       'input': args.input, 'threads': args.threads, 'models': rows}, f, indent=1)
    print(f'\nCamVid val mIoU after {args.budget_min:g} minutes of training on this machine (input {args.input}, '
          f'batch {args.batch_size}, from scratch)\n')
    print('| model | iterations | mIoU | ' + ' | '.join(CLASSES) + ' |')
    print('|---|---|---|' + '---|' * len(CLASSES))
    for row in rows:
        if 'error' in row:
            print(f'| `{row["model"]}` | {row.get("iterations", "-")} | {row["error"]} |')
            continue
        print(f'| `{row["model"]}` | {row["iterations"]} | {row["miou"]:.1f} | '
              + ' | '.join('-' if row['iou'][c] is None else f'{row["iou"][c]:.1f}' for c in CLASSES) + ' |')
    print(f'\nwrote {summary_path}')
    return 0 if all('error' not in r for r in rows) else 1


if __name__ == '__main__':
    sys.exit(main())

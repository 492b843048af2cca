"""Weight interpolation (WiSE-FT): the arithmetic, what it refuses, and the model the command writes.

The mix is exact at both ends and linear between them, integer tensors come from the fine-tune, mismatched
networks are refused in one line, and the written ONNX graph and .pt give the same labels.
"""

import argparse
import json

import numpy as np
import pytest

torch = pytest.importorskip('torch')

from seg_perception.model_files import ModelFiles  # noqa: E402
from seg_perception.training import interpolate  # noqa: E402

HW = (64, 96)


def _state(seed):
    g = torch.Generator().manual_seed(seed)
    return {'conv.weight': torch.randn(4, 3, 3, 3, generator=g).half(),
            'bn.running_var': torch.rand(4, generator=g).half() + 0.5,
            'bn.num_batches_tracked': torch.tensor(10 + seed)}


def test_the_ends_are_the_parents_and_the_middle_is_their_mean():
    base, tuned = _state(0), _state(1)
    for key in base:
        assert torch.equal(interpolate.interpolate(base, tuned, 0.0)[key], base[key] if key != 'bn.num_batches_tracked'
                           else tuned[key])
        assert torch.equal(interpolate.interpolate(base, tuned, 1.0)[key], tuned[key])
    mid = interpolate.interpolate(base, tuned, 0.5)
    expected = ((base['conv.weight'].double() + tuned['conv.weight'].double()) / 2).half()
    assert torch.equal(mid['conv.weight'], expected) and mid['conv.weight'].dtype == torch.float16
    assert int(mid['bn.num_batches_tracked']) == 11
    quarter = interpolate.interpolate(base, tuned, 0.25)['bn.running_var'].double()
    assert torch.allclose(quarter, 0.75 * base['bn.running_var'].double() + 0.25 * tuned['bn.running_var'].double(),
                          atol=1e-3)


@pytest.mark.parametrize('change, message', [
    (lambda s: s.pop('conv.weight'), 'different tensors'),
    (lambda s: s.update({'conv.weight': torch.zeros(4, 3, 1, 1).half()}), 'tensor conv.weight'),
    (lambda s: s.update({'bn.running_var': torch.ones(4, dtype=torch.int64)}), 'tensor bn.running_var'),
])
def test_state_dicts_that_do_not_match_are_refused(change, message):
    tuned = _state(1)
    change(tuned)
    with pytest.raises(ValueError, match=message):
        interpolate.interpolate(_state(0), tuned, 0.5)


@pytest.mark.parametrize('alpha', [-0.1, 1.5])
def test_alpha_outside_zero_to_one_is_refused(alpha):
    with pytest.raises(ValueError, match='alpha must be from 0'):
        interpolate.interpolate(_state(0), _state(1), alpha)


def _write_model(folder, name, seed, classes=None):
    """A pspnet_lite0 (random weights, fp16 .pt as train writes it) with a manifest naming only the .pt."""
    from seg_perception import models
    from seg_perception.export import write_manifest
    from seg_perception.taxonomy import CAMVID_CLASSES

    classes = list(classes or CAMVID_CLASSES)
    torch.manual_seed(seed)
    net = models.create('pspnet_lite0', num_classes=len(classes), refine=True).eval()
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({'arch': 'pspnet_lite0', 'arch_kwargs': {'aux': True, 'refine': True},
                'state_dict': {k: v.half() if v.is_floating_point() else v for k, v in net.state_dict().items()}},
               folder / f'{name}.pt')
    path = folder / f'{name}.json'
    write_manifest(str(path), name=name, architecture='pspnet_lite0', arch_kwargs={'aux': True, 'refine': True},
                   classes=classes, input_hw=HW, mean=(127.0,) * 3, std=(128.0,) * 3, files={'torch': f'{name}.pt'},
                   training={'data': f'{name} data'}, extra={'class_bias': {'values': [0.5] + [0.0] * 10}})
    return str(path)


def _args(*argv):
    parser = argparse.ArgumentParser()
    interpolate.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_the_written_model_is_the_mix_and_its_onnx_gives_the_torch_labels(tmp_path, capsys):
    from seg_perception.segmenter import Segmenter

    base = _write_model(tmp_path / 'base', 'base', 0)
    tuned = _write_model(tmp_path / 'tuned', 'tuned', 1)
    out = tmp_path / 'mixed'
    assert interpolate.run(_args('--base', base, '--tuned', tuned, '--alpha', '0.3', '--out', str(out)), 'cmd') == 0
    assert 'wrote' in capsys.readouterr().out
    model = ModelFiles.load(str(out / 'tuned.json'))
    record = model.manifest['training']['interpolated']
    assert record['alpha'] == 0.3 and record['base'].startswith('base (') and record['tuned'].startswith('tuned (')
    assert record['base_training_data'] == 'base data' and record['command'] == 'cmd'
    assert model.class_bias is None and model.manifest['validation'] == {}
    states = [torch.load(p, weights_only=False)['state_dict']
              for p in (tmp_path / 'base' / 'base.pt', tmp_path / 'tuned' / 'tuned.pt', out / 'tuned.pt')]
    key = next(k for k, v in states[0].items() if v.is_floating_point() and v.numel() > 100)
    assert torch.allclose(states[2][key].float(), 0.7 * states[0][key].float() + 0.3 * states[1][key].float(),
                          atol=2e-3)
    assert not torch.equal(states[2][key], states[0][key]) and not torch.equal(states[2][key], states[1][key])
    frame = np.random.default_rng(0).integers(0, 255, (HW[0], HW[1], 3), dtype=np.uint8)
    onnx = Segmenter.from_model(str(out / 'tuned.json'), backend='onnxruntime').segment(frame).labels
    torch_labels = Segmenter.from_model(str(out / 'tuned.json'), backend='torch', device='cpu').segment(frame).labels
    assert np.mean(onnx == torch_labels) > 0.99


def test_networks_that_differ_are_refused_in_one_line(tmp_path, capsys):
    from seg_perception.taxonomy import CAMVID_CLASSES

    base = _write_model(tmp_path / 'base', 'base', 0)
    other = _write_model(tmp_path / 'other', 'other', 1, classes=list(CAMVID_CLASSES)[::-1])
    assert interpolate.run(_args('--base', base, '--tuned', other, '--alpha', '0.5', '--out', str(tmp_path / 'x')),
                           'cmd') == 2
    err = capsys.readouterr().err
    assert err.startswith('error: base and other differ in classes') and len(err.strip().splitlines()) == 1
    assert not (tmp_path / 'x').exists()
    assert interpolate.run(_args('--base', base, '--tuned', str(tmp_path / 'none.json'), '--alpha', '0.5',
                                 '--out', str(tmp_path / 'y')), 'cmd') == 2
    assert capsys.readouterr().err.startswith('error: ')
    manifest = json.loads(open(base).read())
    assert 'interpolated' not in manifest['training']

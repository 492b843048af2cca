"""Training: the loss falls on generated data, resuming is exact, and the bootstrapped loss is FRRN's."""

import argparse
import csv
import json
import os

import numpy as np
import pytest

torch = pytest.importorskip('torch')

from seg_perception.training import losses, train  # noqa: E402


def _args(tmp_path, *extra):
    parser = argparse.ArgumentParser()
    train.add_arguments(parser)
    return parser.parse_args(['--dataset', 'rendered', '--limit', '6', '--model', 'pspnet_lite0',
                              '--encoder-weights', 'none', '--crop-height', '64', '--crop-width', '96',
                              '--batch-size', '2', '--threads', '1', '--log-every', '1', '--no-progress',
                              '--out', str(tmp_path), *extra])


def _losses(folder):
    with open(os.path.join(folder, 'log.csv')) as f:
        return [float(row['loss']) for row in csv.DictReader(f)]


def test_loss_falls_over_a_few_steps_on_rendered_scenes(tmp_path):
    train.train(_args(tmp_path, '--iters', '24', '--lr', '2e-3'))
    losses = _losses(tmp_path)
    assert len(losses) == 24
    assert np.mean(losses[-6:]) < 0.8 * np.mean(losses[:6])


def test_resumed_run_ends_with_identical_weights(tmp_path):
    straight, resumed = tmp_path / 'straight', tmp_path / 'resumed'
    train.train(_args(straight, '--iters', '4', '--save-every', '100'))
    train.train(_args(resumed, '--iters', '4', '--stop-after', '2', '--save-every', '100'))
    state = torch.load(resumed / 'last.pt', weights_only=False)
    assert state['iteration'] == 2
    train.train(_args(resumed, '--iters', '4', '--save-every', '100'))
    a = torch.load(straight / 'last.pt', weights_only=False)['model']
    b = torch.load(resumed / 'last.pt', weights_only=False)['model']
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_bootstrapped_loss_equals_cross_entropy_when_k_covers_every_pixel():
    logits = torch.randn(2, 5, 6, 7)
    target = torch.randint(0, 5, (2, 6, 7))
    full = losses.bootstrapped_cross_entropy(logits, target, k=6 * 7)
    assert torch.allclose(full, torch.nn.functional.cross_entropy(logits, target), atol=1e-6)


def test_bootstrapped_loss_keeps_only_the_hardest_pixels_and_skips_void():
    logits = torch.zeros(1, 2, 1, 4)
    logits[0, 0] = torch.tensor([5.0, 0.0, -5.0, 9.0])     # confident class 0 on pixels 0 and 3
    target = torch.tensor([[[0, 0, 0, 255]]])
    per_pixel = torch.nn.functional.cross_entropy(logits, target.clamp(max=1), reduction='none')[0, 0]
    hardest_two = per_pixel[[1, 2]].mean()                  # pixel 3 is void and must not count
    assert torch.allclose(losses.bootstrapped_cross_entropy(logits, target, k=2, ignore_index=255), hardest_two)


def test_lovasz_loss_on_hard_predictions_is_one_minus_the_mean_iou_of_the_present_classes():
    from seg_perception import metrics

    torch.manual_seed(0)
    target = torch.randint(0, 4, (2, 20, 30))      # class 4 never in the target: it must not count
    target[0, :3] = 255
    pred = torch.randint(0, 5, (2, 20, 30))
    logits = torch.nn.functional.one_hot(pred, 5).permute(0, 3, 1, 2).float() * 100
    iou = metrics.iou_per_class(metrics.confusion_matrix(target.numpy(), pred.numpy(), 5, 255))[:4]
    assert losses.lovasz_softmax(logits, target).item() == pytest.approx(1 - float(np.mean(iou)), abs=1e-5)
    perfect = torch.nn.functional.one_hot(target.clamp(max=3), 5).permute(0, 3, 1, 2).float() * 100
    assert losses.lovasz_softmax(perfect, target).item() == pytest.approx(0.0, abs=1e-6)


def test_lovasz_loss_trains_a_few_steps(tmp_path):
    train.train(_args(tmp_path, '--iters', '3', '--loss', 'ce+lovasz'))
    assert len(_losses(tmp_path)) == 3 and all(np.isfinite(_losses(tmp_path)))


def test_imagenet_weights_are_refused_for_models_that_have_none(tmp_path):
    args = _args(tmp_path, '--iters', '1')
    args.model, args.encoder_weights = 'frrn_cpu', 'imagenet'
    with pytest.raises(ValueError, match='no ImageNet weights'):
        train.build_model(args, 11)


def test_a_wall_clock_budget_stops_on_time_with_the_schedule_spanning_it_and_exports(tmp_path):
    export = tmp_path / 'export'
    result = train.train(_args(tmp_path / 'run', '--budget-min', '0.05', '--lr', '1e-3', '--export', str(export),
                               '--name', 'budget', '--input-height', '48', '--input-width', '64'))
    with open(tmp_path / 'run' / 'log.csv') as f:
        rows = list(csv.DictReader(f))
    rates = [float(row['lr']) for row in rows]
    assert result['train_wall_s'] >= 2.5                 # the 3 s are spent ...
    # ... and no step starts after the 3 s: the last one began before them (its figures are rounded to 0.1 s and 1 ms)
    assert float(rows[-1]['elapsed_s']) - float(rows[-1]['s_per_iter']) < 3.0 + 0.06
    assert len(rates) == result['iterations'] >= 2
    assert rates[0] > rates[-1] and all(a >= b for a, b in zip(rates, rates[1:]))   # decays with the time
    manifest = json.loads((export / 'budget.json').read_text())
    assert manifest['training']['recipe']['iters'] == result['iterations']


def test_arch_kwargs_reach_the_model_and_the_manifest_and_init_from_adds_new_modules(tmp_path):
    plain = tmp_path / 'plain'
    train.train(_args(plain, '--iters', '2', '--export', str(plain / 'export'), '--name', 'plain',
                      '--input-height', '48', '--input-width', '64'))
    refined = tmp_path / 'refined'
    train.train(_args(refined, '--iters', '2', '--arch-kwargs', '{"refine": true}',
                      '--init-from', str(plain / 'export' / 'plain.pt'), '--export', str(refined / 'export'),
                      '--name', 'refined', '--input-height', '48', '--input-width', '64'))
    manifest = json.loads((refined / 'export' / 'refined.json').read_text())
    assert manifest['arch_kwargs'] == {'aux': True, 'refine': True}
    state = torch.load(refined / 'export' / 'refined.pt', weights_only=False)
    assert state['arch_kwargs']['refine'] is True and any(k.startswith('refine.') for k in state['state_dict'])


def test_arch_kwargs_must_be_a_json_object_and_init_from_must_fit(tmp_path):
    with pytest.raises(SystemExit):
        _args(tmp_path, '--arch-kwargs', '[1, 2]')
    with pytest.raises(SystemExit):
        _args(tmp_path, '--arch-kwargs', '{refine}')
    source = tmp_path / 'source'
    train.train(_args(source, '--iters', '1', '--arch-kwargs', '{"refine": true}', '--export',
                      str(source / 'export'), '--name', 'm', '--input-height', '48', '--input-width', '64'))
    with pytest.raises(ValueError, match='do not fit'):     # weights with a module the model lacks
        train.train(_args(tmp_path / 'target', '--iters', '1', '--init-from', str(source / 'export' / 'm.pt')))


def test_an_option_the_model_does_not_take_is_one_line_and_exit_2(tmp_path, capsys):
    args = _args(tmp_path, '--iters', '1', '--arch-kwargs', '{"foo": 1}')
    assert train.run(args, 'seg-perception train ...') == 2
    err = capsys.readouterr().err
    assert err.startswith('error: --arch-kwargs') and 'foo' in err and 'Traceback' not in err


def test_scale_range_reaches_the_augmentation_and_the_manifest(tmp_path):
    for bad in ('1.5', '2,1', '0,1', 'a,b'):
        with pytest.raises(SystemExit):
            _args(tmp_path, '--scale-range', bad)
    args = _args(tmp_path, '--scale-range', '1,1', '--iters', '1', '--export', str(tmp_path / 'export'),
                 '--name', 'm', '--input-height', '48', '--input-width', '64')
    assert args.scale_range == (1.0, 1.0)
    train.train(args)
    manifest = json.loads((tmp_path / 'export' / 'm.json').read_text())
    assert manifest['training']['recipe']['scale_range'] == [1.0, 1.0]
    # at scale 1 a crop of the image's own size is the image itself, at most flipped
    from seg_perception.training import augmentation
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 11, (48, 64)).astype(np.uint8)
    image = np.zeros((48, 64, 3), np.uint8)
    _, out = augmentation.augment(image, labels, rng, (48, 64), 255, (1.0, 1.0))
    assert np.array_equal(out, labels) or np.array_equal(out, labels[:, ::-1])


def test_rare_crops_hold_a_pixel_of_the_focus_class_and_reach_the_manifest(tmp_path):
    from seg_perception.training import augmentation

    labels = np.zeros((120, 160), np.uint8)
    labels[5, 150] = 2                                  # one pole pixel in a corner
    image = np.zeros((120, 160, 3), np.uint8)
    held = {True: 0, False: 0}
    for seed in range(40):
        for focus in (True, False):
            rng = np.random.default_rng(seed)
            _, out = augmentation.augment(image, labels, rng, (48, 64), 255, (1.0, 1.0), 2 if focus else None)
            held[focus] += int((out == 2).any())
    assert held[True] == 40 and held[False] < 10
    freq = np.array([0.5, 0.49, 0.01])
    rng = np.random.default_rng(0)
    draws = [augmentation.rare_class(np.array([[0, 1, 2]], np.uint8), freq, rng) for _ in range(200)]
    assert draws.count(2) > 150 and set(draws) <= {0, 1, 2}
    assert augmentation.rare_class(np.array([[0, 0]], np.uint8), freq, rng) == 0
    assert augmentation.rare_class(np.full((2, 2), 255, np.uint8), freq, rng) is None
    for bad in ('-0.1', '1.5', 'x'):
        with pytest.raises(SystemExit):
            _args(tmp_path, '--rare-crops', bad)
    args = _args(tmp_path, '--rare-crops', '0.5', '--iters', '2', '--export', str(tmp_path / 'export'),
                 '--name', 'm', '--input-height', '48', '--input-width', '64')
    train.train(args)
    manifest = json.loads((tmp_path / 'export' / 'm.json').read_text())
    assert manifest['training']['recipe']['rare_crops'] == 0.5


class _ColourArgmax(torch.nn.Module):
    """Logits = the three normalised colour channels: the label is the brightest channel."""

    def __init__(self):
        super().__init__()
        self.sizes = []

    def forward(self, x):
        self.sizes.append(tuple(x.shape[2:]))
        return x


def test_validation_goes_through_the_exported_network_size_and_back_to_the_labels():
    """Images go to input_hw and predictions come back to each label map's size by nearest neighbour."""
    from seg_perception import datasets

    labels = np.zeros((60, 80), np.uint8)
    labels[:, 40:] = 1
    labels[30:, :20] = 2
    image = np.zeros((60, 80, 3), np.uint8)
    for c in range(3):
        image[labels == c, c] = 255
    data = datasets.LabelledImages([image], [labels], ('a', 'b', 'c'), 255, ['x'])
    model = _ColourArgmax()
    same = train.evaluate_torch(model, data, [0, 0, 0], [1, 1, 1], 3)
    scaled = train.evaluate_torch(model, data, [0, 0, 0], [1, 1, 1], 3, input_hw=(90, 120))
    assert model.sizes == [(60, 80), (90, 120)]
    assert same['miou'] == pytest.approx(100.0)
    assert scaled['miou'] > 97.0
    assert np.asarray(scaled['confusion']).sum() == labels.size


@pytest.mark.parametrize('scale', [0.7, 1.5, 2.3])
def test_augmented_labels_stay_on_the_pixels_they_label(scale):
    """After random rescaling, a one-pixel column of labels sits where its bright column of pixels went."""
    from seg_perception.training import augmentation

    labels = np.zeros((15, 41), np.uint8)
    labels[:, 20] = 1
    image = np.where(labels[..., None] == 1, 255, 0).astype(np.uint8).repeat(3, axis=2)
    nh, nw = int(15 * scale + 0.5), int(41 * scale + 0.5)
    for seed in range(4):
        img, lab = augmentation.augment(image, labels, np.random.default_rng(seed), (nh, nw), 255, (scale, scale))
        columns = np.nonzero(lab[nh // 2] == 1)[0]
        brightest = img[nh // 2].astype(float).sum(axis=1)
        centre = (brightest * np.arange(nw)).sum() / brightest.sum()
        assert len(columns) >= 1
        assert abs(columns.mean() - centre) <= 0.3, (seed, columns, centre)


def test_robust_augmentation_trains_resumes_exactly_and_is_recorded_in_the_manifest(tmp_path):
    pytest.importorskip('albumentations')
    robust = ('--augment', 'robust', '--augment-strength', '1.5', '--augment-p', '2', '--save-every', '100')
    straight, resumed = tmp_path / 'straight', tmp_path / 'resumed'
    train.train(_args(straight, '--iters', '4', *robust, '--export', str(straight / 'export'), '--name', 'm',
                      '--input-height', '48', '--input-width', '64'))
    train.train(_args(resumed, '--iters', '4', '--stop-after', '2', *robust))
    train.train(_args(resumed, '--iters', '4', *robust))
    a = torch.load(straight / 'last.pt', weights_only=False)['model']
    b = torch.load(resumed / 'last.pt', weights_only=False)['model']
    assert all(torch.equal(a[key], b[key]) for key in a)
    standard = tmp_path / 'standard'
    train.train(_args(standard, '--iters', '4', '--save-every', '100'))
    c = torch.load(standard / 'last.pt', weights_only=False)['model']
    assert not all(torch.equal(a[key], c[key]) for key in a)      # the robust crops are other crops
    training = json.loads((straight / 'export' / 'm.json').read_text())['training']
    assert training['recipe']['augment'] == 'robust' and training['recipe']['augment_strength'] == 1.5
    assert 'strength 1.5, p 2' in training['augment']['pipeline']
    assert training['augment']['library'].startswith('albumentations')
    assert any('Gaussian noise' in line for line in training['augment']['differs_from_benchmark'])


def test_robust_augmentation_refuses_rare_crops_and_out_of_range_strength(tmp_path, capsys):
    pytest.importorskip('albumentations')
    assert train.run(_args(tmp_path, '--iters', '1', '--augment', 'robust', '--rare-crops', '0.5'), 'train') == 2
    assert '--rare-crops' in capsys.readouterr().err
    assert train.run(_args(tmp_path, '--iters', '1', '--augment', 'robust', '--augment-strength', '3'), 'train') == 2
    assert 'strength must be from 0 to 2' in capsys.readouterr().err


def test_exclude_seq_leaves_out_whole_sequences_and_says_so_in_the_manifest(tmp_path, capsys):
    from seg_perception import datasets

    frames = datasets.LabelledImages([np.zeros((2, 2, 3), np.uint8)] * 4, [np.zeros((2, 2), np.uint8)] * 4,
                                     ('a',), 255, ['0001TP_1.png', '0006R0_1.png', '0006R0_2.png', '0016E5_1.png'])
    assert datasets.select_sequences(frames, exclude=['0006R0']).names == ['0001TP_1.png', '0016E5_1.png']
    assert datasets.select_sequences(frames, include=['0006R0', '0016']).names == ['0006R0_1.png', '0006R0_2.png',
                                                                                   '0016E5_1.png']
    with pytest.raises(ValueError, match="no frame of the split starts with '0006RO'.*0001TP, 0006R0, 0016E5"):
        datasets.select_sequences(frames, exclude=['0006RO'])
    train.train(_args(tmp_path, '--iters', '1', '--exclude-seq', 'scene_0_1', '--export', str(tmp_path / 'export'),
                      '--name', 'm', '--input-height', '48', '--input-width', '64'))
    training = json.loads((tmp_path / 'export' / 'm.json').read_text())['training']
    assert 'without the sequences scene_0_1' in training['data'] and training['recipe']['exclude_seq'] == ['scene_0_1']
    assert train.run(_args(tmp_path, '--iters', '1', '--exclude-seq', 'nothing'), 'train') == 2
    assert "starts with 'nothing'" in capsys.readouterr().err


def test_rendered_varied_frames_of_other_sizes_train_and_are_recorded_in_the_manifest(tmp_path):
    args = _args(tmp_path, '--rendered', '2', '--rendered-varied', '--iters', '2', '--batch-size', '8',
                 '--export', str(tmp_path / 'export'), '--name', 'm', '--input-height', '48', '--input-width', '64')
    train.train(args)       # 6 frames at 480x360 and 2 varied ones at 640x360: batches of mixed sizes
    data = json.loads((tmp_path / 'export' / 'm.json').read_text())['training']['data']
    assert '+ 2 rendered scenes (varied: camera height, field of view' in data and 'seeds from 70000' in data

"""Specifications of the dense CRF (Krahenbuhl and Koltun 2011, DeepLab's post-processing) and ``eval --crf``.

The reference is the mean-field update written out by brute force: every pair of pixels of a small image,
both kernels as dense N x N matrices, normalised symmetrically as Krahenbuhl's code does.
"""

import dataclasses
import json
import os

import cv2
import numpy as np
import pytest

from seg_perception import crf

LARGEFOV = crf.DEEPLAB_LARGEFOV


def brute_force_mean_field(probabilities: np.ndarray, rgb: np.ndarray, params: crf.CRFParams) -> np.ndarray:
    """Exact mean field: Q <- softmax(log P + sum_m w_m D_m^-1/2 G_m D_m^-1/2 Q), G_m over all pixel pairs."""
    c, h, w = probabilities.shape
    ys, xs = np.mgrid[:h, :w]
    position = np.stack([xs, ys], -1).reshape(-1, 2).astype(np.float64)
    colour = rgb.reshape(-1, 3).astype(np.float64)
    d_position = ((position[:, None] - position[None]) ** 2).sum(-1)
    d_colour = ((colour[:, None] - colour[None]) ** 2).sum(-1)
    kernels = [
        (params.gaussian_weight, np.exp(-d_position / (2 * params.gaussian_xy_std ** 2))),
        (params.bilateral_weight, np.exp(-d_position / (2 * params.bilateral_xy_std ** 2)
                                         - d_colour / (2 * params.bilateral_rgb_std ** 2))),
    ]
    normalised = []
    for weight, g in kernels:
        d = 1.0 / np.sqrt(g.sum(axis=1))
        normalised.append((weight, g * d[:, None] * d[None, :]))
    log_p = np.log(np.clip(probabilities, crf.UNARY_CLIP, 1.0)).reshape(c, -1).astype(np.float64)
    q = np.exp(log_p) / np.exp(log_p).sum(0)
    for _ in range(params.iterations):
        energy = log_p + sum(weight * q @ k.T for weight, k in normalised)
        q = np.exp(energy - energy.max(0))
        q /= q.sum(0)
    return q.reshape(c, h, w)


@pytest.fixture
def small_scene():
    """A 12 x 16 image of two colour regions (noisy) and noisy 3-class probabilities."""
    rng = np.random.default_rng(0)
    rgb = np.zeros((12, 16, 3), np.uint8)
    rgb[:, 8:] = 200
    rgb = np.clip(rgb + rng.integers(0, 20, rgb.shape), 0, 255).astype(np.uint8)
    probabilities = rng.dirichlet(np.ones(3), size=12 * 16).T.reshape(3, 12, 16).astype(np.float32)
    return probabilities, rgb


def test_deeplab_default_parameters_are_the_released_ones():
    assert dataclasses.astuple(crf.DEEPLAB_LARGEFOV) == (10, 4.0, 49.0, 5.0, 3.0, 3.0)
    assert dataclasses.astuple(crf.DEEPLAB_V2_RESNET101) == (10, 4.0, 67.0, 3.0, 3.0, 1.0)


@pytest.mark.parametrize('iterations', [1, 10])
def test_gaussian_kernel_mean_field_is_exact(small_scene, iterations):
    probabilities, rgb = small_scene
    params = dataclasses.replace(LARGEFOV, bilateral_weight=0.0, iterations=iterations)
    exact = brute_force_mean_field(probabilities, rgb, params)
    np.testing.assert_allclose(crf.dense_crf(probabilities, rgb, params, 'numpy'), exact, atol=1e-6)


def test_one_full_update_is_close_to_the_exact_one(small_scene):
    probabilities, rgb = small_scene
    params = dataclasses.replace(LARGEFOV, iterations=1)
    exact = brute_force_mean_field(probabilities, rgb, params)
    ours = crf.dense_crf(probabilities, rgb, params, 'numpy')
    # the permutohedral lattice approximates the bilateral Gaussian; Krahenbuhl's code errs as much (0.034 here)
    assert np.abs(ours - exact).max() < 0.05
    assert np.abs(ours - exact).mean() < 0.01
    assert (ours.argmax(0) == exact.argmax(0)).mean() >= 0.95


def test_ten_iterations_give_the_exact_labels(small_scene):
    probabilities, rgb = small_scene
    exact = brute_force_mean_field(probabilities, rgb, LARGEFOV)
    ours = crf.dense_crf(probabilities, rgb, LARGEFOV, 'numpy')
    assert np.abs(ours - exact).max() < 0.1
    assert (ours.argmax(0) == exact.argmax(0)).mean() >= 0.99


@pytest.mark.parametrize('xy_std, rgb_std', [(49.0, 5.0), (67.0, 3.0)])
def test_lattice_filter_approximates_the_normalised_bilateral_kernel_on_an_image(xy_std, rgb_std):
    rng = np.random.default_rng(1)
    h, w = 20, 30
    rgb = np.zeros((h, w, 3))
    rgb[:, 15:] = (200, 180, 40)
    rgb[10:, :15] = (40, 90, 200)
    rgb = np.clip(rgb + rng.normal(0, 8, rgb.shape), 0, 255).astype(np.uint8)
    ys, xs = np.mgrid[:h, :w]
    features = np.concatenate([np.stack([xs, ys], -1).reshape(-1, 2) / xy_std, rgb.reshape(-1, 3) / rgb_std], 1)
    values = rng.random((2, h * w))
    g = np.exp(-((features[:, None] - features[None]) ** 2).sum(-1) / 2)
    d = 1 / np.sqrt(g.sum(1))
    exact = values @ (g * d[:, None] * d[None]).T
    lattice = crf.PermutohedralLattice(features)
    norm = 1 / np.sqrt(lattice.filter(np.ones((1, h * w))))
    approx = norm * lattice.filter(values * norm)
    # Adams et al.'s lattice trades accuracy for O(N d^2) time: a few per cent on average (measured 3-5 %)
    assert np.abs(approx - exact).mean() / np.abs(exact).mean() < 0.06
    assert np.corrcoef(approx.ravel(), exact.ravel())[0, 1] > 0.97


def test_numpy_implementation_matches_krahenbuhls_code_on_the_bilateral_kernel(small_scene):
    pytest.importorskip('pydensecrf.densecrf', reason='pydensecrf2 not installed (pip install pydensecrf2)')
    probabilities, rgb = small_scene
    for params in (LARGEFOV, crf.DEEPLAB_V2_RESNET101):
        bilateral_only = dataclasses.replace(params, gaussian_weight=0.0)
        ours = crf.dense_crf(probabilities, rgb, bilateral_only, 'numpy')
        theirs = crf.dense_crf(probabilities, rgb, bilateral_only, 'pydensecrf')
        np.testing.assert_allclose(ours, theirs, atol=1e-4)
    # with both kernels they differ only by the lattice's approximation of the Gaussian kernel
    ours = crf.dense_crf(probabilities, rgb, LARGEFOV, 'numpy')
    theirs = crf.dense_crf(probabilities, rgb, LARGEFOV, 'pydensecrf')
    assert np.abs(ours - theirs).max() < 0.05 and (ours.argmax(0) == theirs.argmax(0)).mean() >= 0.99


@pytest.mark.parametrize('implementation', ['numpy', 'pydensecrf'])
def test_crf_snaps_a_blurred_boundary_to_the_image_edge(implementation):
    if implementation == 'pydensecrf':
        pytest.importorskip('pydensecrf.densecrf', reason='pydensecrf2 not installed')
    h, w = 40, 60
    rgb = np.full((h, w, 3), 60, np.uint8)
    rgb[:, 30:] = (200, 180, 40)
    truth = (np.arange(w) >= 30).astype(np.uint8)[None].repeat(h, 0)
    # a coarse network's boundary: a soft ramp centred 6 pixels too far left
    p1 = np.clip((np.arange(w) - 24) / 12 + 0.5, 0.02, 0.98)[None].repeat(h, 0)
    probabilities = np.stack([1 - p1, p1]).astype(np.float32)
    before = (probabilities.argmax(0) == truth).mean()
    labels, timings = crf.refine(probabilities, rgb, LARGEFOV, implementation)
    assert before < 0.92 and (labels == truth).mean() > 0.99
    assert labels.dtype == np.uint8 and timings['crf'] > 0


def test_refine_resizes_network_probabilities_to_the_image():
    rgb = np.zeros((30, 40, 3), np.uint8)
    probabilities = np.stack([np.full((15, 20), 0.8), np.full((15, 20), 0.2)]).astype(np.float32)
    labels, _ = crf.refine(probabilities, rgb, LARGEFOV, 'numpy')
    assert labels.shape == (30, 40) and not labels.any()


def test_mismatched_image_and_probabilities_say_how_to_fix_it():
    with pytest.raises(ValueError, match='resize them to the image'):
        crf.dense_crf(np.ones((2, 10, 10), np.float32) / 2, np.zeros((12, 10, 3), np.uint8), LARGEFOV, 'numpy')
    with pytest.raises(ValueError, match='uint8 RGB'):
        crf.dense_crf(np.ones((2, 10, 10), np.float32) / 2, np.zeros((10, 10), np.uint8), LARGEFOV, 'numpy')


@pytest.fixture(scope='module')
def torch_model(tmp_path_factory):
    """Manifest of a tiny registry model (frrn_cpu, untrained) with torch weights, at 48 x 64."""
    torch = pytest.importorskip('torch')
    from seg_perception import models
    from seg_perception.export import export_onnx, write_manifest
    from seg_perception.taxonomy import CAMVID_CLASSES

    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp('crf_model')
    torch.manual_seed(0)
    net = models.create('frrn_cpu', num_classes=len(CAMVID_CLASSES)).eval()
    mean, std = (127.0,) * 3, (128.0,) * 3
    export_onnx(net, str(folder / 'm.onnx'), (48, 64), mean, std)
    torch.save({'arch': 'frrn_cpu', 'arch_kwargs': {}, 'state_dict': net.state_dict()}, str(folder / 'm.pt'))
    write_manifest(str(folder / 'm.json'), name='m', architecture='frrn_cpu', arch_kwargs={},
                   classes=CAMVID_CLASSES, input_hw=(48, 64), mean=mean, std=std,
                   files={'onnx': 'm.onnx', 'torch': 'm.pt'})
    return str(folder / 'm.json')


@pytest.fixture
def camvid_root(tmp_path, rgb_frame):
    """Two labelled 120 x 160 frames in the SegNet CamVid layout."""
    lines = []
    for split in ('val',):
        os.makedirs(tmp_path / split)
        os.makedirs(tmp_path / f'{split}annot')
        for i in range(2):
            cv2.imwrite(str(tmp_path / split / f'{i}.png'), rgb_frame[:, :, ::-1])
            label = np.zeros(rgb_frame.shape[:2], np.uint8)
            label[50:] = 3
            cv2.imwrite(str(tmp_path / f'{split}annot' / f'{i}.png'), label)
            lines.append(f'/{split}/{i}.png /{split}annot/{i}.png')
        (tmp_path / f'{split}.txt').write_text('\n'.join(lines) + '\n')
    return str(tmp_path)


def test_eval_crf_reports_refined_miou_gain_and_cost(torch_model, camvid_root, tmp_path, capsys):
    from seg_perception.cli import main

    out = tmp_path / 'eval.json'
    assert main(['eval', '--root', camvid_root, '--split', 'val', '--model', torch_model, '--backend', 'torch',
                 '--threads', '1', '--crf', '--crf-implementation', 'numpy', '--json', str(out)]) == 0
    report = json.loads(out.read_text())
    assert report['frames'] == 2
    refined = report['crf']
    assert refined['implementation'] == 'numpy' and refined['params']['name'] == 'largefov'
    assert refined['miou_gain'] == pytest.approx(refined['miou'] - report['miou'])
    assert refined['ms_per_frame_median'] > 0 and len(report['crf_confusion']) == len(report['confusion'])


def test_eval_crf_on_the_onnx_backend_says_to_use_torch(torch_model, camvid_root):
    from seg_perception.cli import main

    with pytest.raises(SystemExit, match='--backend torch'):
        main(['eval', '--root', camvid_root, '--model', torch_model, '--crf'])

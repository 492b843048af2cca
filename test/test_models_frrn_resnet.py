"""Specifications of the FRRN (Pohlen et al. 2017) and dilated ResNet (He et al. 2016, PSPNet) models."""

import io

import numpy as np
import pytest
import torch

from seg_perception.models import frrn, resnet

# Parameter counts the FRRN paper reports (Pohlen et al., CVPR 2017, Table 1 / Section 4): 17.7 M and 24.8 M.
# The paper rounds to 0.1 M and does not say how it counts batch norm; 3 % leaves room for both.
PAPER_TOLERANCE = 0.03
# torchvision's resnet50 / resnet101 (25,557,032 / 44,549,160 parameters) minus the 2048 x 1000 fc + bias.
RESNET50_TRUNK = 25_557_032 - 2_049_000
RESNET101_TRUNK = 44_549_160 - 2_049_000


pytestmark = pytest.mark.usefixtures('single_thread_torch')


def _parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _deep_stem_extra_parameters() -> int:
    """Parameters the 64-64-128 3x3 stem adds over the 7x7 stem (including the wider layer1 inputs)."""
    deep = (3 * 64 + 64 * 64 + 64 * 128) * 9 + 2 * (64 + 64 + 128)
    plain = 3 * 64 * 49 + 2 * 64
    layer1_inputs = (128 - 64) * 64 + (128 - 64) * 256  # layer1's first 1x1 conv and its projection
    return deep - plain + layer1_inputs


def test_frrn_a_matches_paper_parameter_count():
    assert _parameters(frrn.frrn_a(num_classes=19)) == pytest.approx(17.7e6, rel=PAPER_TOLERANCE)


def test_frrn_b_matches_paper_parameter_count():
    assert _parameters(frrn.frrn_b(num_classes=19)) == pytest.approx(24.8e6, rel=PAPER_TOLERANCE)


def test_frrn_cpu_has_a_few_million_parameters():
    assert 2e6 < _parameters(frrn.frrn_cpu(num_classes=11)) < 6e6


def test_frrn_width_scales_the_pooling_stream():
    half = _parameters(frrn.frrn_a(num_classes=19, width=0.5))
    assert half < 0.35 * _parameters(frrn.frrn_a(num_classes=19))


@pytest.mark.parametrize('constructor, reference', [(resnet.resnet50, RESNET50_TRUNK),
                                                    (resnet.resnet101, RESNET101_TRUNK)])
def test_resnet_trunk_matches_reference_parameter_count(constructor, reference):
    assert _parameters(constructor(deep_stem=False)) == reference
    assert _parameters(constructor(deep_stem=True)) == reference + _deep_stem_extra_parameters()


@pytest.mark.parametrize('output_stride', [8, 16, 32])
def test_resnet50_returns_layer1_to_layer4_at_the_requested_output_stride(output_stride):
    net = resnet.resnet50(output_stride=output_stride).eval()
    with torch.no_grad():
        features = net(torch.randn(1, 3, 64, 96))
    strides = (4, 8, min(16, output_stride), output_stride)
    assert [f.shape for f in features] == [(1, c, 64 // s, 96 // s) for c, s in zip(net.channels, strides)]
    assert net.channels == (256, 512, 1024, 2048)


def test_resnet_dilates_layer3_by_2_and_layer4_by_4_at_output_stride_8():
    net = resnet.resnet50(output_stride=8)
    assert {b.conv2.dilation for b in net.layer3} == {(2, 2)}
    assert {b.conv2.dilation for b in net.layer4} == {(4, 4)}
    assert all(m.stride == (1, 1) for layer in (net.layer3, net.layer4) for m in layer.modules()
               if isinstance(m, torch.nn.Conv2d))


def test_resnet_rejects_an_unsupported_output_stride():
    with pytest.raises(ValueError, match='output_stride'):
        resnet.resnet50(output_stride=4)


@pytest.mark.parametrize('constructor', [frrn.frrn_a, frrn.frrn_b, frrn.frrn_cpu])
def test_frrn_returns_logits_at_the_input_size(constructor):
    net = constructor(num_classes=11).eval()
    with torch.no_grad():
        assert net(torch.randn(1, 3, 64, 96)).shape == (1, 11, 64, 96)


def test_frrn_cpu_trains_end_to_end():
    net = frrn.frrn_cpu(num_classes=5).train()
    logits = net(torch.randn(2, 3, 32, 48))
    torch.nn.functional.cross_entropy(logits, torch.randint(0, 5, (2, 32, 48))).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())


@pytest.mark.parametrize('constructor, size, message', [
    (frrn.frrn_a, (361, 480), 'divisible by 16; got 361 x 480; pad or resize to 368 x 480'),
    (frrn.frrn_cpu, (360, 480), 'divisible by 16; got 360 x 480; pad or resize to 368 x 480'),
    (frrn.frrn_b, (64, 80), 'divisible by 32; got 64 x 80; pad or resize to 64 x 96'),
])
def test_frrn_rejects_sizes_it_cannot_pool_and_says_how_to_fix_it(constructor, size, message):
    with pytest.raises(ValueError, match=message):
        constructor(num_classes=3)(torch.zeros(1, 3, *size))


def test_frrn_cpu_exports_to_onnx_opset_17_and_matches_pytorch_in_onnxruntime():
    onnx = pytest.importorskip('onnx')
    ort = pytest.importorskip('onnxruntime')
    torch.manual_seed(0)
    net = frrn.frrn_cpu(num_classes=11).eval()
    for m in net.modules():  # non-trivial batch-norm statistics, as after training
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
    from seg_perception.export import quiet_legacy_export
    buffer = io.BytesIO()
    with quiet_legacy_export():
        torch.onnx.export(net, torch.zeros(1, 3, 64, 64), buffer, opset_version=17, dynamo=False,
                          input_names=['image'], output_names=['logits'],
                          dynamic_axes={'image': {0: 'n', 2: 'h', 3: 'w'}, 'logits': {0: 'n', 2: 'h', 3: 'w'}})
    model = onnx.load_from_string(buffer.getvalue())
    assert model.opset_import[0].version == 17
    # static-shape operators only: no adaptive pooling, no data-dependent shapes
    assert {n.op_type for n in model.graph.node} <= {'Conv', 'Relu', 'MaxPool', 'Resize', 'Concat', 'Add',
                                                     'Constant', 'Identity'}
    session = ort.InferenceSession(buffer.getvalue(), providers=['CPUExecutionProvider'])
    for size in ((64, 64), (32, 48)):
        image = torch.randn(1, 3, *size)
        with torch.no_grad():
            expected = net(image).numpy()
        (actual,) = session.run(None, {'image': image.numpy()})
        assert actual.shape == expected.shape
        assert np.mean(actual.argmax(1) == expected.argmax(1)) >= 0.999
        assert np.abs(actual - expected).max() <= 1e-3 * np.abs(expected).max()

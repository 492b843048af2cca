"""Backend selection: the tensorrt backend's errors and its binding logic, fallback, torch options, several cameras.

TensorRT and pycuda cannot be installed on a machine without a GPU, so the tensorrt backend's run path is
checked against stand-ins (``fake_tensorrt``) that follow the TensorRT 10 and pycuda calls the backend makes
and run the ONNX graph with ONNX Runtime. They show that tensors are bound by name, buffers are allocated once,
batches above the engine's maximum are split, and the engine rules are applied; not that TensorRT accepts the
graph or that the numbers on a GPU are right (benchmarks/gpu.py checks that on a GPU).
"""

import importlib.util
import os
import sys
import types

import numpy as np
import pytest

from seg_perception import backends
from seg_perception.backends import BackendUnavailable, auto, create_with_fallback
from seg_perception.model_files import ModelFiles
from seg_perception.segmenter import InputError, Segmenter
from seg_perception.tensorrt.files import EngineFacts, EngineStale, Platform, engine_name, onnx_sha256, write_engine

from conftest import _tiny_net

needs_no_tensorrt = pytest.mark.skipif(importlib.util.find_spec('tensorrt') is not None,
                                       reason='TensorRT is installed here')


@pytest.fixture
def model(tiny_model):
    return ModelFiles.load(str(tiny_model))


def frames(n, hw=(48, 64), seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, *hw, 3), dtype=np.uint8)


# -- the tensorrt backend where TensorRT is missing -----------------------------------------------------------------

@needs_no_tensorrt
def test_tensorrt_backend_says_what_is_missing_and_how_to_install_it(model):
    with pytest.raises(BackendUnavailable) as error:
        backends.create('tensorrt', model)
    message = str(error.value)
    assert 'missing the tensorrt Python package' in message and 'pip install' in message
    assert 'fallback_backend' in message


@needs_no_tensorrt
def test_fallback_runs_onnxruntime_and_says_why(model):
    backend, warning = create_with_fallback('tensorrt', model, fallback='onnxruntime', precision='int8',
                                            engine_rebuild='auto', max_batch=4, threads=1)
    assert backend.name == 'onnxruntime' and backend.threads == 1
    assert warning.startswith('backend tensorrt unavailable, running on the fallback onnxruntime cpu')
    assert 'missing the tensorrt Python package' in warning
    direct = backends.create('onnxruntime', model, threads=1).infer(frames(2))
    np.testing.assert_array_equal(backend.infer(frames(2))[0], direct[0])


@needs_no_tensorrt
def test_without_fallback_the_error_propagates(model):
    for fallback in (None, 'none'):
        with pytest.raises(BackendUnavailable, match='tensorrt'):
            create_with_fallback('tensorrt', model, fallback=fallback)


def test_available_backend_needs_no_fallback_and_gives_no_warning(model):
    backend, warning = create_with_fallback('onnxruntime', model, fallback='torch', threads=1)
    assert backend.name == 'onnxruntime' and warning == ''


def test_fallback_configuration_errors(model):
    with pytest.raises(ValueError, match='is the backend itself'):
        create_with_fallback('onnxruntime', model, fallback='onnxruntime')
    with pytest.raises(ValueError, match="unknown backend 'openvx'"):
        create_with_fallback('onnxruntime', model, fallback='openvx')


# -- the tensorrt backend's run path, on stand-ins for TensorRT 10 and pycuda ---------------------------------------

class FakeCuda:
    """The pycuda.driver calls the backend makes; device memory is host memory keyed by address."""

    def __init__(self):
        self.memory, self.allocations, self.pinned, self.pushed = {}, 0, 0, 0
        cuda = self

        class Device:
            def __init__(self, index):
                pass

            @staticmethod
            def count():
                return 1

            def compute_capability(self):
                return (9, 0)

            def name(self):
                return 'Fake H100'

            def retain_primary_context(self):
                return types.SimpleNamespace(push=cuda._push)

        class Context:
            @staticmethod
            def pop():
                cuda.pushed -= 1

        self.Device, self.Context = Device, Context
        self.Stream = lambda: types.SimpleNamespace(handle=7, synchronize=lambda: None)

    def _push(self):
        self.pushed += 1

    def init(self):
        pass

    def mem_alloc(self, nbytes):
        self.allocations += 1
        address = 4096 * (len(self.memory) + 1)
        self.memory[address] = bytearray(nbytes)
        return address

    def pagelocked_empty(self, shape, dtype):
        self.pinned += 1
        return np.empty(shape, dtype)

    def memcpy_htod_async(self, device, host, stream):
        self.memory[int(device)][:host.nbytes] = np.ascontiguousarray(host).tobytes()

    def memcpy_dtoh_async(self, host, device, stream):
        host[...] = np.frombuffer(bytes(self.memory[int(device)][:host.nbytes]), host.dtype).reshape(host.shape)


def fake_tensorrt(cuda, max_batch):
    """The TensorRT 10 runtime calls the backend makes; an engine file holds the ONNX graph, run by ONNX Runtime."""
    import onnxruntime as ort

    trt = types.ModuleType('tensorrt')
    trt.__version__ = '10.3.0'
    trt.runs = []
    trt.nptype = lambda dtype: dtype
    trt.Logger = type('Logger', (), {'WARNING': 2, '__init__': lambda self, level: None})

    class Context:
        def __init__(self, engine):
            self.engine, self.address, self.shape = engine, {}, None

        def set_tensor_address(self, name, address):
            self.address[name] = address

        def set_input_shape(self, name, shape):
            assert name == 'image'
            self.shape = tuple(shape)

        def execute_async_v3(self, stream_handle):
            n = self.shape[0]
            assert stream_handle == 7 and 1 <= n <= max_batch
            image = np.frombuffer(bytes(cuda.memory[self.address['image']][:int(np.prod(self.shape))]),
                                  np.uint8).reshape(self.shape)
            labels, margin = self.engine.session.run(['labels', 'margin'], {'image': image})
            for name, value in (('labels', labels), ('margin', margin)):
                cuda.memory[self.address[name]][:value.nbytes] = value.tobytes()
            trt.runs.append(n)
            return True

    class Engine:
        names = ('image', 'labels', 'margin')
        num_io_tensors = 3

        def __init__(self, data):
            self.session = ort.InferenceSession(data, providers=['CPUExecutionProvider'])
            self.hw = tuple(self.session.get_inputs()[0].shape[1:3])

        def get_tensor_name(self, i):
            return self.names[i]

        def get_tensor_dtype(self, name):
            return np.float32 if name == 'margin' else np.uint8

        def get_tensor_profile_shape(self, name, profile):
            return (1, *self.hw, 3), (1, *self.hw, 3), (max_batch, *self.hw, 3)

        def create_execution_context(self):
            return Context(self)

    class Runtime:
        def __init__(self, logger):
            pass

        def deserialize_cuda_engine(self, data):
            return Engine(data) if data.startswith(b'\x08') else None     # an ONNX protobuf starts with field 1

    trt.Runtime = Runtime
    return trt


@pytest.fixture
def fake_gpu(monkeypatch):
    """Stand-ins for tensorrt and pycuda.driver in sys.modules; returns (trt, cuda). Engines take batch <= 3."""
    cuda = FakeCuda()
    trt = fake_tensorrt(cuda, max_batch=3)
    pycuda = types.ModuleType('pycuda')
    driver = types.ModuleType('pycuda.driver')
    for name in ('Device', 'Context', 'Stream', 'init', 'mem_alloc', 'pagelocked_empty', 'memcpy_htod_async',
                 'memcpy_dtoh_async'):
        setattr(driver, name, getattr(cuda, name))
    pycuda.driver = driver
    monkeypatch.setitem(sys.modules, 'tensorrt', trt)
    monkeypatch.setitem(sys.modules, 'pycuda', pycuda)
    monkeypatch.setitem(sys.modules, 'pycuda.driver', driver)
    return trt, cuda


def write_fake_engine(model, folder, max_batch=3, trt_version='10.3.0'):
    """An 'engine' for the stand-ins (the ONNX bytes) with the facts a build on the fake H100 writes."""
    platform = Platform('9.0', trt_version, 'Fake H100')
    path = os.path.join(folder, engine_name(model.name, 'fp16', platform, onnx_sha256(model)))
    with open(model.path('onnx'), 'rb') as f:
        data = f.read()
    write_engine(path, data, EngineFacts(model.name, 'fp16', '9.0', trt_version, onnx_sha256(model),
                                         model.input_hw, 1, max_batch))
    return path


def test_tensorrt_backend_binds_by_name_allocates_once_and_splits_large_batches(model, fake_gpu, tmp_path):
    trt, cuda = fake_gpu
    path = write_fake_engine(model, str(tmp_path))
    backend = backends.create('tensorrt', model, precision='fp16', max_batch=2, engine_dir=str(tmp_path))
    assert backend.engine_path == path and backend.max_batch == 3 and not backend.resolved.rebuilt
    assert backend.describe() == f'tensorrt fp16 on Fake H100 (batch <= 3, {os.path.basename(path)})'
    assert (cuda.allocations, cuda.pinned) == (3, 3)
    reference = backends.create('onnxruntime', model, threads=1)
    for n in (1, 3, 5):
        labels, margin = backend.infer(frames(n, seed=n))
        expected = reference.infer(frames(n, seed=n))
        np.testing.assert_array_equal(labels, expected[0])
        np.testing.assert_allclose(margin, expected[1], atol=1e-6)
        assert labels.dtype == np.uint8 and margin.dtype == np.float32
    assert trt.runs == [1, 3, 3, 2]                             # 5 images: runs of 3 and 2
    assert (cuda.allocations, cuda.pinned, cuda.pushed) == (3, 3, 0)    # nothing allocated per frame
    with pytest.raises(ValueError, match='expected N x 48 x 64 x 3 uint8'):
        backend.infer(frames(1, hw=(32, 32)))


def test_tensorrt_backend_refuses_an_engine_for_another_tensorrt(model, fake_gpu, tmp_path):
    write_fake_engine(model, str(tmp_path), trt_version='10.0.1')
    with pytest.raises(EngineStale, match='built with TensorRT 10.0.1, this machine has TensorRT 10.3.0'):
        backends.create('tensorrt', model, engine_dir=str(tmp_path))


def test_tensorrt_backend_refuses_a_batch_range_too_small_for_the_cameras(model, fake_gpu, tmp_path):
    write_fake_engine(model, str(tmp_path), max_batch=2)
    with pytest.raises(EngineStale, match='batch range 1..2 does not cover 4'):
        backends.create('tensorrt', model, max_batch=4, engine_dir=str(tmp_path))


def test_tensorrt_backend_rebuilds_with_auto_only_when_needed(model, fake_gpu, tmp_path, monkeypatch):
    from seg_perception.tensorrt import build as engine_build

    builds = []

    def build_engine(model_files, settings, folder, log):
        builds.append((settings.precision, settings.max_batch))
        write_fake_engine(model_files, folder, max_batch=settings.max_batch)

    monkeypatch.setattr(engine_build, 'build_engine', build_engine)
    options = dict(precision='fp16', max_batch=3, engine_rebuild='auto', engine_dir=str(tmp_path))
    first = backends.create('tensorrt', model, **options)
    assert first.resolved.rebuilt and 'no engine built yet' in first.resolved.reason and builds == [('fp16', 3)]
    second = backends.create('tensorrt', model, **options)
    assert not second.resolved.rebuilt and builds == [('fp16', 3)]


def test_failed_auto_rebuild_is_refused_with_the_build_error(model, fake_gpu, tmp_path):
    with pytest.raises(EngineStale, match='engine_rebuild auto: building the int8 engine of tiny failed: an INT8 '
                                          'build needs calibration data'):
        backends.create('tensorrt', model, precision='int8', engine_rebuild='auto', engine_dir=str(tmp_path))


def test_stale_engine_with_a_fallback_runs_the_fallback_and_says_why(model, fake_gpu, tmp_path):
    write_fake_engine(model, str(tmp_path), trt_version='8.6.1')
    backend, warning = create_with_fallback('tensorrt', model, fallback='onnxruntime', engine_dir=str(tmp_path))
    assert backend.name == 'onnxruntime' and 'built with TensorRT 8.6.1' in warning


# -- backend auto: tensorrt on a GPU with an engine, else openvino where installed, else onnxruntime -------------------

def test_auto_takes_tensorrt_on_a_gpu_with_an_engine_and_says_why(model, fake_gpu, tmp_path):
    write_fake_engine(model, str(tmp_path))
    assert auto.tensorrt_check(model, precision='fp16', engine_dir=str(tmp_path)) is None
    backend = backends.create('auto', model, precision='fp16', engine_dir=str(tmp_path), threads=1,
                              inference_precision='auto', max_batch=1)
    assert backend.name == 'tensorrt' and backend.selection == 'auto chose tensorrt: NVIDIA GPU, engine found (fp16)'
    np.testing.assert_array_equal(backend.infer(frames(1))[0],
                                  backends.create('onnxruntime', model, threads=1).infer(frames(1))[0])


def test_auto_passes_over_a_gpu_without_an_engine_saying_how_to_build_one(model, fake_gpu, tmp_path):
    why = auto.tensorrt_check(model, precision='fp16', engine_dir=str(tmp_path))
    assert why.startswith('Fake H100 found but no engine built yet') and 'build-engine' in why
    write_fake_engine(model, str(tmp_path), trt_version='10.0.1')       # an engine, but for another TensorRT
    assert 'no engine matches' in auto.tensorrt_check(model, precision='fp16', engine_dir=str(tmp_path))
    choice = auto.choose(model, checks={'openvino': lambda **_: (None, 'OpenVINO not installed')},
                         precision='fp16', engine_dir=str(tmp_path))
    assert choice.name == 'onnxruntime' and choice.passed_over[0][0] == 'tensorrt'
    # engine_rebuild auto builds the engine at the start: the GPU is taken
    assert auto.tensorrt_check(model, engine_rebuild='auto', engine_dir=str(tmp_path)) is None


def test_auto_order_and_the_reasons_it_gives():
    def checks(tensorrt, openvino):
        return {'tensorrt': lambda model, **_: tensorrt, 'openvino': lambda **_: openvino}

    on_gpu = auto.choose(None, checks(None, ('OpenVINO 2026.4.1, CPU with AMX -> bf16', '')))
    assert on_gpu.name == 'tensorrt' and on_gpu.passed_over == []
    on_cpu = auto.choose(None, checks('TensorRT not installed', ('OpenVINO 2026.4.1, CPU with AMX -> bf16', '')))
    assert on_cpu.reason() == ('auto chose openvino: OpenVINO 2026.4.1, CPU with AMX -> bf16; passed over tensorrt: '
                               'TensorRT not installed')
    plain = auto.choose(None, checks('no CUDA GPU found', (None, 'OpenVINO not installed')))
    assert plain.reason() == ('auto chose onnxruntime: the base install\'s engine; passed over tensorrt: no CUDA GPU '
                              'found; openvino: OpenVINO not installed')


def test_auto_falls_through_when_the_chosen_backend_cannot_start(model):
    built = []

    def build(name, model_files, **options):
        built.append(name)
        if name == 'openvino':
            raise BackendUnavailable('cannot compile the model for a batch of 1 on the CPU')
        return backends.create(name, model_files, **options)

    checks = {'tensorrt': lambda model, **_: 'TensorRT not installed',
              'openvino': lambda **_: ('OpenVINO 2026.4.1, CPU with AMX -> bf16', '')}
    backend = auto.create_auto(model, checks=checks, build=build, threads=1)
    assert built == ['openvino', 'onnxruntime'] and backend.name == 'onnxruntime'
    assert backend.selection.startswith('auto chose onnxruntime: ')
    assert 'openvino: could not start: cannot compile the model' in backend.selection


@pytest.mark.parametrize('flags, capabilities, case, precision', [
    ({'avx512f', 'amx_bf16', 'amx_tile', 'avx512_bf16'}, ('FP32', 'BF16'), 'CPU with AMX', 'bf16'),
    ({'avx512f', 'avx512_bf16'}, ('FP32', 'BF16'), 'CPU with AVX-512 BF16 (no AMX)', 'bf16'),
    ({'avx2', 'avx_vnni'}, ('FP32',), 'CPU without bf16, with VNNI', 'f32'),
    ({'avx2'}, ('FP32',), 'CPU without bf16 or VNNI', 'f32'),
    (None, ('FP32', 'BF16'), 'CPU with bf16', 'bf16'),
    (None, ('FP32',), 'CPU without bf16', 'f32'),
])
def test_the_cpu_case_auto_reports(flags, capabilities, case, precision):
    said, runs = auto.cpu_case(flags, capabilities)
    assert said.startswith(case) and runs == precision


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    (tmp_path / 'cpuinfo').write_text('processor\t: 0\nflags\t\t: fpu avx2 amx_bf16\n')
    assert auto.cpu_flags(str(tmp_path / 'cpuinfo')) == {'fpu', 'avx2', 'amx_bf16'}
    assert auto.cpu_flags(str(tmp_path / 'missing')) is None


@needs_no_tensorrt
def test_auto_without_openvino_runs_onnxruntime_and_says_what_openvino_would_give(model, monkeypatch):
    monkeypatch.setitem(sys.modules, 'openvino', None)      # import openvino raises ModuleNotFoundError
    monkeypatch.setattr(auto, 'cpu_flags', lambda: frozenset({'amx_bf16', 'avx512_bf16'}))
    backend = backends.create('auto', model, threads=1)
    assert backend.name == 'onnxruntime'
    assert backend.selection == ('auto chose onnxruntime: the base install\'s engine; passed over tensorrt: TensorRT '
                                 'not installed; openvino: OpenVINO not installed (this is a CPU with AMX: pip '
                                 'install openvino runs it in bf16, 2-3x ONNX Runtime)')
    monkeypatch.setattr(auto, 'cpu_flags', lambda: frozenset({'avx2'}))
    assert auto.openvino_check() == (None, 'OpenVINO not installed')


@needs_no_tensorrt
def test_auto_takes_openvino_where_it_is_installed_with_labels_as_onnxruntime(model, tmp_path, rgb_frame):
    ov = pytest.importorskip('openvino')
    seg = Segmenter.from_model(model.manifest_path, backend='auto', threads=1, engine_dir=str(tmp_path))
    case, precision = auto.cpu_case(auto.cpu_flags(), ov.Core().get_property('CPU', 'OPTIMIZATION_CAPABILITIES'))
    assert seg.backend.name == 'openvino' and seg.backend.precision == precision
    assert seg.backend.selection == (f'auto chose openvino: OpenVINO {ov.__version__.split("-")[0]}, {case} -> '
                                     f'{precision}; passed over tensorrt: TensorRT not installed')
    reference = Segmenter.from_model(model.manifest_path, backend='onnxruntime', threads=1)
    assert (seg.segment(rgb_frame).labels == reference.segment(rgb_frame).labels).mean() >= 0.99


def test_segmenter_default_and_the_node_default_to_auto():
    import inspect

    assert inspect.signature(Segmenter.default).parameters['backend'].default == 'auto'
    assert backends.choices()[0] == 'auto' and 'auto' not in backends.names()
    with pytest.raises(ValueError, match='fallback backend auto'):
        create_with_fallback('onnxruntime', None, fallback='auto')


# -- the torch backend's GPU options on the CPU ---------------------------------------------------------------------

def test_torch_gpu_options_are_refused_on_the_cpu_with_the_reason(model):
    for option in ('half', 'cuda_graphs'):
        with pytest.raises(ValueError, match=f'{option} needs a CUDA device'):
            backends.create('torch', model, device='cpu', module=_tiny_net(len(model.classes)), **{option: True})


@pytest.mark.skipif(importlib.util.find_spec('torch') is None or __import__('torch').cuda.is_available(),
                    reason='needs torch without CUDA')
def test_torch_on_cuda_without_a_gpu_is_unavailable(model):
    with pytest.raises(BackendUnavailable, match='needs a CUDA GPU'):
        backends.create('torch', model, device='cuda', module=_tiny_net(len(model.classes)))


def test_torch_channels_last_on_the_cpu_gives_the_same_labels(model, single_thread_torch):
    plain = backends.create('torch', model, device='cpu', module=_tiny_net(len(model.classes)))
    channels_last = backends.create('torch', model, device='cpu', module=_tiny_net(len(model.classes)),
                                    channels_last=True)
    assert plain.describe() == 'torch on cpu' and channels_last.describe() == 'torch on cpu (channels-last)'
    a, b = plain.infer(frames(2)), channels_last.infer(frames(2))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_allclose(a[1], b[1], atol=1e-5)


# -- several cameras in one run ------------------------------------------------------------------------------------

def test_segment_cameras_gives_each_camera_its_own_checks_in_one_backend_call(model):
    from seg_perception.ambiguity import TemporalFlipCheck

    segmenter = Segmenter(model, backends.create('onnxruntime', model, threads=1))
    calls = []
    infer = segmenter.backend.infer
    segmenter.backend.infer = lambda batch: calls.append(len(batch)) or infer(batch)
    images = [frames(1, hw=(120, 160), seed=1)[0], frames(1, hw=(96, 128), seed=2)[0]]
    temporals = [TemporalFlipCheck(), TemporalFlipCheck()]
    batched = segmenter.segment_cameras(images, [None, None], temporals)
    assert calls == [2]
    for image, result in zip(images, batched):
        alone = Segmenter(model, backends.create('onnxruntime', model, threads=1)).segment(image)
        assert result.labels.shape == image.shape[:2]
        np.testing.assert_array_equal(result.labels, alone.labels)
    with pytest.raises(ValueError, match='one camera model and one temporal check per image'):
        segmenter.segment_cameras(images, [None], temporals)


def test_inferring_the_next_frames_before_finishing_these_gives_the_same_results(model):
    # the node's pipeline: the network runs frame 2 before frame 1's checks; each camera's state sees them in order
    from seg_perception.ambiguity import TemporalFlipCheck
    from seg_perception.trust import TrustMonitor

    serial = Segmenter(model, backends.create('onnxruntime', model, threads=1))
    piped = Segmenter(model, backends.create('onnxruntime', model, threads=1))
    images = [frames(1, hw=(120, 160), seed=s)[0] for s in (1, 2, 3)]
    states = [(TemporalFlipCheck(), TrustMonitor()) for _ in range(2)]
    expected = [serial.segment_cameras([im], [None], [states[0][0]], [states[0][1]])[0] for im in images]
    first = piped.infer_cameras([images[0]])
    results = []
    for im in images[1:] + [None]:
        following = piped.infer_cameras([im]) if im is not None else None
        results += piped.finish_cameras(first, [None], [states[1][0]], [states[1][1]])
        first = following
    for want, got in zip(expected, results):
        np.testing.assert_array_equal(got.labels, want.labels)
        np.testing.assert_array_equal(got.drivable, want.drivable)
        assert got.degraded == want.degraded and got.degraded_reasons == want.degraded_reasons
        assert got.alarm == want.alarm and set(got.timings_ms) == set(want.timings_ms)
    with pytest.raises(InputError):
        piped.infer_cameras([np.zeros((10, 10), np.uint8)])


# -- the GPU benchmark on a machine without a GPU ------------------------------------------------------------------

@pytest.mark.skipif(importlib.util.find_spec('torch') is None or __import__('torch').cuda.is_available(),
                    reason='needs a machine without CUDA')
def test_gpu_benchmark_says_there_is_no_gpu_and_exits_cleanly():
    import subprocess

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run([sys.executable, os.path.join(root, 'benchmarks', 'gpu.py')], capture_output=True,
                            text=True, cwd=root, timeout=120)
    assert result.returncode == 0, result.stderr
    assert 'no CUDA GPU here' in result.stdout and 'nothing measured' in result.stdout
    assert 'Traceback' not in result.stderr

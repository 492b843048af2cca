"""``backend: auto``: the fastest backend that gives the same labels, and why it was chosen.

In this order: ``tensorrt`` on an NVIDIA GPU with TensorRT 10, pycuda and an engine for the model (or
``engine_rebuild: auto``, which builds one); else ``openvino`` where it is installed and sees the CPU; else
``onnxruntime``. OpenVINO at its default precision runs bf16 on a CPU with AMX or AVX-512 BF16 (2.3x ONNX Runtime
on an AMX Xeon, labels 99.8% equal) and f32 elsewhere (about ONNX Runtime's speed, the same labels); on a CPU
with VNNI but no bf16, a quantised model (benchmarks/openvino_int8.py) is what gains. :func:`choose` looks at
the machine without building a backend, so ``bench`` and the node can say what auto takes and why;
:func:`create_auto` builds it, and falls through to the next candidate when one cannot be built after all.
"""

from dataclasses import dataclass, field
from typing import Callable, FrozenSet, List, Optional, Tuple

from . import Backend, BackendUnavailable, create, options_for
from ..model_files import ModelFiles

ORDER = ('tensorrt', 'openvino', 'onnxruntime')


@dataclass
class Choice:
    """The backend auto takes (``name``), why (``why``), and why each one before it was passed over."""

    name: str
    why: str
    passed_over: List[Tuple[str, str]] = field(default_factory=list)

    def reason(self) -> str:
        """One line: 'auto chose openvino: OpenVINO 2026.4.1, CPU with AMX -> bf16; passed over tensorrt: ...'."""
        over = '; '.join(f'{name}: {why}' for name, why in self.passed_over)
        return f'auto chose {self.name}: {self.why}' + (f'; passed over {over}' if over else '')


def cpu_flags(path: str = '/proc/cpuinfo') -> Optional[FrozenSet[str]]:
    """The CPU's feature flags (Linux /proc/cpuinfo), or None where they cannot be read."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(('flags', 'Features')):
                    return frozenset(line.partition(':')[2].split())
    except OSError:
        pass
    return None


def cpu_case(flags: Optional[FrozenSet[str]], capabilities=()) -> Tuple[str, str]:
    """(which case this CPU is in, the precision OpenVINO's default runs on it) from its flags.

    Without flags (not Linux), OpenVINO's OPTIMIZATION_CAPABILITIES of the CPU decide between bf16 and f32.
    """
    bf16 = 'BF16' in capabilities
    if flags is None:
        return ('CPU with bf16' if bf16 else 'CPU without bf16'), ('bf16' if bf16 else 'f32')
    if 'amx_bf16' in flags:
        return 'CPU with AMX', 'bf16'
    if 'avx512_bf16' in flags:
        return 'CPU with AVX-512 BF16 (no AMX)', 'bf16'
    if {'avx512_vnni', 'avx_vnni', 'asimddp'} & flags:
        return 'CPU without bf16, with VNNI (an int8 model is the one that gains: benchmarks/openvino_int8.py)', 'f32'
    return 'CPU without bf16 or VNNI (OpenVINO f32 runs at about ONNX Runtime\'s speed)', 'f32'


def tensorrt_check(model: ModelFiles, precision: str = 'fp16', max_batch: int = 1, engine_dir: Optional[str] = None,
                   engine_rebuild: str = 'never', engine: Optional[str] = None, **_) -> Optional[str]:
    """None where the tensorrt backend can run ``model`` here (GPU, runtime and an engine); else why not."""
    from ..tensorrt.build import device_context, gpu_platform, import_runtime
    from ..tensorrt.files import find_engine

    try:
        trt, cuda = import_runtime()
    except BackendUnavailable as e:
        text = str(e)
        return 'TensorRT not installed' if 'missing the tensorrt Python package' in text else text.split(';')[0]
    if engine or engine_rebuild == 'auto':      # an engine file named, or one to build at the start
        return None
    with device_context(cuda):
        platform = gpu_platform(trt, cuda)
    lookup = find_engine(model, precision, platform, max_batch, engine_dir)
    if lookup.ok:
        return None
    return (f'{platform.gpu_name or "an NVIDIA GPU"} found but {lookup.why().splitlines()[0]}; build it with '
            f'seg-perception build-engine or set engine_rebuild to auto')


def openvino_check(inference_precision: str = 'auto', **_) -> Tuple[Optional[str], str]:
    """(why openvino suits this machine, '') where it is installed and sees a CPU; else (None, why not)."""
    from .openvino_backend import DEVICE, import_openvino, openvino_version

    try:
        ov = import_openvino()
    except BackendUnavailable:
        return None, 'OpenVINO not installed' + install_hint()
    version = openvino_version(ov)
    try:
        core = ov.Core()
        devices = core.available_devices
        capabilities = core.get_property(DEVICE, 'OPTIMIZATION_CAPABILITIES') if DEVICE in devices else ()
    except Exception as e:  # noqa: BLE001 - OpenVINO raises RuntimeError subclasses of its own
        return None, f'OpenVINO {version} installed but does not start: {e}'
    if DEVICE not in devices:
        return None, f'OpenVINO {version} installed but sees no CPU device (devices: {", ".join(devices) or "none"})'
    case, precision = cpu_case(cpu_flags(), capabilities)
    if inference_precision != 'auto':
        precision = f'{inference_precision} (openvino precision {inference_precision})'
    return f'OpenVINO {version}, {case} -> {precision}', ''


def install_hint() -> str:
    """What installing OpenVINO would give on this CPU ('' where it gives little)."""
    case, precision = cpu_case(cpu_flags())
    if precision == 'bf16':
        return f' (this is a {case}: pip install openvino runs it in bf16, 2-3x ONNX Runtime)'
    return ''


def choose(model: ModelFiles, checks: Optional[dict] = None, **options) -> Choice:
    """The backend auto takes for ``model`` with the node's or the command line's backend ``options``.

    ``checks``: name -> check function, for tests (default: :func:`tensorrt_check`, :func:`openvino_check`).
    """
    checks = {'tensorrt': tensorrt_check, 'openvino': openvino_check, **(checks or {})}
    passed_over = []
    why = checks['tensorrt'](model, **options)
    if why is None:
        gpu = 'engine_rebuild auto' if options.get('engine_rebuild') == 'auto' else 'engine found'
        return Choice('tensorrt', f'NVIDIA GPU, {gpu} ({options.get("precision", "fp16")})')
    passed_over.append(('tensorrt', why))
    suits, why = checks['openvino'](**options)
    if suits is not None:
        return Choice('openvino', suits, passed_over)
    passed_over.append(('openvino', why))
    return Choice('onnxruntime', 'the base install\'s engine', passed_over)


def create_auto(model: ModelFiles, checks: Optional[dict] = None,
                build: Callable[..., Backend] = create, **options) -> Backend:
    """The backend :func:`choose` takes, built; the next in :data:`ORDER` if it cannot be built after all.

    The backend's ``selection`` says what auto chose and why (the node's diagnostics and ``bench`` show it).
    """
    choice = choose(model, checks, **options)
    failed = []
    for name in ORDER[ORDER.index(choice.name):]:
        try:
            backend = build(name, model, **options_for(name, options))
        except BackendUnavailable as e:
            if name == ORDER[-1]:
                raise
            failed.append((name, f'could not start: {e}'))
            continue
        if name != choice.name:
            why = 'the base install\'s engine' if name == 'onnxruntime' else openvino_check(**options)[0] or ''
            choice = Choice(name, why, choice.passed_over + failed)
        backend.selection = choice.reason()
        return backend
    raise AssertionError('unreachable: onnxruntime either starts or raises')


def describe_choice(model: ModelFiles, **options) -> str:
    """What auto would take here and why, without building it (for ``bench`` and logs)."""
    return choose(model, **options).reason()

"""Build TensorRT engines from the ONNX graph: ``seg-perception build-engine`` (also ``seg-build-engine``).

One build = parse the ONNX file, set the precision (FP32, FP16, or INT8 with entropy calibration and chosen
layers kept in FP16), one optimisation profile for batch min..max at the model's input size, a workspace limit
and a timing cache shared by every build on the same GPU and TensorRT version; then serialize, and write the
engine with its facts (:mod:`seg_perception.tensorrt.files`) into the model's engine folder.

Written against the TensorRT 10 Python API (``tensorrt``) with ``pycuda`` for device memory. Neither is a
dependency of the package: without them, building fails with what is missing and how to install it.

    seg-perception build-engine --config engines/pspnet_lite0_camvid_wiseft.yaml   # every precision listed there
    seg-perception build-engine --precision int8 --max-batch 4 --calib-bag out/drive1 --calib-topic /image
    seg-perception build-engine --precision int8 --calib-images frames/ --keep-fp16 '^/model/head/' --keep-fp16 Softmax
"""

import argparse
import contextlib
import os
import re
import sys
from dataclasses import dataclass, replace
from typing import Callable, Optional, Sequence, Tuple

from ..backends import BackendUnavailable
from ..model_files import ModelFileError, ModelFiles, default_model
from .config import DEFAULT_WORKSPACE_MB, CalibrationConfig, ConfigError, EngineConfig, find_config, load_config
from .files import PRECISIONS, EngineFacts, Platform, engine_dir, engine_name, onnx_sha256, write_engine

INSTALL_HINT = ('install TensorRT 10 and pycuda: pip install "tensorrt-cu12>=10,<11" pycuda (or pip install -e '
                '".[tensorrt]"); both need an NVIDIA GPU and driver (on Jetson, TensorRT comes with JetPack); or '
                'run on another backend (onnxruntime, torch), e.g. with the fallback_backend parameter')

HELP = 'build TensorRT engines (FP32, FP16, INT8) from the ONNX graph'
DESCRIPTION = ('Build serialized TensorRT engines for this GPU into the model\'s engine folder, named by model, '
               'precision, compute capability, TensorRT version and ONNX hash, with a JSON of the same facts beside '
               'each. Settings come from engines/<model>.yaml and the options below. Needs TensorRT 10, pycuda and '
               'an NVIDIA GPU (--check does not).\n\nexamples:\n'
               '  seg-perception build-engine --config engines/pspnet_lite0_camvid_wiseft.yaml\n'
               '  seg-perception build-engine --precision int8 --max-batch 4 --calib-bag out/drive1 --calib-topic '
               '/image --keep-fp16 \'^/Softmax\'')

NO_CALIBRATION = ('an INT8 build needs calibration data: --calib-images FOLDER, or --calib-bag BAG with --calib-topic '
                  'TOPIC (or a calibration section in the model\'s YAML)')


class BuildError(RuntimeError):
    """TensorRT could not parse the graph or build the engine; the message carries TensorRT's own errors."""


def import_runtime():
    """``(tensorrt, pycuda.driver)`` initialised on a GPU, or BackendUnavailable saying what is missing."""
    missing = []
    try:
        import tensorrt as trt
    except Exception as e:  # noqa: BLE001 - a broken install raises more than ImportError
        trt = None
        missing.append(f'the tensorrt Python package ({type(e).__name__}: {e})')
    try:
        import pycuda.driver as cuda
    except Exception as e:  # noqa: BLE001 - pycuda raises ImportError or its own errors without a driver
        cuda = None
        missing.append(f'pycuda ({type(e).__name__}: {e})')
    if missing:
        raise BackendUnavailable(f'TensorRT is not usable here: missing {" and ".join(missing)}; {INSTALL_HINT}')
    major = int(str(trt.__version__).split('.')[0])
    if major < 10:
        raise BackendUnavailable(f'TensorRT {trt.__version__} is too old: the engine code uses the TensorRT 10 API '
                                 f'(execute_async_v3, tensors by name); {INSTALL_HINT}')
    try:
        cuda.init()
        count = cuda.Device.count()
    except Exception as e:  # noqa: BLE001 - pycuda.driver.Error without a driver
        raise BackendUnavailable(f'no usable NVIDIA driver ({e}); TensorRT needs a GPU and its driver') from None
    if count == 0:
        raise BackendUnavailable('no CUDA GPU found; TensorRT needs an NVIDIA GPU')
    return trt, cuda


def gpu_platform(trt, cuda, device: int = 0) -> Platform:
    """Compute capability and name of GPU ``device``, and the TensorRT version."""
    gpu = cuda.Device(device)
    major, minor = gpu.compute_capability()
    return Platform(f'{major}.{minor}', str(trt.__version__), gpu.name())


@contextlib.contextmanager
def device_context(cuda, device: int = 0):
    """The GPU's primary CUDA context (the one TensorRT uses), current for the duration of the block."""
    context = cuda.Device(device).retain_primary_context()
    context.push()
    try:
        yield context
    finally:
        cuda.Context.pop()


@dataclass
class BuildSettings:
    """Everything one build needs besides the model."""

    precision: str = 'fp16'
    min_batch: int = 1
    opt_batch: int = 1
    max_batch: int = 1
    workspace_mb: int = DEFAULT_WORKSPACE_MB
    timing_cache: str = ''                      # base path; the file used is per GPU and TensorRT version
    calibration: Optional[CalibrationConfig] = None
    keep_fp16: Tuple[str, ...] = ()

    @classmethod
    def from_config(cls, config: EngineConfig, precision: str, max_batch: int = 0) -> 'BuildSettings':
        """Settings for ``precision`` from a build configuration, the batch range raised to ``max_batch``."""
        top = max(config.max_batch, max_batch)
        return cls(precision, config.min_batch, min(config.opt_batch, top), top, config.workspace_mb,
                   config.timing_cache, config.calibration, config.keep_fp16)


def timing_cache_file(base: str, platform: Platform) -> str:
    """The timing cache for ``platform``: 'cache/timing.cache' -> 'cache/timing_sm90_trt10.3.0.cache'."""
    stem, ext = os.path.splitext(base)
    return f'{stem}_{platform.sm}_trt{platform.tensorrt_version}{ext or ".cache"}'


def default_settings(model: ModelFiles, precision: str, max_batch: int = 1) -> BuildSettings:
    """Build settings from the model's YAML (beside its manifest, or in the model folders), else plain defaults."""
    beside = os.path.join(model.folder, model.name + '.yaml')
    path = beside if os.path.isfile(beside) else find_config(model.name)
    if path:
        return BuildSettings.from_config(load_config(path), precision, max_batch)
    return BuildSettings(precision, max_batch=max_batch, timing_cache=os.path.join(engine_dir(model), 'timing.cache'))


def build_engine(model: ModelFiles, settings: BuildSettings, folder: Optional[str] = None,
                 log: Callable[[str], None] = print) -> Tuple[str, EngineFacts]:
    """Build, serialize and write the engine of ``model`` for this GPU; returns its path and facts."""
    if settings.precision not in PRECISIONS:
        raise ValueError(f'precision {settings.precision!r}: expected one of {", ".join(PRECISIONS)}')
    if settings.precision == 'int8' and settings.calibration is None:
        raise ConfigError(NO_CALIBRATION)
    trt, cuda = import_runtime()
    with device_context(cuda):
        platform = gpu_platform(trt, cuda)
        onnx_hash = onnx_sha256(model)
        path = os.path.join(engine_dir(model, folder), engine_name(model.name, settings.precision, platform,
                                                                   onnx_hash))
        log(f'building {path} on {platform.gpu_name} (compute capability {platform.compute_capability}, TensorRT '
            f'{platform.tensorrt_version}): batch {settings.min_batch}..{settings.max_batch}, workspace '
            f'{settings.workspace_mb} MB')
        serialized = serialize(trt, cuda, model.path('onnx'), model.input_hw, settings, platform, log)
    facts = EngineFacts(model.name, settings.precision, platform.compute_capability, platform.tensorrt_version,
                        onnx_hash, tuple(model.input_hw), settings.min_batch, settings.max_batch,
                        settings.opt_batch, platform.gpu_name, tuple(settings.keep_fp16), settings.workspace_mb)
    write_engine(path, serialized, facts)
    log(f'wrote {path} ({len(serialized) / 1e6:.1f} MB) and its facts beside it')
    return path, facts


def serialize(trt, cuda, onnx_path: str, input_hw: Tuple[int, int], settings: BuildSettings, platform: Platform,
              log: Callable[[str], None] = print) -> bytes:
    """Parse ``onnx_path`` and build a serialized engine with ``settings`` (the CUDA context must be current)."""
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)     # TensorRT 10: every network has an explicit batch dimension
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(onnx_path):
        errors = '\n'.join(f'  {parser.get_error(i)}' for i in range(parser.num_errors))
        raise BuildError(f'TensorRT cannot parse {onnx_path}:\n{errors}')
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, settings.workspace_mb << 20)

    h, w = input_hw
    profile = builder.create_optimization_profile()
    profile.set_shape('image', (settings.min_batch, h, w, 3), (settings.opt_batch, h, w, 3),
                      (settings.max_batch, h, w, 3))
    config.add_optimization_profile(profile)

    calibrator = None
    if settings.precision in ('fp16', 'int8'):
        config.set_flag(trt.BuilderFlag.FP16)   # in INT8 builds too: layers without an INT8 kernel fall to FP16
    if settings.precision == 'int8':
        calibrator = _int8(trt, cuda, builder, network, config, input_hw, settings, log)

    timing_cache = timing_cache_file(settings.timing_cache, platform) if settings.timing_cache else ''
    _load_timing_cache(config, timing_cache, log)
    serialized = builder.build_serialized_network(network, config)
    if calibrator is not None and calibrator.error is not None:
        raise calibrator.error
    if serialized is None:
        raise BuildError(f'TensorRT could not build an engine from {onnx_path} (its errors are logged above)')
    if timing_cache:
        _save_timing_cache(config, timing_cache)
    return bytes(serialized)


def _int8(trt, cuda, builder, network, config, input_hw, settings, log):
    """INT8 flags, the calibration profile and calibrator, and the layers kept in FP16."""
    calibration = settings.calibration
    if calibration is None:
        raise ConfigError(NO_CALIBRATION)
    config.set_flag(trt.BuilderFlag.INT8)
    h, w = input_hw
    shape = (calibration.batch_size, h, w, 3)
    profile = builder.create_optimization_profile()
    profile.set_shape('image', shape, shape, shape)
    config.set_calibration_profile(profile)
    calibrator = entropy_calibrator(trt, cuda, shape, calibration, input_hw)
    config.int8_calibrator = calibrator
    if settings.keep_fp16:
        kept = keep_in_fp16(trt, network, settings.keep_fp16)
        # obey, not prefer: a layer the user keeps in FP16 must not silently run in INT8
        config.set_flag(trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
        log(f'keeping {len(kept)} layer(s) in FP16: {", ".join(kept[:8])}{" ..." if len(kept) > 8 else ""}')
    return calibrator


def keep_in_fp16(trt, network, patterns: Sequence[str]) -> list:
    """Constrain the float layers whose names match any of ``patterns`` (regexes) to FP16; their names."""
    compiled = [re.compile(p) for p in patterns]
    floats = (trt.float32, trt.float16)
    kept, unused = [], set(patterns)
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        hits = [p.pattern for p in compiled if p.search(layer.name)]
        if not hits:
            continue
        unused -= set(hits)
        outputs = [layer.get_output(j) for j in range(layer.num_outputs)]
        if not outputs or any(t.dtype not in floats for t in outputs):
            continue        # shape, index and integer layers have no FP16 to keep
        layer.precision = trt.float16
        for j in range(layer.num_outputs):
            layer.set_output_type(j, trt.float16)
        kept.append(layer.name)
    if unused:
        examples = ', '.join(network.get_layer(i).name for i in range(min(network.num_layers, 5)))
        raise ConfigError(f'--keep-fp16: {", ".join(map(repr, sorted(unused)))} matched no layer; layer names '
                          f'look like: {examples}')
    return kept


def entropy_calibrator(trt, cuda, shape, calibration: CalibrationConfig, input_hw):
    """A trt.IInt8EntropyCalibrator2 fed from ``calibration``'s images, reading and writing its cache file."""
    import numpy as np

    from .calibration import batches, calibration_images

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        """Uploads one uint8 NHWC batch at a time into a device buffer allocated once."""

        def __init__(self):
            trt.IInt8EntropyCalibrator2.__init__(self)
            self.device = cuda.mem_alloc(int(np.prod(shape)))
            self.batches = None         # opened on the first request: a cache hit reads no images
            self.count = 0
            self.error = None           # exceptions cannot cross TensorRT's C++ frames: kept and raised after

        def get_batch_size(self):
            return shape[0]

        def get_batch(self, names):
            try:
                if self.batches is None:
                    self.batches = batches(calibration_images(calibration, input_hw), shape[0])
                batch = next(self.batches, None)
                if batch is None:
                    if self.count == 0:
                        raise BuildError(f'no calibration batch of {shape[0]} images from '
                                         f'{calibration.images or calibration.bag}')
                    return None
                cuda.memcpy_htod(self.device, np.ascontiguousarray(batch))
                self.count += 1
                return [int(self.device)]
            except Exception as e:  # noqa: BLE001 - see self.error
                self.error = e
                return None

        def read_calibration_cache(self):
            if calibration.cache and os.path.isfile(calibration.cache):
                with open(calibration.cache, 'rb') as f:
                    return f.read()
            return None

        def write_calibration_cache(self, cache):
            if calibration.cache:
                _write_atomic(calibration.cache, bytes(cache))

    return EntropyCalibrator()


def _write_atomic(path: str, data: bytes) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path + '.part', 'wb') as f:
        f.write(data)
    os.replace(path + '.part', path)


def _load_timing_cache(config, path: str, log) -> None:
    blob = b''
    if path and os.path.isfile(path):
        with open(path, 'rb') as f:
            blob = f.read()
    if not config.set_timing_cache(config.create_timing_cache(blob), False):
        log(f'timing cache {path} is from another GPU or TensorRT; starting an empty one')
        config.set_timing_cache(config.create_timing_cache(b''), False)


def _save_timing_cache(config, path: str) -> None:
    cache = config.get_timing_cache()
    if os.path.isfile(path):    # another build may have added timings since this one read the file: keep them
        with open(path, 'rb') as f:
            cache.combine(config.create_timing_cache(f.read()), False)
    _write_atomic(path, bytes(cache.serialize()))


# -- command line -------------------------------------------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``build-engine``; command-line values override the model's YAML configuration."""
    parser.add_argument('--model', default=None, help='model manifest/.onnx path or name (default: shipped)')
    parser.add_argument('--config', default=None,
                        help='build configuration YAML (default: <model>.yaml in the model folders, if any)')
    parser.add_argument('--precision', action='append', choices=PRECISIONS, default=None,
                        help='fp32, fp16 or int8; repeat for several (default: the configuration\'s, else fp16)')
    parser.add_argument('--min-batch', type=int, default=None, help='smallest batch the engine accepts')
    parser.add_argument('--opt-batch', type=int, default=None, help='the batch TensorRT tunes for')
    parser.add_argument('--max-batch', type=int, default=None, help='largest batch: the number of cameras')
    parser.add_argument('--workspace-mb', type=int, default=None, help='builder workspace limit in MB')
    parser.add_argument('--timing-cache', default=None, metavar='FILE',
                        help='timing cache base name (one file per GPU and TensorRT version is derived from it)')
    parser.add_argument('--calib-images', default=None, metavar='FOLDER', help='INT8 calibration images')
    parser.add_argument('--calib-bag', default=None, metavar='BAG', help='INT8 calibration from a rosbag2 bag...')
    parser.add_argument('--calib-topic', default=None, metavar='TOPIC', help='...and its image topic')
    parser.add_argument('--calib-limit', type=int, default=None, help='at most this many calibration images')
    parser.add_argument('--calib-batch', type=int, default=None, help='calibration batch size')
    parser.add_argument('--calib-cache', default=None, metavar='FILE',
                        help='calibration cache: reused when present (delete it to recalibrate)')
    parser.add_argument('--keep-fp16', action='append', default=None, metavar='LAYER_REGEX',
                        help='in INT8 builds, keep layers whose names match in FP16 (repeatable)')
    parser.add_argument('--out', default=None, metavar='FOLDER', help='engine folder (default: cache/ beside the '
                                                                      'model, or $SEG_PERCEPTION_ENGINE_DIR)')
    parser.add_argument('--check', action='store_true',
                        help='read the configuration and the calibration data, print the plan, build nothing '
                             '(runs without TensorRT)')


def plan(args) -> Tuple[ModelFiles, list]:
    """The model and one BuildSettings per precision, from ``args`` over the YAML configuration."""
    config_path = args.config
    model = ModelFiles.load(args.model) if args.model else None
    if config_path:
        config = load_config(config_path)
        if model is None:
            model = ModelFiles.load(config.manifest)
    else:
        model = model or default_model()
        config_path = find_config(model.name)
        config = load_config(config_path) if config_path else EngineConfig(path='', onnx=model.path('onnx'))
    if not config.timing_cache:
        config.timing_cache = os.path.join(engine_dir(model, args.out), 'timing.cache')
    calibration = config.calibration
    if args.calib_images or args.calib_bag:
        if args.calib_bag and not args.calib_topic:
            raise ConfigError('--calib-bag needs --calib-topic (the bag\'s Image or CompressedImage topic)')
        calibration = CalibrationConfig(images=args.calib_images or '', bag=args.calib_bag or '',
                                        topic=args.calib_topic or '',
                                        cache=calibration.cache if calibration else '')
    if calibration is not None:
        calibration = replace(calibration, **{k: v for k, v in (
            ('limit', args.calib_limit), ('batch_size', args.calib_batch), ('cache', args.calib_cache))
            if v is not None})
        if not calibration.cache:
            calibration.cache = os.path.join(engine_dir(model, args.out), f'{model.name}_int8.calib')
    settings = []
    for precision in args.precision or config.precisions:
        s = BuildSettings.from_config(config, precision)
        s.calibration = calibration
        for name in ('min_batch', 'opt_batch', 'max_batch', 'workspace_mb', 'timing_cache'):
            if getattr(args, name) is not None:
                setattr(s, name, getattr(args, name))
        if args.keep_fp16:
            s.keep_fp16 = tuple(args.keep_fp16)
        if args.max_batch is not None and args.opt_batch is None:
            s.opt_batch = min(s.opt_batch, s.max_batch)
        if args.min_batch is not None and args.opt_batch is None:
            s.opt_batch = max(s.opt_batch, s.min_batch)
        if not 1 <= s.min_batch <= s.opt_batch <= s.max_batch:
            raise ConfigError(f'batch range needs 1 <= min <= opt <= max, got {s.min_batch}, {s.opt_batch}, '
                              f'{s.max_batch}')
        if precision == 'int8' and s.calibration is None:
            raise ConfigError(NO_CALIBRATION)
        settings.append(s)
    return model, settings


def run(args) -> int:
    """``build-engine``: build (or with --check, plan) every requested engine; 0 on success, 2 on an error."""
    from .calibration import CalibrationDataError, calibration_images

    try:
        model, settings = plan(args)
        for s in settings:
            keep = f', keep FP16: {", ".join(s.keep_fp16)}' if s.precision == 'int8' and s.keep_fp16 else ''
            print(f'{model.name} {s.precision}: batch {s.min_batch}/{s.opt_batch}/{s.max_batch} (min/opt/max) at '
                  f'{model.input_hw[1]}x{model.input_hw[0]}, workspace {s.workspace_mb} MB, timing cache '
                  f'{s.timing_cache}{keep}')
        if args.check:
            for s in settings:
                if s.precision == 'int8':
                    count = sum(1 for _ in calibration_images(s.calibration, model.input_hw))
                    source = s.calibration.images or f'{s.calibration.bag} {s.calibration.topic}'
                    print(f'calibration: {count} images from {source} (batches of {s.calibration.batch_size}), '
                          f'cache {s.calibration.cache}')
                    break
            return 0
        for s in settings:
            build_engine(model, s, args.out)
        return 0
    except (BackendUnavailable, BuildError, ConfigError, CalibrationDataError, ModelFileError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2


def main(argv=None) -> int:
    """Entry point of ``seg-build-engine`` (for ``ros2 run``): ``seg-perception build-engine``'s options and run."""
    parser = argparse.ArgumentParser(prog='seg-build-engine', description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == '__main__':
    raise SystemExit(main())

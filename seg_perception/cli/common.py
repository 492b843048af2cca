"""What the commands share: the error they raise, the model options, the segmenter those make, checks of paths."""

import importlib
import os


_PACKAGE_NAMES = {'torch': 'PyTorch'}


class CommandError(Exception):
    """A command that cannot run as asked: ``main`` prints ``error: <message>`` and exits with ``status``."""

    def __init__(self, message: str, status: int = 2):
        super().__init__(message)
        self.status = status


def require(command: str, extra: str, *modules: str) -> None:
    """Import ``modules`` for ``command``, or raise CommandError naming the setup.py extra that installs them."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as e:
            why = '' if isinstance(e, ModuleNotFoundError) and e.name == module else f' (import failed: {e})'
            raise CommandError(f"{command} needs {_PACKAGE_NAMES.get(module, module)}{why}: "
                               f"pip install -e '.[{extra}]'") from None


def add_model_args(parser) -> None:
    """The model options of every command that runs Segmenter: --model, --backend, --threads and the rest.

    The rest: --inference-precision (openvino), --ego-mask (seg_perception.ego_mask), --aspect
    (seg_perception.framing) and --set (a setting of the checks or of denoising, seg_perception.safety_config).
    """
    from .. import backends
    from ..framing import ASPECTS, DEFAULT_ASPECT

    parser.add_argument('--model', default=None, help='model manifest/.onnx/.pt path or name (default: shipped)')
    parser.add_argument('--backend', default='onnxruntime', choices=backends.choices(),
                        help='inference backend (auto: the node\'s default, tensorrt, else openvino where '
                             'installed, else onnxruntime; openvino needs OpenVINO; torch PyTorch; tensorrt '
                             'TensorRT 10, pycuda and a GPU)')
    parser.add_argument('--threads', type=int, default=0, help='CPU threads for the backend (0 = all cores)')
    parser.add_argument('--inference-precision', default='auto', choices=('auto', 'f32', 'bf16', 'int8'),
                        help='openvino backend: auto (bf16 on CPUs with AMX, else f32), f32, bf16, or int8 for an '
                             'already quantised model')
    parser.add_argument('--ego-mask', default='', metavar='MASK',
                        help="the camera's own vehicle in view, as the node's ego_mask parameter: bottom:F (the "
                             "lowest fraction F of the rows), a mask PNG (non-zero: the vehicle) or auto (learned "
                             "from the first frames); those pixels are labelled 255 and never drivable")
    parser.add_argument('--aspect', default=DEFAULT_ASPECT, choices=ASPECTS,
                        help=f'a frame of another aspect than the network input: tiles (overlapping windows in one '
                             f'batch), letterbox (kept, padded) or squash (stretched); default {DEFAULT_ASPECT}')
    parser.add_argument('--set', action='append', default=[], metavar='NAME=VALUE',
                        help='override a setting of the checks or of denoising (the node\'s parameter names), e.g. '
                             'denoise_enabled=false or sky_on_road_margin_px=3; repeat for several')


def make_segmenter(args, backend=None, precision=None, model=None):
    """The Segmenter that the model options (and a command's ``--set`` check settings, if any) ask for.

    ``backend`` (default ``args.backend``) and ``precision`` (default: --inference-precision for openvino, the
    backend's own default for tensorrt) let a command build several from one set of options; so does ``model``
    (default ``args.model``).
    """
    from .. import backends
    from ..framing import DEFAULT_ASPECT
    from ..segmenter import Segmenter

    backend = backend or args.backend
    options = {'threads': args.threads,
               'inference_precision': precision or getattr(args, 'inference_precision', 'auto')}
    if precision:
        options['precision'] = precision
    from ..ego_mask import EgoMask

    try:
        ego_mask = EgoMask(getattr(args, 'ego_mask', '') or '')
    except ValueError as e:
        raise CommandError(f'--ego-mask: {e}') from None
    return Segmenter.from_model(model or args.model, backend=backend, safety=safety_config(getattr(args, 'set', None)),
                                ego_mask=ego_mask, aspect=getattr(args, 'aspect', None) or DEFAULT_ASPECT,
                                **backends.options_for(backend, options))


def safety_config(settings):
    """A SafetyConfig from ``name=value`` strings (flat names, as the node's parameters); None without any."""
    if not settings:
        return None
    from ..safety_config import SafetyConfig

    defaults = SafetyConfig().flat()
    values = {}
    for item in settings:
        name, _, text = item.partition('=')
        if name not in defaults:
            raise SystemExit(f'error: --set {item}: unknown setting {name!r}; known: {", ".join(sorted(defaults))}')
        kind = type(defaults[name])
        if kind is bool:
            values[name] = text.lower() in ('1', 'true', 'yes', 'on')
        else:
            try:
                values[name] = kind(text)
            except ValueError:
                raise SystemExit(f'error: --set {item}: expected a {kind.__name__}') from None
    return SafetyConfig.from_flat(values)


def must_exist(path: str, what: str) -> None:
    """CommandError ``<what> <path>: not found`` unless ``path`` (a file or folder) exists; '' passes."""
    if path and not os.path.exists(path):
        raise CommandError(f'{what} {path}: not found')

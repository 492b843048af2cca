"""The node's parameters: their declarations (defaults, descriptions, ranges, choices) and the checks of their values.

Everything here is a function of the values alone, so it runs without a node: ``seg_node --help`` prints
:func:`help_lines`, the launch tests read :func:`parameter_declarations`, and the node's set-parameters callback
asks :func:`choice_refusal`, :func:`crf_refusal`, :func:`ego_mask_refusal` and :func:`temporal_refusal` before it
applies a change.
config/seg_perception.yaml holds the same defaults.
"""

import textwrap
from typing import List, Optional

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.exceptions import ParameterException
from rclpy.parameter import Parameter
from rclpy.qos import ReliabilityPolicy

from .. import backends
from ..backends.openvino_backend import PRECISIONS as OPENVINO_PRECISIONS
from ..crf import CRF_SETTINGS
from ..ego_mask import FORMS as EGO_MASK_FORMS, EgoMask
from ..framing import ASPECTS, DEFAULT_ASPECT
from ..safety_config import SafetyConfig
from ..taxonomy import TAXONOMY_CLASSES
from ..tensorrt.files import PRECISIONS, REBUILD_POLICIES

RELIABILITY = {'reliable': ReliabilityPolicy.RELIABLE, 'best_effort': ReliabilityPolicy.BEST_EFFORT}
CHOICES = {'backend': backends.choices(), 'reliability': ('auto',) + tuple(RELIABILITY),
           'crf': ('none',) + tuple(CRF_SETTINGS), 'fallback_backend': ('none',) + tuple(backends.names()),
           'engine_precision': PRECISIONS, 'openvino_precision': OPENVINO_PRECISIONS,
           'engine_rebuild': REBUILD_POLICIES, 'label_ids': ('taxonomy', 'model'), 'aspect': ASPECTS}
SAFETY_PARAMETERS = {name for name, _, _, _ in SafetyConfig.declarations()}
MAX_INPUT_PIXELS = 4096 * 2160  # DCI 4K; a 4K rgb8 frame is 26.5 MB, its float32 copies 4x that


def parameter_declarations():
    """(name, default, descriptor) of every parameter; config/seg_perception.yaml repeats the defaults."""
    def choice(description, name):
        return ParameterDescriptor(description=description, read_only=True,
                                   additional_constraints=f'one of {", ".join(CHOICES[name])}')

    return (
        ('model', '', ParameterDescriptor(
            description='model manifest (.json), model file (.onnx/.pt) or model name; empty: the shipped '
                        'default. Setting it (even to the same value) loads that model; if it cannot be '
                        'loaded the change is refused and the running model keeps serving')),
        ('backend', 'auto', choice('inference backend; auto: tensorrt on an NVIDIA GPU with an engine, else openvino '
                                   'where it is installed, else onnxruntime (diagnostics: backend selection)',
                                   'backend')),
        ('fallback_backend', 'none', choice('backend to run on when backend cannot run here (no TensorRT, OpenVINO, '
                                            'pycuda, GPU or PyTorch); none: refuse to start instead',
                                            'fallback_backend')),
        ('engine_precision', 'fp16', choice('tensorrt backend: precision of the engine to run', 'engine_precision')),
        ('openvino_precision', 'auto', choice('openvino backend: auto: bf16 on CPUs with AMX or AVX-512 BF16, '
                                              'else f32; f32; bf16; int8 for an already quantised model',
                                              'openvino_precision')),
        ('engine_rebuild', 'never', choice('tensorrt backend: never: refuse a missing or stale engine with the '
                                           'reason; auto: build it then (once, not at every start)',
                                           'engine_rebuild')),
        ('engine_dir', '', ParameterDescriptor(
            description='tensorrt backend: folder of built engines, openvino backend: of its compiled-model cache '
                        '(openvino/ in it); empty: engines/cache beside the model',
            read_only=True)),
        ('cameras', Parameter.Type.STRING_ARRAY, ParameterDescriptor(
            description='camera names, each with its own topics under its name (front/image -> '
                        'front/segmentation/labels), segmented together in one batch; unset: one camera, '
                        'the topics without a prefix', read_only=True)),
        ('threads', 0, ParameterDescriptor(
            description='CPU threads for inference; 0: the backend chooses (all cores, up to 8)',
            read_only=True, integer_range=[IntegerRange(from_value=0, to_value=64, step=1)])),
        ('reliability', 'auto', choice('input subscription reliability; auto: match the publishers',
                                       'reliability')),
        ('label_ids', 'taxonomy', choice(f'ids in segmentation/labels: taxonomy: the fixed output taxonomy '
                                         f'({", ".join(TAXONOMY_CLASSES)}; 255 outside it); model: the model\'s '
                                         f'own class ids', 'label_ids')),
        ('aspect', DEFAULT_ASPECT, ParameterDescriptor(
            description='how a frame of another aspect ratio than the network input (4:3 for the shipped model) '
                        'goes in: tiles: two or more overlapping windows of the frame at the network\'s height, in '
                        'one batch (one run per window, the most accurate); letterbox: resized with its aspect '
                        'kept and padded (one run); squash: stretched to the input (one run); a frame of the '
                        'network\'s aspect goes in alike in every mode (seg_perception.framing)',
            additional_constraints=f'one of {", ".join(CHOICES["aspect"])}')),
        ('crf', 'none', ParameterDescriptor(
            description='refine the labels with the dense CRF before the checks (none on the live path: it costs '
                        'hundreds of milliseconds per frame; diagnostics report it as latency crf); largefov or '
                        'v2_resnet101: DeepLab\'s settings; needs backend torch (class probabilities)',
            additional_constraints=f'one of {", ".join(CHOICES["crf"])}')),
        ('ego_mask', '', ParameterDescriptor(
            description='where the camera sees its own vehicle (a hood, a dashboard): those pixels are published '
                        'as 255 (outside) in segmentation/labels, are never drivable, are ignored by the checks, '
                        'and the drivable area and free space start above them. bottom:F: the lowest fraction F '
                        'of the rows; a mask PNG (non-zero: the vehicle; resized to each frame); auto: learned per '
                        'camera from its first frames (what stays the same at the bottom while the scene moves), '
                        'again when the camera changes; empty: none. A change takes effect from the next frame',
            additional_constraints=f'one of {EGO_MASK_FORMS}')),
        ('pipeline', True, ParameterDescriptor(
            description='run the next frame through the network while the finisher thread checks and publishes '
                        'this one (more frames answered when post-processing is a good share of a frame\'s time); '
                        'false: one frame at a time, on one thread')),
        ('publish_color', True, ParameterDescriptor(
            description='publish segmentation/color (computed only while it has subscribers)')),
        ('color_alpha', 0.5, ParameterDescriptor(
            description='weight of the class colours over the image in segmentation/color',
            floating_point_range=[FloatingPointRange(from_value=0.0, to_value=1.0, step=0.0)])),
        ('diagnostics_period_s', 1.0, ParameterDescriptor(
            description='period of the /diagnostics status',
            floating_point_range=[FloatingPointRange(from_value=0.1, to_value=10.0, step=0.0)])),
        ('error_throttle_s', 5.0, ParameterDescriptor(
            description='at most one error log per this many seconds about rejected frames; 0: log each',
            floating_point_range=[FloatingPointRange(from_value=0.0, to_value=60.0, step=0.0)])),
        ('use_camera_info', True, ParameterDescriptor(
            description='take the horizon from camera_info (with camera_pitch_deg) once it has arrived')),
        ('max_input_pixels', MAX_INPUT_PIXELS, ParameterDescriptor(
            description='refuse input images of more pixels (width x height, claimed by an Image or read from '
                        'a jpeg/png header) before allocating them; default: 4096 x 2160 (DCI 4K)',
            integer_range=[IntegerRange(from_value=1, to_value=2 ** 30, step=1)])),
        ('stamp_tolerance_s', 1.0, ParameterDescriptor(
            description='inputs stamped more than this ahead of or behind the node clock are counted in '
                        'diagnostics (frames future stamp / past stamp), and still segmented',
            floating_point_range=[FloatingPointRange(from_value=0.001, to_value=3600.0, step=0.0)])),
    ) + tuple(_safety_declaration(*d) for d in SafetyConfig.declarations())


def _safety_declaration(name, default, description, bounds):
    """(name, default, descriptor) of one setting of the ambiguity checks (seg_perception.ambiguity)."""
    if bounds is None or isinstance(default, bool):
        return name, default, ParameterDescriptor(description=description)
    low, high = bounds
    if isinstance(default, float):
        return name, default, ParameterDescriptor(description=description, floating_point_range=[
            FloatingPointRange(from_value=float(low), to_value=float(high), step=0.0)])
    return name, default, ParameterDescriptor(description=description, integer_range=[
        IntegerRange(from_value=int(low), to_value=int(high), step=1)])


def camera_names(value: Optional[List[str]]) -> List[str]:
    """The cameras parameter's names, [''] (one unprefixed camera) when unset; ParameterException if invalid."""
    if value is None:
        return ['']
    bad = [n for n in value if not n or n.startswith(('/', '~')) or n.endswith('/')]
    if not value or bad or len(set(value)) != len(value):
        raise ParameterException(f'camera names must be one or more unique, non-empty relative names '
                                 f'(front, rear/left), got {list(value)}', 'cameras')
    return list(value)


def choice_refusal(name: str, value) -> Optional[str]:
    """Why ``value`` cannot be set for ``name`` (not one of its choices), or None.

    Ranges and read-only are the descriptors' job, checked by rclpy before the node's callback runs.
    """
    choices = CHOICES.get(name)
    if choices and value not in choices:
        return f'{name} must be one of {", ".join(choices)}; got {value!r}'
    return None


def crf_refusal(crf_setting: str, backend: str) -> Optional[str]:
    """Why the crf parameter cannot be ``crf_setting`` with ``backend`` serving, or None."""
    if crf_setting != 'none' and backend != 'torch':
        return (f'crf {crf_setting} needs the class probabilities, which only backend torch gives; backend is '
                f'{backend}')
    return None


def ego_mask_refusal(value: str) -> Optional[str]:
    """Why ``value`` cannot be the ego_mask parameter (not one of its forms, its PNG unreadable), or None."""
    try:
        EgoMask(value)
    except ValueError as e:
        return str(e)
    return None


def temporal_refusal(config: SafetyConfig) -> Optional[str]:
    """Why the checks' settings ``config`` cannot hold together (a temporal check that can never fire), or None."""
    window, flips = config.temporal.window, config.temporal.min_flips
    if flips >= window:
        return (f'temporal_min_flips ({flips}) must be less than temporal_window ({window}): {window} frames '
                f'have {window - 1} changes')
    return None


def _shown(default) -> str:
    """A parameter's default as YAML would write it ('unset' for a parameter declared by its type alone)."""
    if isinstance(default, Parameter.Type):
        return 'unset'
    if isinstance(default, bool):
        return str(default).lower()
    return repr(default) if isinstance(default, str) else str(default)


def help_lines() -> List[str]:
    """Every parameter as ``seg_node --help`` lists it: name, type, default, constraints, then its description."""
    text = []
    for name, default, descriptor in parameter_declarations():
        kind = default if isinstance(default, Parameter.Type) else Parameter.Type.from_parameter_value(default)
        facts = [kind.name.lower().replace('_', ' '), f'default {_shown(default)}']
        facts += [descriptor.additional_constraints] if descriptor.additional_constraints else []
        facts += [f'{r.from_value:g} to {r.to_value:g}' for r in descriptor.floating_point_range]
        facts += [f'{r.from_value} to {r.to_value}' for r in descriptor.integer_range]
        facts += ['read-only: set at start'] if descriptor.read_only else []
        text.append(f'  {name} ({"; ".join(facts)})')
        text += textwrap.wrap(descriptor.description, 110, initial_indent=' ' * 6, subsequent_indent=' ' * 6)
    return text

"""Every setting of the checks, the drivable area, the horizon, the trust check and denoising, declared once.

Each setting is a dataclass field with a default, a description and (for numbers) a range; :class:`SafetyConfig`
holds one section per concern (``camera``, one per check, ``drivable``, ``trust``, ``denoise``) and flattens them to the
``<section>_<field>`` names that the node declares as parameters and ``--set`` takes. :func:`for_horizon` gives
the settings to use with a horizon that is not a calibrated camera's.

The checks themselves live in seg_perception.ambiguity, the horizon in seg_perception.camera and the trust check
in seg_perception.trust. Pure Python; no ROS imports.
"""

from dataclasses import dataclass, field, fields, replace
from typing import Dict, List, Optional, Tuple


def _param(default, description, low, high):
    """A parameter field; the node declares it with this description and range."""
    return field(default=default, metadata={'description': description, 'range': (low, high)})


def _switch(description):
    return field(default=True, metadata={'description': description})


# --- the horizon -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CameraParams:
    """Mounting and horizon settings that hold without a calibrated camera model."""

    height_m: float = _param(1.5, 'height of the camera above the road, metres', 0.3, 5.0)
    pitch_deg: float = _param(0.0, 'tilt of the optical axis below the horizontal, degrees (with camera_info)',
                              -30.0, 30.0)
    horizon_default_frac: float = _param(
        0.5, 'horizon row as a fraction of the image height when neither camera_info nor the road gives it (0.5: '
             'a level camera)', 0.0, 1.0)
    horizon_estimate: bool = field(default=True, metadata={
        'description': 'without camera_info, estimate the horizon from the road\'s vanishing point'})
    horizon_max_shift_frac: float = _param(
        0.08, 'an estimated horizon may differ from the default by at most this fraction of the image height',
        0.0, 0.5)
    horizon_uncertainty_frac: float = _param(
        0.055, 'without camera_info the horizon is uncertain by this fraction of the image height (0.055: 20 rows '
               'of 360, about 2.5 degrees of pitch): added to the checks\' margins (the default, or one cue)',
        0.0, 0.5)
    horizon_sky_cue: bool = field(default=False, metadata={
        'description': 'without camera_info, also estimate the horizon where the left and right parts of the sky\'s '
                       'lower boundary meet (roof lines along the street converge on its vanishing point; off: on '
                       'CamVid it lies about a tenth of the height above the road\'s)'})
    horizon_lane_cue: bool = field(default=True, metadata={
        'description': 'without camera_info, also estimate the horizon where straight edges inside the road (lane '
                       'markings, kerbs) leaning left and right meet'})
    horizon_agree_frac: float = _param(
        0.05, 'cues whose horizons lie within this fraction of the image height of each other agree', 0.0, 0.5)
    horizon_agreed_max_shift_frac: float = _param(
        0.25, 'a horizon that two cues agree on, or a stream\'s median, may differ from the default by at most this '
              'fraction of the image height', 0.0, 0.5)
    horizon_agreed_uncertainty_frac: float = _param(
        0.03, 'the horizon is uncertain by at least this fraction of the image height when cues agree or a stream\'s '
              'median holds (the cues\' spread when larger): added to the checks\' margins', 0.0, 0.5)
    horizon_window: int = _param(15, 'frames of estimated horizons a stream\'s median is taken over', 1, 1000)
    horizon_min_frames: int = _param(5, 'a stream\'s median needs this many estimated horizons within the window',
                                     1, 1000)


# --- the checks and the drivable area ----------------------------------------------------------------------

@dataclass(frozen=True)
class SkyBelowHorizonParams:
    """Check 1: sky this far below the horizon is an obstacle mislabelled as sky."""

    enabled: bool = _switch('run the sky-below-horizon check')
    margin_px: float = _param(6.0, 'sky at least this many rows below the horizon is suspect', 0.0, 200.0)
    min_blob_px: int = _param(8, 'suspect sky blobs smaller than this are noise and ignored', 1, 100000)
    min_area_px: int = _param(40, 'the check fires when suspect sky covers at least this many pixels',
                              1, 1000000)


@dataclass(frozen=True)
class SkyOnRoadParams:
    """Check 2: sky whose lower edge rests on the drivable region below the horizon."""

    enabled: bool = _switch('run the sky-on-road check')
    margin_px: float = _param(2.0, 'contacts at least this many rows below the horizon count', 0.0, 200.0)
    max_gap_px: int = _param(3, 'sky counts as resting on the road with at most this many rows between them',
                             1, 50)
    min_contact_px: int = _param(6, 'the check fires when sky rests on the road over this many columns',
                                 1, 10000)


@dataclass(frozen=True)
class LowConfidenceParams:
    """Check 3: the network hesitates between sky and an obstacle below the horizon."""

    enabled: bool = _switch('run the low-confidence check')
    max_margin: float = _param(0.25, 'pixels whose top-1 minus top-2 probability is below this are unsure',
                               0.0, 1.0)
    margin_px: float = _param(3.0, 'only pixels at least this many rows below the horizon count', 0.0, 200.0)
    near_px: int = _param(3, 'without the runner-up class, an obstacle pixel this near sky counts as sky-or-'
                             'obstacle', 0, 50)
    min_area_px: int = _param(60, 'the check fires when unsure pixels cover at least this many pixels',
                              1, 1000000)


@dataclass(frozen=True)
class TemporalParams:
    """Check 4: pixels of the path ahead that flip between sky and obstacle classes from frame to frame."""

    enabled: bool = _switch('run the temporal flip check (in the node)')
    window: int = _param(6, 'frames remembered', 2, 30)
    min_flips: int = _param(2, 'a cell is unstable after this many sky/obstacle flips within the window',
                            1, 29)
    cell_px: int = _param(4, 'the check works on cells of this many pixels square', 1, 32)
    margin_px: float = _param(2.0, 'only cells at least this many rows below the horizon count', 0.0, 200.0)
    min_area_px: int = _param(64, 'the check fires when unstable cells cover at least this many pixels',
                              1, 1000000)


@dataclass(frozen=True)
class FloatingVehicleParams:
    """Check 5: a vehicle on the road whose lower edge floats above it (seen from the heights it implies)."""

    enabled: bool = _switch('run the floating-vehicle check')
    max_height_m: float = _param(5.0, 'a vehicle resting on the road that would be taller than this if it stood '
                                      'there is floating above it: the alarm', 1.0, 50.0)
    distrust_height_m: float = _param(3.5, 'the road beneath a vehicle that would be taller than this (down to '
                                           'where the vehicle itself reaches) is not trusted, without an alarm: a '
                                           'trailer whose top the network gave to the sky', 1.0, 50.0)
    margin_px: float = _param(2.0, 'only vehicle edges at least this many rows below the horizon count', 0.0,
                              200.0)
    max_gap_px: int = _param(3, 'a vehicle rests on the road with at most this many rows between them', 1, 50)
    min_height_px: int = _param(12, 'vehicles shorter than this in the image are too far away to judge', 1, 10000)
    min_columns_px: int = _param(6, 'the check fires when this many columns of vehicle float', 1, 10000)
    require_camera: bool = field(default=True, metadata={
        'description': 'run only with the horizon from camera_info; false: also with an estimated horizon, the '
                       'heights then judged from it lifted by its uncertainty (the smallest heights it allows)'})


@dataclass(frozen=True)
class DrivableParams:
    """How the drivable area is kept clear of what the checks flagged, and when that raises the alarm."""

    safety_margin_px: int = _param(4, 'the drivable area keeps this many pixels away from ambiguous pixels',
                                   0, 100)
    underride_clearance_m: float = _param(
        1.3, 'an ambiguous region may hide an obstacle floating this high above the road (a trailer\'s '
             'underside): the road seen beneath it is ambiguous too', 0.0, 10.0)
    far_static_underride: bool = field(default=True, metadata={
        'description': 'with camera_info: distrust the road beneath far static obstacles and sky ending the free '
                       'space (a trailer seen as a building) as if they floated underride_clearance_m above it'})
    far_static_min_px: float = _param(2.0, 'far static obstacles: lower edge at least this many rows below the '
                                           'horizon', 0.0, 200.0)
    far_static_max_px: float = _param(24.0, 'far static obstacles: lower edge at most this many rows below the '
                                            'horizon', 0.0, 1000.0)
    far_static_band_px: int = _param(8, 'far static obstacles: at most this many rows of pavement between the '
                                        'road and the obstacle', 0, 100)
    max_hole_px: int = _param(400, 'holes in the road up to this many pixels with no obstacle in them are filled',
                              0, 1000000)
    path_half_width_m: float = _param(1.5, 'half width of the path ahead that an ambiguity alarms in, metres',
                                      0.1, 20.0)
    path_min_half_width_px: int = _param(
        8, 'the path ahead is at least this many pixels either side of the centre (near the horizon, where a '
           'floating obstacle\'s lower edge lies, the flat-world path is only a few pixels wide)', 0, 10000)
    min_alarm_px: int = _param(200, 'the alarm needs at least this many pixels of one check on the path ahead '
                                    '(smaller findings still leave the drivable area, silently)', 1, 1000000)
    ego_edge_px: int = _param(8, 'with an ego mask: pixels labelled vehicle up to this many rows above the mask\'s '
                                 'top edge and connected to it are the ego vehicle too (the network\'s vehicle '
                                 'label spills over the hood\'s edge)', 0, 1000)


# --- the frame-level trust check ---------------------------------------------------------------------------

@dataclass(frozen=True)
class TrustConfig:
    """Every threshold of the frame-level trust check; flat names are ``trust_<field>``.

    Defaults chosen by benchmarks/tune_trust.py on CamVid *train* frames (sequences 0006R0 and 0001TP under the
    15 corruptions, all 367 clean), rendered frames under the corruptions and the hazard suite's hazard-free
    frames of its tuning seeds (benchmarks/trust_figures.py --csv); CamVid val is the report (doc/safety.md).
    A check is off when its threshold sits at the end of its range.
    """

    enabled: bool = field(default=True, metadata={
        'description': 'run the frame-level trust check: a degraded frame has no drivable area and an unknown '
                       'free space'})
    noise_width_px: int = _param(320, 'noise, exposure and frozen frames are measured on a grey thumbnail this '
                                      'wide (averaging hides noise: wider sees more of it)', 32, 2048)
    blur_width_px: int = _param(160, 'blur and contrast are measured on a grey thumbnail this wide (about a third '
                                     'of a 480-pixel frame: a blur that small leaves the labels alone)', 32, 2048)
    max_noise_sigma: float = _param(15.0, 'degraded (noise) when the noise standard deviation on the noise thumbnail '
                                          'exceeds this many grey levels', 0.0, 255.0)
    min_sharpness: float = _param(0.0, 'degraded (blur) when the variance of the Laplacian over the variance of the '
                                       'grey levels, on the blur thumbnail, is below this; 0: off (the default '
                                       'model\'s blurred failures raise low_margin first)', 0.0, 100.0)
    overexposed_level: int = _param(250, 'pixels at or above this grey level are burnt out', 128, 255)
    max_overexposed_share: float = _param(0.5, 'degraded (overexposed) when more than this share of the pixels is '
                                               'burnt out', 0.0, 1.0)
    underexposed_level: int = _param(8, 'pixels at or below this grey level are black', 0, 127)
    max_underexposed_share: float = _param(0.75, 'degraded (underexposed) when more than this share of the pixels '
                                                 'is black', 0.0, 1.0)
    min_contrast: float = _param(4.0, 'degraded (black, or flat) when the standard deviation of the grey levels is '
                                      'below this', 0.0, 255.0)
    max_repeated_share: float = _param(0.6, 'degraded (blocky) when more than this share of the neighbouring '
                                            'pixels of the image the network saw have one grey level (a frame '
                                            'scaled up from a lower resolution); 1.0: off (for synthetic frames '
                                            'painted in flat colours, which repeat most)', 0.0, 1.0)
    frozen_max_difference: float = _param(0.1, 'a frame whose thumbnail differs from the previous one by at '
                                               'most this mean absolute grey level is a repeat', 0.0, 255.0)
    frozen_frames: int = _param(30, 'degraded (frozen) after this many repeats in a row (a camera driver '
                                    'resending its last frame)', 1, 1000000)
    low_margin_max: float = _param(0.4, 'pixels whose top-1 minus top-2 probability is below this are unsure',
                                   0.0, 1.0)
    max_low_margin_share: float = _param(0.2, 'degraded (low_margin) when more than this share of the pixels is '
                                              'unsure', 0.0, 1.0)
    blurred_below: float = _param(0.08, 'a frame whose sharpness (as min_sharpness measures it) is below this is '
                                        'blurred and is held to blurred_max_low_margin_share; 0: off', 0.0, 100.0)
    blurred_max_low_margin_share: float = _param(0.14, 'degraded (blurred_unsure) when more than this share of '
                                                       'the pixels of a blurred frame is unsure', 0.0, 1.0)
    lower_frac: float = _param(0.33, 'the lower part of the image: this fraction of its rows, from the bottom',
                               0.0, 1.0)
    min_road_or_vehicle_share: float = _param(0.05, 'degraded (no_road_or_vehicle_below) when road and vehicles '
                                                    'cover less than this share of the lower part', 0.0, 1.0)
    max_one_class_share: float = _param(0.85, 'degraded (one_class) when one class covers more than this share of '
                                              'the frame', 0.0, 1.0)
    unstable_cell_px: int = _param(16, 'temporal instability is judged on cells of this many pixels square (of '
                                       'the network\'s output)', 2, 256)
    max_unstable_share: float = _param(0.4, 'degraded (unstable) when more than this share of the cells changed '
                                            'their majority label since the previous frame', 0.0, 1.0)


# --- test-time denoising ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class DenoiseParams:
    """When a frame is filtered before the network (seg_perception.denoise); flat names are ``denoise_<field>``.

    Chosen on CamVid *train*: the filters on sequence 0006R0 (left out of training) under the noise corruptions,
    the thresholds above what the 367 clean train frames give (noise at most 1.96; impulse share at most 0.0092,
    against at least 0.0143 under impulse noise of severity 1 on 0006R0); the stretch on 0006R0 under contrast,
    fog and brightness, its threshold under every clean train frame's grey range (at least 185.9) and every
    hazard-suite frame's (at least 147.3); the unsharp mask on 0006R0 under the blur corruptions and fog, its
    threshold under every clean train frame's sharpness (at least 0.088) and every hazard-suite frame's (at least
    0.047); the deblocking blur on 0006R0 under pixelation and JPEG, its threshold over every clean train frame's
    repeated share (at most 0.36) and every hazard-suite frame's (at most 0.38); CamVid val is the report
    (doc/robustness.md).
    """

    enabled: bool = field(default=True, metadata={
        'description': 'filter a noisy frame before the network (a 3x3 median for salt-and-pepper, a Gaussian blur '
                       'for other noise), stretch a flat one\'s contrast, sharpen a soft one and smooth a pixelated '
                       'one; clean frames are never filtered; the trust check never sees the blurs or the '
                       'sharpening'})
    max_noise_sigma: float = _param(3.0, 'blur a frame whose noise standard deviation (grey levels, on a 320-px '
                                         'thumbnail at the network\'s scale) exceeds this', 0.0, 255.0)
    max_impulse_share: float = _param(0.012, 'median-filter a frame when more than this share of its channel '
                                             'values lie more than impulse_level from their 3x3 median', 0.0, 1.0)
    impulse_level: int = _param(128, 'a channel value this far from its 3x3 median is an impulse (grey levels)',
                                1, 255)
    blur_sigma: float = _param(1.0, 'the Gaussian blur\'s standard deviation, pixels of the frame', 0.1, 10.0)
    stretch_below_range: float = _param(140.0, 'stretch the contrast of a frame whose grey range (1st to 99th '
                                               'percentile, grey levels, on the noise thumbnail) is under this; '
                                               '0: never', 0.0, 255.0)
    stretch_to_range: float = _param(200.0, 'a stretched frame\'s grey range (grey levels)', 1.0, 255.0)
    max_stretch: float = _param(8.0, 'the most a frame\'s contrast is stretched (a gain)', 1.0, 64.0)
    sharpen_below: float = _param(0.045, 'sharpen (unsharp mask) a frame that is not blurred for noise and whose '
                                         'sharpness (as the trust check\'s, on its blur thumbnail) is under this; '
                                         '0: never', 0.0, 100.0)
    sharpen_amount: float = _param(2.0, 'the unsharp mask\'s amount: the frame plus this times its difference '
                                        'from its Gaussian blur', 0.0, 10.0)
    sharpen_sigma: float = _param(3.0, 'the unsharp mask\'s Gaussian, pixels of the frame', 0.1, 20.0)
    deblock_above_repeated: float = _param(0.6, 'blur a frame that is not blurred for noise when more than this '
                                                'share of its neighbouring pixels (at its own resolution) have one '
                                                'grey level: a pixelated frame; 1: never', 0.0, 1.0)
    deblock_sigma: float = _param(1.0, 'that blur\'s Gaussian, pixels of the frame', 0.1, 10.0)


# --- all of them -------------------------------------------------------------------------------------------

SECTIONS = (('camera', CameraParams), ('sky_below_horizon', SkyBelowHorizonParams),
            ('sky_on_road', SkyOnRoadParams), ('low_confidence', LowConfidenceParams),
            ('temporal', TemporalParams), ('floating_vehicle', FloatingVehicleParams), ('drivable', DrivableParams),
            ('trust', TrustConfig), ('denoise', DenoiseParams))


@dataclass(frozen=True)
class SafetyConfig:
    """Every setting of the checks and of the safe drivable area; flat names are ``<section>_<field>``."""

    camera: CameraParams = field(default_factory=CameraParams)
    sky_below_horizon: SkyBelowHorizonParams = field(default_factory=SkyBelowHorizonParams)
    sky_on_road: SkyOnRoadParams = field(default_factory=SkyOnRoadParams)
    low_confidence: LowConfidenceParams = field(default_factory=LowConfidenceParams)
    temporal: TemporalParams = field(default_factory=TemporalParams)
    floating_vehicle: FloatingVehicleParams = field(default_factory=FloatingVehicleParams)
    drivable: DrivableParams = field(default_factory=DrivableParams)
    trust: TrustConfig = field(default_factory=TrustConfig)         # the frame-level trust check (trust.py)
    denoise: DenoiseParams = field(default_factory=DenoiseParams)   # filters before the network (denoise.py)

    @staticmethod
    def declarations() -> List[Tuple[str, object, str, Optional[Tuple[float, float]]]]:
        """(flat name, default, description, (low, high) or None) of every setting, for the node."""
        out = []
        for section, cls in SECTIONS:
            for f in fields(cls):
                out.append((f'{section}_{f.name}', f.default, f.metadata['description'], f.metadata.get('range')))
        return out

    def flat(self) -> Dict[str, object]:
        """Flat name -> value."""
        return {f'{section}_{f.name}': getattr(getattr(self, section), f.name)
                for section, cls in SECTIONS for f in fields(cls)}

    @classmethod
    def from_flat(cls, values: Dict[str, object]) -> 'SafetyConfig':
        """A config from flat names (missing ones keep their defaults); KeyError names an unknown one."""
        known = {f'{section}_{f.name}': (section, f.name) for section, c in SECTIONS for f in fields(c)}
        unknown = set(values) - set(known)
        if unknown:
            raise KeyError(f'unknown safety settings {sorted(unknown)}; known: {sorted(known)}')
        sections = {section: {} for section, _ in SECTIONS}
        for name, value in values.items():
            section, attr = known[name]
            sections[section][attr] = value
        return cls(**{section: c(**sections[section]) for section, c in SECTIONS})


def horizon_extra_px(config: SafetyConfig, horizon_source: str, image_height: int,
                     uncertainty_px: Optional[float] = None) -> float:
    """How many rows a horizon from ``horizon_source`` may be off.

    0 from a camera, else ``uncertainty_px`` (the estimate's own; None: ``camera.horizon_uncertainty_frac`` of the
    image height).
    """
    if horizon_source == 'camera':
        return 0.0
    return config.camera.horizon_uncertainty_frac * image_height if uncertainty_px is None else float(uncertainty_px)


def for_horizon(config: SafetyConfig, horizon_source: str, image_height: int,
                uncertainty_px: Optional[float] = None) -> SafetyConfig:
    """The settings to use with a horizon from ``horizon_source`` ('camera', 'estimate', 'stream' or 'default').

    Without a calibrated camera the horizon is uncertain: the checks' margins below it grow by ``uncertainty_px``
    (the estimate's own, see camera.HorizonEstimate; None: ``camera.horizon_uncertainty_frac`` of the image
    height), and the floating-vehicle check (whose implied heights divide by the distance to the horizon) stands
    down unless told otherwise (then it judges heights from the horizon lifted by that uncertainty, see
    ambiguity.floating_vehicle), as does the far-static under-ride rule.
    """
    if horizon_source == 'camera':
        return config
    extra = horizon_extra_px(config, horizon_source, image_height, uncertainty_px)
    floating = config.floating_vehicle
    if floating.require_camera:
        floating = replace(floating, enabled=False)
    drivable = replace(config.drivable, far_static_underride=False)    # rows below the horizon are all it has
    return replace(config, floating_vehicle=floating, drivable=drivable, **{
        section: replace(getattr(config, section), margin_px=getattr(config, section).margin_px + extra)
        for section in ('sky_below_horizon', 'sky_on_road', 'low_confidence', 'temporal')})

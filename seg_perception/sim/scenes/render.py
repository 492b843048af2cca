"""A frame from a seed: the street painted far to near, the hazard, the effects, and the frame's ground truth.

The public functions of :mod:`seg_perception.sim.scenes`; see its docstring for the world and the camera.
"""

from dataclasses import dataclass
import math
from typing import Optional

import numpy as np

from .effects import _finish, _sun_glare, _tunnel_exposure
from .layout import (CAM_HEIGHT, HAZARDS, LIGHTS, ROAD, SPEED, STRUCTURES, VOID, _BACKDROP, _CAR_COLS, _CAR_P,
                     _Car, _Cyclist, _LIGHT_CAR_COLS, _items, _pick, _seed_of, _street)
from .lighting import LIGHTING, _bloom, _dark_sky, _light_scene, _wet_road
from .raster import _Ctx, _draw_ground, _draw_item, _draw_tunnel, _quad
from .textures import _backdrop_tex, _sky, _truck_tex


@dataclass(frozen=True)
class RenderedFrame:
    """A rendered frame with its ground truth: labels, the hazard's pixels and the camera that saw it.

    ``hazard`` is H x W bool: the hazard itself and the road seen beneath it (driving there means passing
    under it), all False without a hazard. ``camera`` is the pinhole model with the frame's focal length, camera
    height and nominal pitch (the suspension's shake is not in it, as a real car's calibration would not know it
    either). ``ego`` is H x W bool: the camera's own vehicle's hood (labelled void), all False without one.
    """

    rgb: np.ndarray
    labels: np.ndarray
    hazard: np.ndarray
    camera: object
    ego: Optional[np.ndarray] = None


def render_scene(rng_or_seed, height=360, width=480, t=0.0, hazard=None, sky_brightness=None,
                 hazard_distance=40.0, speed=SPEED, **hard_cases):
    """Render one car-camera street frame and its pixel-exact CamVid label map.

    Args:
        rng_or_seed: an int seed or a numpy Generator (one integer is drawn from it). The seed fixes the
            whole street: layout, styles, traffic, lighting.
        height, width: frame size in pixels.
        t: time in seconds; the camera sits at Z = speed * t, so frames with the same seed and increasing t
            form a coherent forward-driving sequence.
        hazard: None, or a vehicle crossing the road `hazard_distance` metres ahead of the camera's start
            (labelled Car): 'white_trailer' -- a white box semi-trailer under a bright washed-out sky;
            'sky_trailer' -- a semi-trailer painted the colour of the sky at the horizon; 'truck_side' -- the
            side of a white, silver or sky-coloured box truck.
        sky_brightness: 0..1 overrides the seed's sky brightness (1 = white, washed out).
        hazard_distance: distance of the hazard from the camera at t = 0, metres.
        speed: camera speed along the road, m/s.
        hard_cases: more options of :func:`render_frame` (overcast, pitch_deg, structure, structure_distance,
            low_sun, hood, camera_height_m, hfov_deg, white_vehicles, light, wet, puddles).

    Returns:
        (rgb, labels): HxWx3 uint8 RGB frame and HxW uint8 label map with ids 0..11 (see CLASS_NAMES).
    """
    frame = render_frame(rng_or_seed, height, width, t, hazard, sky_brightness, hazard_distance, speed,
                         **hard_cases)
    return frame.rgb, frame.labels


def render_frame(rng_or_seed, height=360, width=480, t=0.0, hazard=None, sky_brightness=None,
                 hazard_distance=40.0, speed=SPEED, overcast=None, pitch_deg=0.0, structure=None,
                 structure_distance=40.0, low_sun=False, hood=None, camera_height_m=CAM_HEIGHT, hfov_deg=None,
                 white_vehicles=0.0, light='day', wet=0.0, puddles=False) -> RenderedFrame:
    """Render a frame as :func:`render_scene` does, with the hard cases and the hazard's ground truth.

    Args (beyond render_scene's):
        overcast: True/False overrides the seed's sky (overcast: an even grey-white dome; hazards default to it).
        pitch_deg: camera pitch below the horizontal; the horizon moves up by f * tan(pitch).
        structure: None, 'overpass' (a bridge deck across the street, 4.6..6 m clear, `structure_distance`
            metres ahead) or 'tunnel_exit' (the camera inside a tunnel whose bright exit is
            `structure_distance` metres ahead; exposed for the inside, the outside burns out).
        low_sun: a low sun just above the horizon, with veiling glare and a lens streak.
        hood: None, or the share of the rows (0 < hood < 1) the camera's own vehicle's hood covers at the image's
            centre: a body-coloured hood across the bottom of the frame, its edge curving down to the sides, with
            the sky's reflection along it (:func:`hood_mask`); labelled void, it moves with the camera.
        camera_height_m: the camera's height above the road (1.5 m: a car's; an SUV's about 1.8, a bus's or a
            lorry cab's 2.3..2.6).
        hfov_deg: horizontal field of view, degrees; None: the focal length is 0.9 x the width (58 degrees).
        white_vehicles: share (0..1) of the vehicles, of every kind, repainted white or light grey; each vehicle
            draws its own (from its texture seed), so it keeps its colour along a sequence.
        light: 'day', 'dusk' or 'night' (:data:`LIGHTS`): at dusk and at night a dark sky glowing at the horizon,
            dim ambient light, the street lamps' pools of light, the camera car's low beams, moving vehicles' head
            and tail lights and the lamps' heads burning out with a bloom, a noisier, less saturated sensor.
        wet: 0 (dry) .. 1 (soaked): the road darker and mirroring what stands above it (blurred, as rough wet
            asphalt does), with water's Fresnel reflectance; the pavement a little darker.
        puddles: with ``wet``, puddles on the road that mirror sharply.

    The labels do not depend on light, wet or puddles. The defaults render every seed as it always has.
    """
    from ...camera import CameraModel

    if hazard not in HAZARDS:
        raise ValueError(f'unknown hazard {hazard!r}; expected one of {HAZARDS}')
    if structure not in STRUCTURES:
        raise ValueError(f'unknown structure {structure!r}; expected one of {STRUCTURES}')
    seed = _seed_of(rng_or_seed)
    layout = None if hazard is None else 'white_trailer'    # every hazard crosses the same kind of street
    st = _street(seed, layout)
    if sky_brightness is None:
        sky_brightness = 0.95 if hazard is not None else st.sky_brightness
    sky_brightness = float(np.clip(sky_brightness, 0.0, 1.0))
    if not 0.5 <= float(camera_height_m) <= 5.0:
        raise ValueError(f'camera_height_m must be 0.5..5 m above the road, got {camera_height_m!r}')
    if hfov_deg is not None and not 20.0 <= float(hfov_deg) <= 150.0:
        raise ValueError(f'hfov_deg must be 20..150 degrees (or None for the default), got {hfov_deg!r}')
    if not 0.0 <= float(white_vehicles) <= 1.0:
        raise ValueError(f'white_vehicles must be a share from 0 to 1, got {white_vehicles!r}')
    if light not in LIGHTS:
        raise ValueError(f'unknown light {light!r}; expected one of {LIGHTS}')
    if low_sun and light == 'night':
        raise ValueError("low_sun needs light 'day' or 'dusk'; there is no sun at night")
    if not 0.0 <= float(wet) <= 1.0:
        raise ValueError(f'wet must be 0 (dry) to 1 (soaked), got {wet!r}')
    focal = None if hfov_deg is None else width / 2.0 / math.tan(math.radians(float(hfov_deg)) / 2)
    ctx = _Ctx(st, int(height), int(width), float(t), float(speed), float(pitch_deg), focal, camera_height_m)
    ctx.white_vehicles = float(white_vehicles)
    if overcast is None:
        overcast = st.overcast or hazard is not None
    sky_row = st.horizon * ctx.H - ctx.f * math.tan(math.radians(pitch_deg))
    sky, hor = _sky(seed, ctx.H, ctx.W, round(sky_row * 2) / 2, round(sky_brightness, 3), bool(overcast),
                    0.9 if focal is None else round(ctx.f / ctx.W, 4))
    haze = hor
    if light != 'day':
        sky, haze = _dark_sky(sky, hor, sky_row, ctx.f, light)
    ctx.rgb[:] = sky
    _draw_ground(ctx)
    btex, balpha, blab, bppm = _backdrop_tex(seed, hazard is not None)
    s = 1.0 / bppm
    # the skyline spans 600 m, 76 degrees from the camera; a wider view sees it again on either side
    spans = (0,) if ctx.W / 2 / ctx.f < math.tan(math.radians(36)) else (-600, 0, 600)
    for dx in spans:
        _quad(ctx, btex, (ctx.pos[0] + dx - 300 + s / 2, 40 - s / 2, ctx.pos[2] + _BACKDROP), (s, 0, 0),
              (0, -s, 0), blab, balpha, shade=0.9)
    back, bl, ob = _items(ctx, seed, layout)
    for _, it in sorted(back, key=lambda kv: -kv[0]):
        _draw_item(ctx, it)
    for _, it in sorted(bl, key=lambda kv: -kv[0]):
        _draw_item(ctx, it)
    exit_z = ctx.pos[2] + structure_distance
    if structure == 'tunnel_exit':
        _draw_tunnel(ctx, exit_z)
        # nothing stands on the pavement inside a tunnel: keep only what is on the road there
        ob = [(z, it) for z, it in ob if z >= exit_z or isinstance(it, _Car) or
              (isinstance(it, _Cyclist) and not it.crossing)]
    elif structure == 'overpass':
        rng = np.random.default_rng([seed, 321])
        z = ctx.pos[2] + structure_distance
        ob.append((z, ('overpass', z, float(rng.uniform(9, 15)), float(rng.uniform(4.6, 6.0)),
                       float(rng.uniform(1.0, 1.6)))))
    hazard_at = None
    if hazard is not None and -20.0 < hazard_distance - ctx.pos[2] < _BACKDROP:
        rng = np.random.default_rng([seed, 123])
        d = 1 if rng.random() < 0.5 else -1
        centre = (st.road_left + st.road_right) / 2
        if hazard == 'white_trailer':
            # the box (13.6 m) starts centred on the road and creeps across at 0.5 m/s, cab leading
            x_rear = centre - d * (6.8 + rng.uniform(0.5, 1.0)) + d * 0.5 * ctx.t
            item, length = ('trailer', seed, x_rear, hazard_distance, d), 16.6
        else:
            length = _truck_tex(seed, hazard, (0, 0, 0))[3]
            box = 13.6 if hazard == 'sky_trailer' else length - 2.4
            colour = _hazard_colour(seed, hazard, hor)
            x_rear = centre - d * (box / 2 + rng.uniform(-0.5, 0.5)) + d * 0.5 * ctx.t
            item = ('truck', seed, hazard, colour, x_rear, hazard_distance, d)
        ob.append((hazard_distance, item))
        hazard_at = (hazard_distance, min(x_rear, x_rear + d * length), max(x_rear, x_rear + d * length))
    for _, it in sorted(ob, key=lambda kv: -kv[0]):
        _draw_item(ctx, it)
    if hazard_at is not None:
        ctx.hazard_mask |= _road_beneath(ctx, *hazard_at)
    ego = np.zeros((ctx.H, ctx.W), bool)
    if hood is not None:
        if not 0.0 < float(hood) < 1.0:
            raise ValueError(f'hood must be a share of the rows between 0 and 1, got {hood!r}')
        ego = _draw_hood(ctx, seed, float(hood), hor)
    emit = None
    if light != 'day':
        emit = _light_scene(ctx, seed, light, ob, ego)
    if structure == 'tunnel_exit':
        _tunnel_exposure(ctx, exit_z)
    if light == 'day' and not wet:
        rgb, labels = _finish(ctx, seed, hor)
    else:
        def overlay(img):
            if emit is not None:
                img += emit
            if wet:
                img = _wet_road(ctx, img, float(wet), bool(puddles), seed, None if emit is None else 4 * emit)
            return img if emit is None else _bloom(img)

        tone = LIGHTING.get(light)
        rgb, labels = _finish(ctx, seed, haze, overlay, tone.noise if tone else 1.0, tone.saturation if tone else 1.0)
    if low_sun:
        rgb = _sun_glare(rgb, seed, ctx.v0, ctx.f)
    camera = CameraModel(ctx.f, ctx.f, ctx.cx, st.horizon * ctx.H, ctx.W, ctx.H, math.radians(pitch_deg), ctx.h)
    return RenderedFrame(rgb, labels, ctx.hazard_mask.copy(), camera, ego)


def hood_mask(height: int, width: int, share: float) -> np.ndarray:
    """H x W bool: a hood covering the lowest ``share`` of the rows at the centre.

    Its edge is a parabola that falls by 6% of the height towards the sides (the hood's top edge seen from the
    windscreen).
    """
    x = (np.arange(width, dtype=np.float64) - (width - 1) / 2.0) / (width / 2.0)
    edge = height * (1.0 - share) + 0.06 * height * x ** 2
    return np.arange(height)[:, None] >= np.round(edge)[None, :]


def _draw_hood(ctx, seed, share, hor):
    """Paint the ego vehicle's hood into the frame; returns its mask.

    Body colour, darker towards the windscreen, the sky's reflection along its edge; drawn before the camera's
    effects, so it gets their blur and noise.
    """
    rng = np.random.default_rng([seed, 4242])
    colour = np.asarray(_pick(rng, _CAR_COLS, _CAR_P), np.float32)
    if ctx.white_vehicles:
        rng = np.random.default_rng([seed, 4243])
        if rng.random() < ctx.white_vehicles:
            colour = np.asarray(_pick(rng, _LIGHT_CAR_COLS), np.float32)
    mask = hood_mask(ctx.H, ctx.W, share)
    top = np.argmax(mask, axis=0).astype(np.float32)
    rows = np.arange(ctx.H, dtype=np.float32)[:, None]
    depth = np.clip((rows - top[None, :]) / max(share * ctx.H, 1.0), 0.0, 1.0)    # 0 at the edge, 1 at the bottom
    shade = 0.85 - 0.35 * depth
    reflection = 0.55 * np.exp(-depth / 0.18)                                    # the sky mirrored near the edge
    x = np.linspace(-1.0, 1.0, ctx.W, dtype=np.float32)[None, :]
    reflection *= 0.75 + 0.25 * np.cos(3.0 * x)
    body = colour[None, None, :] * shade[..., None]
    paint = body + reflection[..., None] * (np.asarray(hor, np.float32)[None, None, :] - body)
    ctx.rgb[mask] = paint[mask]
    ctx.lab[mask] = VOID
    ctx.invd[mask] = 1.0            # a metre away: no haze
    ctx.hazard_mask &= ~mask
    return mask


def _hazard_colour(seed, hazard, hor):
    """The hazard's body colour: the sky's own colour at the horizon, or a white or silver truck."""
    rng = np.random.default_rng([seed, 97])
    sky = tuple(float(v) for v in np.clip(np.asarray(hor, np.float64) * rng.uniform(0.96, 1.03), 0, 255))
    if hazard == 'sky_trailer':
        return sky
    return _pick(rng, ((226.0, 228.0, 230.0), (200.0, 204.0, 208.0), sky))


def _road_beneath(ctx, z, x0, x1):
    """H x W bool: the road seen at or beyond depth ``z`` between ``x0`` and ``x1``, i.e. under the hazard."""
    rows = np.arange(ctx.H, dtype=np.float64) - ctx.v0
    with np.errstate(divide='ignore'):
        depth = np.where(rows > 0, ctx.f * ctx.h / np.maximum(rows, 1e-9), np.inf)
    x = (np.arange(ctx.W) - ctx.cx)[None, :] * depth[:, None] / ctx.f + ctx.pos[0]
    beyond = (depth[:, None] >= z - ctx.pos[2]) & np.isfinite(depth)[:, None]
    return beyond & (x >= x0) & (x <= x1) & (ctx.lab == ROAD)


# the frame sizes of varied scenes: 4:3 (CamVid's), 2:1 (Cityscapes'), 16:9
VARIED_SIZES = ((360, 480), (320, 640), (360, 640))


def varied_options(seed: int, scale: float = 1.0) -> dict:
    """The :func:`render_frame` options (size included) of a varied training frame, drawn from ``seed`` alone.

    Size from :data:`VARIED_SIZES` (times ``scale``), camera height 1.1..2.6 m (a car's to a bus's), horizontal
    field of view 50..110 degrees, pitch -2..6 degrees, a time 0..2 s; a hood over 15..35% of the rows in about a
    quarter of the frames, 50..90% of the vehicles white or light grey in a third, dusk or night in a quarter, a
    wet road (puddles in half of them) in a fifth.
    """
    rng = np.random.default_rng([int(seed), 6007])
    height, width = VARIED_SIZES[int(rng.integers(len(VARIED_SIZES)))]
    options = {'height': max(int(round(height * scale)), 16), 'width': max(int(round(width * scale)), 16),
               't': round(float(rng.uniform(0.0, 2.0)), 2),
               'camera_height_m': round(float(rng.uniform(1.1, 2.6)), 2),
               'hfov_deg': round(float(rng.uniform(50.0, 110.0)), 1),
               'pitch_deg': round(float(rng.uniform(-2.0, 6.0)), 2)}
    hood, white, dark, wet = rng.random(4)
    if hood < 0.25:
        options['hood'] = round(float(rng.uniform(0.15, 0.35)), 3)
    if white < 1 / 3:
        options['white_vehicles'] = round(float(rng.uniform(0.5, 0.9)), 2)
    if dark < 0.25:
        options['light'] = 'dusk' if rng.random() < 0.5 else 'night'
    if wet < 0.2:
        options['wet'] = round(float(rng.uniform(0.4, 1.0)), 2)
        options['puddles'] = bool(rng.random() < 0.5)
    return options


def render_sequence(seed, n_frames, height=360, width=480, fps=10, **options):
    """Yield (rgb, labels) for n_frames consecutive frames of one street, t = i / fps.

    Options are passed on to render_scene (hazard, sky_brightness, hazard_distance, speed).
    """
    for i in range(int(n_frames)):
        yield render_scene(seed, height, width, t=i / float(fps), **options)

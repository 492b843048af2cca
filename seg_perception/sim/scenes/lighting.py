"""The scene's own light: dusk and night (ambient, street lamps, vehicle lights, the camera car's beams), wet roads.

Daylight is painted into the frame's albedo by the other modules. At dusk and at night (:data:`LIGHTING`) the sky
is dimmed and tinted (:func:`_dark_sky`), and every surface is lit again from its 3-D point, which the frame's
inverse depth gives (:func:`_light_scene`): a dim ambient, the pools of the street lamps and the low beams of the
camera's own vehicle; the lamps' heads and the head and tail lights of moving vehicles become emitters, bright
enough to burn out and bloom (:func:`_bloom`). A wet road (:func:`_wet_road`) is darker and mirrors what stands
above it, blurred, with the Fresnel reflectance of water; puddles mirror it sharply. None of this touches the
labels.
"""

from dataclasses import dataclass
from functools import lru_cache
import math

import cv2
import numpy as np

from .layout import CAR, POLE, ROAD, SIDEWALK, _Car, _Lamp
from .textures import _car_ends, _fbm_tile, _wrap


@dataclass(frozen=True)
class _Lighting:
    ambient: tuple          # RGB factor on the daylight albedo
    horizon_tint: tuple     # RGB factors on the day sky at the horizon ...
    zenith_tint: tuple      # ... and high above it
    lamp: float             # a street lamp's intensity (its pool is lamp / height**2 under it)
    beam: float             # the camera car's low beams on the road ahead
    noise: float            # the sensor noise, times the seed's
    saturation: float       # the colour saturation, times the seed's


LIGHTING = {
    'dusk': _Lighting((0.34, 0.30, 0.36), (0.95, 0.62, 0.45), (0.20, 0.24, 0.40), 20.0, 0.3, 1.4, 0.95),
    'night': _Lighting((0.05, 0.055, 0.075), (0.16, 0.13, 0.12), (0.03, 0.035, 0.06), 18.0, 0.55, 1.8, 0.8),
}
_LAMP_COLOURS = ((1.0, 0.72, 0.42), (1.0, 0.8, 0.55), (0.93, 0.95, 1.0))     # sodium, warm white, LED
_HEADLIGHT = (1.0, 0.97, 0.9)
_TAIL_LIGHT = (1.0, 0.12, 0.08)
_LAMP_REACH = 90.0      # lamps further ahead than this light nothing visible (their pools are a few pixels)


def _dark_sky(sky, hor, v0, f, light):
    """The day sky dimmed and tinted for ``light``: a glow at the horizon, dark above (a new array)."""
    tint = LIGHTING[light]
    rows = np.arange(sky.shape[0], dtype=np.float32)
    g = np.clip((v0 - rows) / f / 0.4, 0, 1) ** 0.6
    h, z = np.asarray(tint.horizon_tint, np.float32), np.asarray(tint.zenith_tint, np.float32)
    factor = h[None, :] * (1 - g)[:, None] + z[None, :] * g[:, None]
    return sky * factor[:, None, :], np.asarray(hor, np.float32) * h


def _lamp_colour(seed):
    rng = np.random.default_rng([seed, 808])
    return np.asarray(_LAMP_COLOURS[int(rng.choice(3, p=(0.45, 0.2, 0.35)))], np.float32)


def _light_scene(ctx, seed, light, items, ego):
    """Relight the painted frame for ``light``; returns the emitters' image (H x W x 3 float32, added later).

    ``items``: the frame's (Z, item) layout list (lamps and vehicles are picked from it); ``ego``: the hood's mask
    (ambient light only).
    """
    spec = LIGHTING[light]
    H, W, f, cx, v0, h = ctx.H, ctx.W, ctx.f, ctx.cx, ctx.v0, ctx.h
    lamps = [it for _, it in items if isinstance(it, _Lamp) and -15 < it.z - ctx.pos[2] < _LAMP_REACH]
    # the light varies slowly over a surface: compute it at every other pixel's 3-D point, then interpolate
    z = np.float32(1.0) / np.maximum(ctx.invd[::2, ::2], np.float32(1e-6))
    u = np.arange(z.shape[1], dtype=np.float32) * 2 + np.float32(0.5)
    v = np.arange(z.shape[0], dtype=np.float32) * 2 + np.float32(0.5)
    x = ((u - np.float32(cx)) / np.float32(f))[None, :] * z
    y = np.float32(h) - ((v - np.float32(v0)) / np.float32(f))[:, None] * z
    pool = np.zeros(z.shape, np.float32)
    for lamp in lamps:
        lx, ly, lz = _lamp_head(lamp)
        dx, dy, dz = x - np.float32(lx - ctx.pos[0]), np.float32(ly) - y, z - np.float32(lz - ctx.pos[2])
        d2 = dx * dx + dy * dy + dz * dz + np.float32(1.0)
        pool += np.maximum(dy, np.float32(0.3)) / (d2 * np.sqrt(d2))      # cosine over distance squared
    # the lamps shine down: their own poles and whatever is right beside a head get no more than a bright road
    pool = np.minimum(np.float32(spec.lamp) * pool, np.float32(0.45))
    beam = np.float32(spec.beam) * np.exp(-(x / (np.float32(0.35) * z + np.float32(0.6))) ** 2) \
        * np.clip((np.float32(0.9) + np.float32(0.012) * z - y) / np.float32(0.4), 0, 1) \
        / (1 + (z / np.float32(9.0)) ** np.float32(1.7)) * (z > 1.0)
    pool, beam = (cv2.resize(a, (W, H), interpolation=cv2.INTER_LINEAR) for a in (pool, beam))
    light_rgb = np.asarray(spec.ambient, np.float32) + pool[..., None] * _lamp_colour(seed) \
        + beam[..., None] * np.asarray(_HEADLIGHT, np.float32)
    light_rgb[ego] = spec.ambient               # the hood: ambient light only
    np.copyto(light_rgb, np.float32(1.0), where=((ctx.invd <= 0) & ~ego)[..., None])   # the sky has its own
    ctx.rgb *= light_rgb
    emit = np.zeros((H, W, 3), np.float32)
    colour = _lamp_colour(seed)
    for lamp in lamps:
        lx, ly, lz = _lamp_head(lamp)
        _emitter(ctx, emit, (lx, ly + 0.05, lz), (0.22, 0.04), 700.0 * colour, POLE)
    for _, it in items:
        if isinstance(it, _Car) and it.v != 0:
            for centre, size, rgb in _vehicle_lights(ctx, it):
                _emitter(ctx, emit, centre, size, rgb, CAR)
    return emit


def _lamp_head(lamp):
    """World point of a street lamp's head: at the end of its arm over the road, under its housing."""
    return lamp.x - lamp.side * (lamp.arm - 0.05), lamp.height - 0.5, lamp.z


def _vehicle_lights(ctx, car):
    """(centre, half size, RGB intensity) of the lights a moving vehicle shows the camera: head or tail lights."""
    s = car.spec
    z = car.z + car.v * ctx.t
    z_near = z if car.facing > 0 else z - s.length
    front = car.facing < 0                      # oncoming: its front faces the camera
    y_low = _car_ends(s, front)[0]
    lamp_y = (min(y_low - 0.12, 0.85) if s.kind != 'bus' else 0.75) - 0.005
    off = s.width / 2 - 0.03 - 0.1 * s.width    # the lamps' centres, as _car_lower_tex paints them
    rgb = np.asarray(_HEADLIGHT, np.float32) * 900.0 if front else np.asarray(_TAIL_LIGHT, np.float32) * 700.0
    return [((car.x + sx * off, lamp_y, z_near - 0.01), (0.1 * s.width, 0.05), rgb) for sx in (-1, 1)]


def _emitter(ctx, emit, centre, size, rgb, label):
    """Add a light's Gaussian core at world ``centre`` (half ``size`` in m) where its own surface shows.

    The light is hidden unless a pixel at or beside its image carries ``label`` at its depth (nothing stands in
    front of it). Lights smaller than a pixel keep their energy: dimmer, not bigger.
    """
    depth = centre[2] - ctx.pos[2]
    if depth < 0.5:
        return
    u = ctx.cx + ctx.f * (centre[0] - ctx.pos[0]) / depth
    v = ctx.v0 - ctx.f * (centre[1] - ctx.h) / depth
    iu, iv = int(round(u)), int(round(v))
    if not (0 <= iu < ctx.W and 0 <= iv < ctx.H):
        return
    y0, y1, x0, x1 = max(iv - 1, 0), min(iv + 2, ctx.H), max(iu - 1, 0), min(iu + 2, ctx.W)
    seen = (ctx.lab[y0:y1, x0:x1] == label) & (np.abs(ctx.invd[y0:y1, x0:x1] * depth - 1) < 0.05)
    if not seen.any():
        return
    sx, sy = ctx.f * size[0] / depth, ctx.f * size[1] / depth
    ex, ey = max(sx, 0.6), max(sy, 0.6)
    peak = np.asarray(rgb, np.float32) * np.float32(sx * sy / (ex * ey))
    rx, ry = int(math.ceil(3 * ex)), int(math.ceil(3 * ey))
    y0, y1, x0, x1 = max(iv - ry, 0), min(iv + ry + 1, ctx.H), max(iu - rx, 0), min(iu + rx + 1, ctx.W)
    if y1 <= y0 or x1 <= x0:
        return
    gx = np.exp(-0.5 * ((np.arange(x0, x1, dtype=np.float32) - np.float32(u)) / np.float32(ex)) ** 2)
    gy = np.exp(-0.5 * ((np.arange(y0, y1, dtype=np.float32) - np.float32(v)) / np.float32(ey)) ** 2)
    emit[y0:y1, x0:x1] += (gy[:, None] * gx[None, :])[..., None] * peak


def _bloom(img):
    """The lens's and sensor's bloom around whatever burns out: two halos of the light above the white level."""
    h, w = img.shape[:2]
    hot = np.maximum(img - np.float32(230.0), np.float32(0.0))
    if not hot.any():
        return img
    small = cv2.resize(hot, (max(w // 4, 1), max(h // 4, 1)), interpolation=cv2.INTER_AREA)
    near = cv2.GaussianBlur(small, (0, 0), max(0.012 * w / 4, 0.8))
    far = cv2.GaussianBlur(small, (0, 0), max(0.04 * w / 4, 1.5))
    halo = cv2.resize(0.5 * near + 0.2 * far, (w, h), interpolation=cv2.INTER_LINEAR)
    return img + halo


@lru_cache(maxsize=4)
def _puddle_tile(variant):
    """Tileable puddle field (256 x 256, 0.125 m per texel), zero mean, unit std."""
    rng = np.random.default_rng([variant, 913])
    return _fbm_tile(rng, 256, (32, 16, 8, 4), (1.0, 0.7, 0.4, 0.2))


def _wet_road(ctx, img, wetness, puddles, seed, hdr=None):
    """A wet road in ``img`` (after haze, before the camera's effects): darker, mirroring what stands above it.

    ``hdr``: light beyond what ``img`` holds (the emitters are far brighter than white), mirrored too.

    A scene point at height Y and depth Z is mirrored by the road to the row ``2 * (v0 + f h / Z) - v``: about the
    row where the road at its depth is seen. Every pixel of the frame is sent there in its column (the nearest
    wins), the mirror image blurred (rough asphalt: more along the column than across it, as wet roads smear
    lights into streaks; puddles barely), and mixed in by water's Fresnel reflectance at the viewing angle.
    """
    H, W = ctx.H, ctx.W
    road = ctx.lab == ROAD
    rows = np.arange(H, dtype=np.float32)
    target = np.rint(2 * (np.float32(ctx.v0) + np.float32(ctx.f * ctx.h) * ctx.invd) - rows[:, None]).astype(np.int64)
    sr, sc = np.nonzero((target > rows[:, None] + 1) & (target < H))
    tr = target[sr, sc]
    hit = road[tr, sc]
    sr, sc, tr = sr[hit], sc[hit], tr[hit]
    # the nearest source wins a target
    flat = tr * W + sc
    near = ctx.invd[sr, sc]
    best = np.full(H * W, -1.0, np.float32)
    np.maximum.at(best, flat, near)
    win = near >= best[flat]
    sr, sc, tr = sr[win], sc[win], tr[win]
    mirror = np.zeros((H, W, 3), np.float32)
    weight = np.zeros((H, W), np.float32)
    source = img if hdr is None else img + hdr
    mirror[tr, sc] = source[sr, sc]
    weight[tr, sc] = 1.0
    top = cv2.GaussianBlur(img[:1], (0, 0), 3.0)        # what is above the frame, where nothing is mirrored

    def smear(sx, sy, step=1):
        # a blur of the mirror image that fills its holes (normalised by the blurred weight)
        m, wt = mirror, weight
        if step > 1:
            size = (max(W // step, 1), max(H // step, 1))
            m, wt = (cv2.resize(a, size, interpolation=cv2.INTER_AREA) for a in (m, wt))
        m = cv2.GaussianBlur(m, (0, 0), sigmaX=sx / step, sigmaY=sy / step)
        wt = cv2.GaussianBlur(wt, (0, 0), sigmaX=sx / step, sigmaY=sy / step)
        if step > 1:
            m, wt = (cv2.resize(a, (W, H), interpolation=cv2.INTER_LINEAR) for a in (m, wt))
        a = np.clip(wt * 2, 0, 1)[..., None]
        return m / np.maximum(wt, 1e-3)[..., None] * a + top * (1 - a)

    rough = smear(max(0.004 * W, 1.0), max(0.03 * H, 2.0), step=2)
    dv = np.maximum(rows - np.float32(ctx.v0), np.float32(0.5))
    sin_a = dv / np.sqrt(dv * dv + np.float32(ctx.f * ctx.f))        # the ray's angle to the road
    fresnel = (0.02 + 0.98 * (1 - sin_a) ** 5)[:, None]
    refl = np.float32(0.75 * wetness) * fresnel * np.ones((1, W), np.float32)
    dark = np.full((H, W), 1 - 0.45 * wetness, np.float32)
    if puddles:
        water = _puddle_mask(ctx, seed)
        sharp = smear(0.6, max(0.004 * H, 0.6))
        rough += (sharp - rough) * water[..., None]
        refl = refl + (fresnel - refl) * water
        dark += (0.25 - dark) * water
    wet = img * (dark * (1 - refl))[..., None] + rough * refl[..., None]
    out = np.where(road[..., None], wet, img)
    out[ctx.lab == SIDEWALK] *= np.float32(1 - 0.2 * wetness)
    return out


def _puddle_mask(ctx, seed):
    """H x W float32 in 0..1: where the road's water stands in puddles (world-fixed, so they stay put)."""
    H, W, f, h = ctx.H, ctx.W, ctx.f, ctx.h
    dv = np.arange(H, dtype=np.float32) - np.float32(ctx.v0)
    z = np.where(dv > 0.5, np.float32(f * h) / np.maximum(dv, np.float32(0.5)), np.float32(1e4))[:, None]
    shift = np.random.default_rng([seed, 914]).uniform(0, 32, 2).astype(np.float32)     # the street's own puddles
    x = ((np.arange(W, dtype=np.float32) - np.float32(ctx.cx)) / np.float32(f))[None, :] * z + np.float32(ctx.pos[0])
    x = x + shift[0]
    zw = np.broadcast_to(z + np.float32(ctx.pos[2]) + shift[1], x.shape)
    tile = _puddle_tile(seed % 4)
    field = cv2.remap(tile, _wrap(x * np.float32(8), 256), np.ascontiguousarray(_wrap(zw * np.float32(8), 256)),
                      cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
    # far away a pixel's footprint along the road covers many puddles: fade the field towards its mean coverage
    footprint = z * z / np.float32(f * h) * np.float32(8)
    a = np.clip(1.0 - footprint / 12.0, 0, 1)
    cover = np.clip((field - 0.8) / 0.2, 0, 1)
    return cover * a + np.float32(0.2) * (1 - a)

"""Photometric effects that make a rendered frame look like a camera's rather than a cartoon.

Haze towards the horizon colour, exposure, colour temperature and saturation, vignetting, blur and sensor noise
(:func:`_finish`); the exposure of a tunnel's inside, and a low sun's glare.
"""

from functools import lru_cache
import math

import cv2
import numpy as np


def _tunnel_exposure(ctx, exit_z):
    """Expose for the tunnel's inside: the daylit world beyond the exit burns out to near white."""
    outside = ctx.invd < np.float32(1.0 / (exit_z - ctx.pos[2]))
    ctx.rgb *= np.where(outside, np.float32(1.7), np.float32(0.45))[..., None]
    ctx.rgb[outside] = np.minimum(ctx.rgb[outside] + np.float32(70.0), np.float32(255.0))


def _sun_glare(rgb, seed, v0, f):
    """A low sun just above the horizon: a burnt-out disk, veiling glare over everything, a lens streak."""
    rng = np.random.default_rng([seed, 71])
    h, w = rgb.shape[:2]
    u = rng.uniform(0.2, 0.8) * w
    v = v0 - f * math.tan(math.radians(rng.uniform(1.5, 7.0)))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r2 = ((xx - u) ** 2 + (yy - v) ** 2) / (w * w)
    glow = 255 * (np.exp(-r2 / 0.0006) + 0.55 * np.exp(-r2 / 0.01) + 0.25 * np.exp(-r2 / 0.08))
    glow += 90 * np.exp(-((yy - v) / (0.01 * h)) ** 2) * np.exp(-np.abs(xx - u) / (0.35 * w))
    tint = np.array((1.0, 0.93, 0.78), np.float32)
    out = rgb.astype(np.float32) + glow[..., None] * tint
    return np.clip(out, 0, 255).astype(np.uint8)


# ------------------------------ lens and sensor
@lru_cache(maxsize=8)
def _vignette(height, width):
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    r2 = ((xx - width / 2) / (width / 2)) ** 2 * 0.6 + ((yy - height / 2) / (height / 2)) ** 2 * 0.4
    return (1 - 0.22 * r2)[..., None].astype(np.float32)


@lru_cache(maxsize=4)
def _noise_tile(height, width):
    rng = np.random.default_rng(77)
    return rng.standard_normal((height + 16, width + 16, 3), dtype=np.float32)


def _finish(ctx, seed, hor, overlay=None, noise_scale=1.0, saturation_scale=1.0):
    """The camera's photometry on the painted frame: (RGB uint8, labels).

    ``overlay``: a function of the hazed frame for what the air does not dim (emitters, reflections, bloom);
    ``noise_scale`` and ``saturation_scale`` scale the seed's sensor noise and colour saturation.
    """
    st = ctx.st
    img = ctx.rgb
    # atmospheric haze towards the horizon colour (sky pixels have inverse depth 0 and stay as they are)
    a = np.exp(np.float32(-1.0 / st.haze_dist) / np.maximum(ctx.invd, np.float32(1e-9)))
    a = (np.float32(0.85) * (1 - a))[..., None]
    img += a * (hor.astype(np.float32)[None, None, :] - img)
    if overlay is not None:
        img = overlay(img)
    # exposure, colour temperature and saturation in one colour matrix, then vignetting, blur and noise
    gain = st.gain * np.array((1 + st.temperature, 1.0, 1 - st.temperature), np.float32)
    sat = st.saturation * saturation_scale
    m = (sat * np.eye(3) + (1 - sat) / 3.0) * gain[:, None]
    img = cv2.transform(img, m.astype(np.float32))
    img *= _vignette(ctx.H, ctx.W)
    img = cv2.GaussianBlur(img, (0, 0), st.blur)
    nt = _noise_tile(ctx.H, ctx.W)
    k = int(round(ctx.t * 1000)) * 7919 + seed * 104729 + 13
    oy, ox = k % 16, (k // 16) % 16
    img += np.float32(st.noise * noise_scale) * nt[oy:oy + ctx.H, ox:ox + ctx.W]
    return np.clip(img, 0, 255).astype(np.uint8), ctx.lab.copy()

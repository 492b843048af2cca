"""Procedural textures: how each thing of the street looks.

Fractal noise, sky, road and pavement, facades, fences, trees, street furniture, cars, people, the hazard
vehicles and the far skyline. Each texture is a function of its layout item (cached by value) and returns uint8
RGB with an alpha mask, and per-texel labels where one texture holds several classes (signs on their posts, the
skyline's buildings and trees).
"""

from functools import lru_cache
import math

import cv2
import numpy as np

from .layout import BUILDING, POLE, SIGN, TREE, _GREENS, _SHOPS, _WALLS, _pick


# ------------------------------ noise
def _fbm(rng, h, w, cell, octaves=3, gain=0.5):
    """Smooth fractal noise of shape (h, w), zero mean, unit std (float32)."""
    out = np.zeros((h, w), np.float32)
    amp = 1.0
    cell = max(1, int(cell))
    for _ in range(octaves):
        gh, gw = h // cell + 3, w // cell + 3
        g = rng.standard_normal((gh, gw), dtype=np.float32)
        big = cv2.resize(g, (gw * cell, gh * cell), interpolation=cv2.INTER_CUBIC)
        out += amp * big[cell:cell + h, cell:cell + w]
        amp *= gain
        if cell == 1:
            break
        cell = max(1, cell // 2)
    out -= out.mean()
    return out / (out.std() + 1e-6)


def _fbm_tile(rng, n, cells, gains=None):
    """Tileable fractal noise of shape (n, n); every cell size must divide n."""
    out = np.zeros((n, n), np.float32)
    for i, cell in enumerate(cells):
        m = n // cell
        g = np.pad(rng.standard_normal((m, m)).astype(np.float32), 2, mode='wrap')
        big = cv2.resize(g, ((m + 4) * cell, (m + 4) * cell), interpolation=cv2.INTER_CUBIC)
        out += (gains[i] if gains else 0.5 ** i) * big[2 * cell:2 * cell + n, 2 * cell:2 * cell + n]
    out -= out.mean()
    return out / (out.std() + 1e-6)


def _wrap(x, n):
    """Return x mod n for a float32 array (faster than np.mod)."""
    return x - np.float32(n) * np.floor(x * np.float32(1.0 / n))


def _blur_wrap(a, sigma):
    p = int(3 * sigma) + 2
    big = np.pad(a, ((p, p), (p, p)) + ((0, 0),) * (a.ndim - 2), mode='wrap')
    return cv2.GaussianBlur(big, (0, 0), sigma)[p:-p, p:-p]


def _mips(base):
    """Stack a tileable texture with two pre-blurred copies, for cheap distance-dependent filtering."""
    return np.dstack([base, _blur_wrap(base, 2.0), _blur_wrap(base, 7.0)]).astype(np.float32)


# ------------------------------ shadows
_SOFT = None


def _soft_blob():
    global _SOFT
    if _SOFT is None:
        g = np.zeros((32, 32), np.float32)
        cv2.ellipse(g, (16, 16), (11, 11), 0, 0, 360, 1.0, -1)
        _SOFT = (cv2.GaussianBlur(g, (0, 0), 3.5) * 255).astype(np.uint8)
    return _SOFT


# ------------------------------ sky
@lru_cache(maxsize=8)
def _sky(seed, height, width, v0, brightness, overcast, focal_ratio=0.9):
    """Sky image (float32 RGB, rendered at half resolution: it is smooth) and the horizon colour.

    ``focal_ratio``: the camera's focal length over the image width.
    """
    full = (height, width)
    height, width, v0 = (height + 1) // 2, (width + 1) // 2, v0 / 2
    rng = np.random.default_rng([seed, 5])
    f = focal_ratio * width
    b = brightness
    hor = np.array((188, 192, 198), np.float32) * (1 - b) + np.array((250, 250, 248), np.float32) * b
    if overcast:
        top = hor * np.array((0.86, 0.89, 0.94)) * (0.88 + 0.1 * b)
    else:
        top = np.array((78, 120, 186), np.float32) * (1 - b * 0.7) + np.array((210, 225, 240)) * b * 0.7
    rows = np.arange(height, dtype=np.float32)
    el = (v0 - rows) / f
    g = np.clip(el / 0.55, 0, 1) ** 0.6
    sky = hor[None, None, :] * (1 - g)[:, None, None] + top[None, None, :] * g[:, None, None]
    sky = np.broadcast_to(sky, (height, width, 3)).copy()
    # clouds on a plane 1 km up, sampled in perspective
    n = 256
    tile = _fbm_tile(rng, n, (128, 64, 32, 16, 8), (1.0, 0.6, 0.35, 0.2, 0.1))
    e = np.maximum(el, 0.004)[:, None]
    xs = ((np.arange(width, dtype=np.float32) - (width - 1) / 2) / f)[None, :]
    mx = np.mod(xs / e * 9.0 + 37.0, n).astype(np.float32)
    my = np.mod(1.0 / e * 9.0, n).astype(np.float32) * np.ones((1, width), np.float32)
    cl = cv2.remap(tile, mx * np.ones_like(my), my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
    fade = np.clip((el - 0.01) / 0.12, 0, 1)[:, None]
    if overcast:
        sky *= (1 + 0.07 * cl * fade)[..., None]
    else:
        cover = np.clip((cl - rng.uniform(0.0, 1.2)) / 0.8, 0, 1) * fade
        cloud = np.array((236, 237, 240), np.float32) * (0.82 + 0.08 * np.clip(cl, -2, 2))[..., None]
        sky = sky * (1 - cover[..., None]) + cloud * cover[..., None]
    sky = np.clip(sky, 0, 255).astype(np.float32)
    sky = cv2.resize(sky, (full[1], full[0]), interpolation=cv2.INTER_LINEAR)
    return sky, hor


# ------------------------------ ground
@lru_cache(maxsize=4)
def _ground_textures(variant):
    rng = np.random.default_rng([variant, 11])
    n = 512
    grain = rng.standard_normal((n, n)).astype(np.float32)
    grain = _blur_wrap(grain, 0.7)
    stones = _blur_wrap((rng.random((n, n)) < 0.03).astype(np.float32), 0.8)
    mid = _fbm_tile(rng, n, (64, 32, 16))
    asphalt = 0.55 * grain / grain.std() + 0.35 * mid + 1.2 * stones / (stones.std() + 1e-6) * 0.3
    asphalt = _mips(asphalt / asphalt.std())
    m = 128
    large = _fbm_tile(rng, m, (64, 32, 16, 8), (1.0, 0.7, 0.4, 0.2))
    for _ in range(6):
        x, y = rng.integers(0, m, 2)
        w, h = rng.integers(3, 10, 2)
        patch = np.zeros((m, m), np.float32)
        patch[y:y + h, x:x + w] = rng.choice((-1.5, 1.2))
        large += _blur_wrap(patch, 0.6)
    # paving: 0.6 m slabs on a 4.8 m tile of 256 texels
    p = 256
    slab = np.repeat(np.repeat(rng.normal(0, 0.5, (8, 8)).astype(np.float32), 32, 0), 32, 1)
    jj = np.arange(p) % 32
    joint = ((jj[:, None] < 2) | (jj[None, :] < 2)).astype(np.float32)
    pav = slab + 0.5 * rng.standard_normal((p, p)).astype(np.float32) + 0.3 * _fbm_tile(rng, p, (32, 16)) \
        - 2.2 * joint
    pav = _mips(_blur_wrap(pav, 0.6))
    return asphalt, large.astype(np.float32), pav


def _mip_mix(stack, fp):
    w1 = np.clip((fp - 1.0) * 0.4, 0, 1)
    w2 = np.clip((fp - 4.0) * 0.1, 0, 1)
    return stack[..., 0] + w1 * (stack[..., 1] - stack[..., 0]) + w2 * (stack[..., 2] - stack[..., 1]) * w1


@lru_cache(maxsize=64)
def _road_profile(st):
    """Cross-road brightness profile: darker wheel tracks and gutters (1 x N float32, 2 cm steps)."""
    xs = np.arange(st.road_left - 1, st.road_right + 1, 0.02, dtype=np.float32)
    prof = np.ones_like(xs)
    for lx in st.same_lanes + st.on_lanes:
        for off in (-0.85, 0.85):
            prof -= 0.05 * np.exp(-((xs - lx - off) / 0.35) ** 2)
    for kx in (st.road_left, st.road_right):
        prof -= 0.08 * np.exp(-((xs - kx) / 0.25) ** 2)
    return prof[None, :], float(xs[0])


# ------------------------------ buildings and street furniture
_FPPM = 10.0    # facade texels per metre


@lru_cache(maxsize=512)
def _facade_tex(b, lod=1):
    """Facade texture of a building: a material index per texel, looked up in a palette, times luminance."""
    rng = np.random.default_rng(b.tex_seed)
    ppm = _FPPM / lod
    length = b.z1 - b.z0
    total = b.height + b.roof_h
    tw, th = max(2, int(round(length * ppm))), max(2, int(round(total * ppm)))
    hy = total - (np.arange(th, dtype=np.float32) + 0.5) / ppm
    xs = (np.arange(tw, dtype=np.float32) + 0.5) / ppm
    wall = np.asarray(b.wall, np.float32)
    unit = (xs // b.unit_w).astype(np.int32)
    nu = int(unit.max()) + 1
    tints = np.clip(1 + rng.normal(0, 0.06, (nu, 3)), 0.8, 1.2).astype(np.float32)
    if rng.random() < 0.4:
        tints[:] = 1.0
    nfl = max(0, int((b.height - b.ground_h - 0.4) // b.floor_h))
    nb = max(1, int((length - 0.8) // b.bay))
    nf1 = max(nfl, 1)
    glass_tab = rng.uniform(38, 80, (nf1, nb, 1)) * np.array((0.95, 1.0, 1.08))
    lit = rng.random((nf1, nb)) < 0.25
    glass_tab[lit] = rng.uniform(110, 170, (int(lit.sum()), 1)) * np.array((1.05, 1.0, 0.9))
    shop_cols = np.asarray(_SHOPS, np.float32)[rng.integers(0, len(_SHOPS), nu)]
    door_cols = np.asarray(_SHOPS, np.float32)[rng.integers(0, len(_SHOPS), nu)] * 0.8
    slate = np.array((62, 62, 68), np.float32) * rng.uniform(0.8, 1.3)
    trim = np.asarray(b.trim, np.float32) * 0.95
    # palette layout
    TRIM, SLATE, SGLASS, DTXT, LTXT = nu, nu + 1, nu + 2, nu + 3, nu + 4
    DOOR, SHOP, GLASS = nu + 5, 2 * nu + 5, 3 * nu + 5
    pal = np.concatenate([wall * tints, trim[None], slate[None], np.array([[40, 42, 47]], np.float32),
                          np.array([[40, 40, 40], [225, 225, 225]], np.float32), door_cols, shop_cols,
                          glass_tab.reshape(-1, 3).astype(np.float32)])
    idx = np.empty((th, tw), np.int32)
    idx[:] = unit[None, :]
    lum = 1 + _fbm(rng, th, tw, 16 // lod, 3) * 0.03 + rng.standard_normal((th, tw), dtype=np.float32) * 0.03
    streak = cv2.resize(rng.standard_normal((1, tw // 4 + 2), dtype=np.float32), (tw, th),
                        interpolation=cv2.INTER_LINEAR)
    lum += 0.03 * streak
    # windows of the upper floors
    above = hy - b.ground_h
    fi = np.floor(above / b.floor_h).astype(np.int32)
    fy = above - fi * b.floor_h
    rows_ok = (above >= 0) & (fi < nfl)
    row_win = rows_ok & (fy > b.sill) & (fy < b.sill + b.win_h)
    fw = 0.09
    row_frm = rows_ok & (fy > b.sill - fw - 0.06) & (fy < b.sill + b.win_h + fw)
    margin = (length - nb * b.bay) / 2
    bi = np.floor((xs - margin) / b.bay).astype(np.int32)
    fx = xs - margin - bi * b.bay - b.bay / 2
    col_ok = (bi >= 0) & (bi < nb)
    col_win = col_ok & (np.abs(fx) < b.win_w / 2)
    col_frm = col_ok & (np.abs(fx) < b.win_w / 2 + fw)
    fic, bic = np.clip(fi, 0, nf1 - 1), np.clip(bi, 0, nb - 1)
    frm = row_frm[:, None] & col_frm[None, :]
    idx[frm] = TRIM
    win = row_win[:, None] & col_win[None, :]
    gidx = GLASS + fic[:, None] * nb + bic[None, :]
    idx[win] = gidx[win]
    refl = (1.0 + 0.6 * np.clip(1 - (fy - b.sill) / b.win_h, 0, 1) ** 2).astype(np.float32)
    lum = np.where(win, refl[:, None], lum)
    if b.win_w > 1.1:
        idx[row_win[:, None] & (col_ok & (np.abs(fx) < 0.045))[None, :]] = TRIM
    # ground floor: shop fronts, or doors and windows
    gf = (hy >= 0) & (hy < b.ground_h)
    upos = np.mod(xs, b.unit_w)
    if b.shop:
        pillar = (upos < 0.35) | (upos > b.unit_w - 0.35)
        fas = (gf & (hy > b.ground_h - 0.85) & (hy < b.ground_h - 0.2))[:, None] & ~pillar[None, :]
        idx[fas] = (SHOP + unit)[None, :].repeat(th, 0)[fas]
        txt = fas & (np.abs(hy - (b.ground_h - 0.52)) < 0.12)[:, None] & \
            ((np.sin(xs * 9.0 + unit * 2.0) > 0.1) & (upos > 1.0) & (upos < b.unit_w - 1.0))[None, :]
        light_txt = np.where(shop_cols.sum(-1) > 400, DTXT, LTXT)[unit]
        idx[txt] = light_txt[None, :].repeat(th, 0)[txt]
        gl = (gf & (hy > 0.45) & (hy < b.ground_h - 0.95))[:, None] & ~pillar[None, :]
        idx[gl] = SGLASS
        sh = np.clip(1.3 - (hy - 0.45) / (b.ground_h - 1.4), 0.6, 1.6)[:, None]
        inside = (0.8 + 0.25 * _fbm(rng, th, tw, 6, 2)) * sh
        door = ((upos > 0.6) & (upos < 1.6))[None, :] & (hy < 2.2)[:, None]
        lum = np.where(gl, np.where(door, inside * 0.6, inside), lum)
    else:
        door = (upos > 0.7) & (upos < 1.7)
        dr = (gf & (hy < 2.2))[:, None] & door[None, :]
        idx[dr] = (DOOR + unit)[None, :].repeat(th, 0)[dr]
        gwin = (gf & (hy > 0.9) & (hy < 0.9 + b.win_h))[:, None] & (col_win & ~door)[None, :]
        idx[gwin] = (GLASS + bic)[None, :].repeat(th, 0)[gwin]
    # plinth, cornice, roof
    lum[hy < 0.35] *= 0.8
    idx[(hy > b.height - 0.35) & (hy <= b.height)] = TRIM
    alpha = None
    if b.roof_h > 0:
        roof = hy > b.height
        idx[roof] = SLATE
        lum[roof] = (1 + 0.08 * np.sin(hy[roof] * 2 * np.pi / 0.28))[:, None] + 0.05 * lum[roof] - 0.05
        inset = np.clip((hy - b.height) / b.roof_h, 0, 1) * min(b.roof_h * 1.2, length * 0.3)
        am = ((xs[None, :] > inset[:, None]) & (xs[None, :] < length - inset[:, None])) | ~roof[:, None]
        chim = (roof & (hy < b.height + b.roof_h * 0.95))[:, None] & \
            ((np.mod(xs + b.unit_w / 2, b.unit_w) < 0.7) & (xs > 1) & (xs < length - 1))[None, :]
        idx[chim] = np.broadcast_to(unit[None, :], idx.shape)[chim]
        lum[chim] = 0.8
        alpha = (am | chim).astype(np.uint8) * 255
    img = pal[idx] * lum[..., None]
    return np.clip(img, 0, 255).astype(np.uint8), alpha


@lru_cache(maxsize=512)
def _endwall_tex(b, lod=1):
    rng = np.random.default_rng(b.tex_seed + 1)
    ppm = _FPPM / 2 / lod
    tw, th = max(2, int(round(b.depth * ppm))), max(2, int(round((b.height + b.roof_h) * ppm)))
    hy = b.height + b.roof_h - (np.arange(th, dtype=np.float32) + 0.5) / ppm
    xs = (np.arange(tw, dtype=np.float32) + 0.5) / ppm
    img = np.asarray(b.wall, np.float32)[None, None, :] * (1 + 0.05 * _fbm(rng, th, tw, 8, 2))[..., None]
    alpha = None
    if b.roof_h > 0:
        peak = b.height + b.roof_h * (1 - np.abs(xs / b.depth * 2 - 1))
        alpha = (hy[:, None] <= peak[None, :]).astype(np.uint8) * 255
    return np.clip(img, 0, 255).astype(np.uint8), alpha


@lru_cache(maxsize=256)
def _fence_tex(fe):
    rng = np.random.default_rng(fe.tex_seed)
    ppm = 20.0
    tw, th = max(2, int(round((fe.z1 - fe.z0) * ppm))), max(2, int(round(fe.height * ppm)))
    xs = (np.arange(tw) + 0.5) / ppm
    hy = fe.height - (np.arange(th) + 0.5) / ppm
    n = _fbm(rng, th, tw, 8, 3)
    alpha = np.ones((th, tw), bool)
    if fe.kind == 'hedge':
        g = np.asarray(_pick(rng, _GREENS), np.float32)
        fine = _fbm(rng, th, tw, 3, 2)
        img = g * (0.75 + 0.2 * n + 0.25 * fine)[..., None]
        top = fe.height - 0.15 * (1 + np.sin(xs * 1.3 + rng.uniform(0, 6))) - 0.05 * n[0]
        alpha = hy[:, None] <= top[None, :]
    elif fe.kind == 'panel':
        wood = np.asarray(_pick(rng, ((110, 80, 55), (90, 70, 50), (130, 110, 85), (80, 85, 70))), np.float32)
        plank = 1 + 0.08 * np.sin(xs * 2 * np.pi / 0.15)[None, :] + 0.06 * n
        post = (np.mod(xs, 1.8) < 0.1)[None, :]
        img = wood * plank[..., None] * np.where(post, 0.75, 1.0)[..., None]
    elif fe.kind == 'palisade':
        metal = np.asarray(_pick(rng, ((70, 80, 70), (110, 112, 116), (40, 42, 44))), np.float32)
        img = metal * (1 + 0.05 * n)[..., None] * np.ones((th, tw, 1), np.float32)
        pale = np.mod(xs, 0.14) < 0.08
        rail = (np.abs(hy - 0.3) < 0.04) | (np.abs(hy - (fe.height - 0.3)) < 0.04)
        alpha = pale[None, :] | rail[:, None]
        alpha &= (hy[:, None] < fe.height - 0.06 * (np.mod(xs, 0.14) < 0.03)[None, :] - 0.001)
    else:   # railing on a low wall
        wall = np.asarray(_pick(rng, _WALLS), np.float32)
        metal = np.array((35, 36, 38), np.float32)
        low = hy < 0.5
        img = np.where(low[:, None, None], wall, metal) * (1 + 0.05 * n)[..., None]
        bar = np.mod(xs, 0.15) < 0.06
        rail = np.abs(hy - (fe.height - 0.05)) < 0.04
        alpha = low[:, None] | bar[None, :] | rail[:, None]
    return np.clip(img, 0, 255).astype(np.uint8), alpha.astype(np.uint8) * 255


@lru_cache(maxsize=128)
def _tree_tex(tr):
    rng = np.random.default_rng(tr.tex_seed)
    ppm = 20.0
    tw, th = max(4, int(round(tr.canopy_w * ppm))), max(4, int(round(tr.height * ppm)))
    xs = (np.arange(tw, dtype=np.float32) + 0.5) / ppm - tr.canopy_w / 2
    hy = tr.height - (np.arange(th, dtype=np.float32) + 0.5) / ppm
    img = np.zeros((th, tw, 3), np.float32)
    alpha = np.zeros((th, tw), np.uint8)
    bark = np.array((72, 62, 52), np.float32) * rng.uniform(0.8, 1.2)
    cy = tr.height - tr.canopy_h * 0.5
    tw_m = max(0.18, tr.height * 0.025)

    def p(x, y):
        return (int(round((x + tr.canopy_w / 2) * ppm)), int(round((tr.height - y) * ppm)))

    trunk = np.array([p(-tw_m, 0), p(tw_m, 0), p(tw_m * 0.6, cy), p(-tw_m * 0.6, cy)], np.int32)
    cv2.fillPoly(img, [trunk], bark.tolist())
    cv2.fillPoly(alpha, [trunk], 255)
    thick = max(1, int(tw_m * ppm * 0.6))
    for _ in range(5):
        ang = rng.uniform(-1.1, 1.1)
        y0 = rng.uniform(cy - tr.canopy_h * 0.35, cy)
        ln = rng.uniform(0.3, 0.5) * tr.canopy_h
        a, b = p(0, y0), p(math.sin(ang) * ln, y0 + math.cos(ang) * ln)
        cv2.line(img, a, b, bark.tolist(), thick)
        cv2.line(alpha, a, b, 255, thick)
    # canopy: union of discs, softened, roughened by leaf noise
    m = np.zeros((th, tw), np.float32)
    for _ in range(int(rng.integers(6, 11))):
        bx = rng.uniform(-0.2, 0.2) * tr.canopy_w
        by = cy + rng.uniform(-0.2, 0.2) * tr.canopy_h
        r = rng.uniform(0.25, 0.38) * min(tr.canopy_w, tr.canopy_h)
        r = min(r, 0.42 * tr.canopy_w - abs(bx), 0.92 * tr.height - by)     # stay inside the sprite
        cv2.circle(m, p(bx, by), max(1, int(r * ppm)), 1.0, -1)
    field = cv2.GaussianBlur(m, (0, 0), 0.1 * min(tr.canopy_w, tr.canopy_h) * ppm)
    clumps = _fbm(rng, th, tw, 10, 3)
    fine = _fbm(rng, th, tw, 3, 2)
    canopy = field + 0.14 * clumps + 0.08 * fine > 0.5
    canopy &= ~((fine < -1.7) & (field < 0.85))
    green = np.asarray(tr.green, np.float32)
    light = 0.55 + 0.3 * np.clip(clumps * 0.7 + fine * 0.4, -1.6, 1.6) \
        + 0.25 * np.clip((hy[:, None] - cy) / tr.canopy_h, -0.5, 0.5) - 0.12 * (xs[None, :] / tr.canopy_w)
    light = np.clip(light, 0.2, 1.3)
    img[canopy] = (green[None, None, :] * light[..., None])[canopy]
    alpha[canopy] = 255
    return np.clip(img, 0, 255).astype(np.uint8), alpha


@lru_cache(maxsize=64)
def _lamp_tex(lp):
    ppm = 30.0
    w = lp.arm + 0.5
    tw, th = int(round(w * ppm)), int(round(lp.height * ppm))
    img = np.zeros((th, tw, 3), np.float32)
    img[:] = lp.colour
    alpha = np.zeros((th, tw), np.uint8)
    px = int(0.25 * ppm)
    half = max(1, int(0.09 * ppm))
    cols = np.arange(tw)
    shade = 1.0 + 0.35 * np.clip(1 - np.abs(cols - px) / (half + 1), 0, 1)
    img *= shade[None, :, None]
    alpha[:, px - half:px + half + 1] = 255
    ay = int(0.35 * ppm)
    alpha[ay:ay + max(2, int(0.08 * ppm)), px:] = 255
    head = np.s_[ay - 1:ay + int(0.18 * ppm), tw - int(0.6 * ppm):tw]
    alpha[head] = 255
    img[head] = (175, 175, 170)
    img[ay + int(0.12 * ppm):ay + int(0.18 * ppm), tw - int(0.6 * ppm):tw] = (220, 222, 215)
    return np.clip(img, 0, 255).astype(np.uint8), alpha


@lru_cache(maxsize=256)
def _sign_tex(sg):
    rng = np.random.default_rng(sg.tex_seed)
    ppm = 60.0
    plate_h = 0.75 if sg.kind.startswith('round') or sg.kind == 'triangle' else 0.9
    plate_w = 0.75 if plate_h == 0.75 else rng.uniform(0.9, 1.4)
    if sg.kind == 'lights':
        plate_w, plate_h = 0.35, 0.9
    total_h = sg.post + plate_h
    tw, th = int(round(max(plate_w, 0.12) * ppm)), int(round(total_h * ppm))
    img = np.zeros((th, tw, 3), np.uint8)
    lab = np.full((th, tw), POLE, np.uint8)
    alpha = np.zeros((th, tw), np.uint8)
    c = tw // 2
    pw = max(2, int(0.04 * ppm))
    img[:, c - pw:c + pw + 1] = (95, 98, 100)
    alpha[:, c - pw:c + pw + 1] = 255
    ph = int(plate_h * ppm)
    plate = np.zeros((ph, tw, 3), np.uint8)
    pa = np.zeros((ph, tw), np.uint8)
    r = min(tw, ph) // 2 - 1
    if sg.kind in ('round_red', 'round_blue'):
        if sg.kind == 'round_red':
            cv2.circle(plate, (c, ph // 2), r, (190, 30, 30), -1)
            cv2.circle(plate, (c, ph // 2), int(r * 0.75), (235, 235, 230), -1)
            dw, dh, th_ = max(2, int(r * 0.22)), max(3, int(r * 0.4)), max(1, r // 9)
            lc, rc = (c - int(r * 0.27), ph // 2), (c + int(r * 0.27), ph // 2)
            cv2.ellipse(plate, (lc[0], lc[1] - dh // 2), (dw, dh // 2), 0, -150, 90, (20, 20, 20), th_)
            cv2.ellipse(plate, (lc[0], lc[1] + dh // 2), (dw, dh // 2), 0, -90, 150, (20, 20, 20), th_)
            cv2.ellipse(plate, rc, (dw, dh), 0, 0, 360, (20, 20, 20), th_)
        else:
            cv2.circle(plate, (c, ph // 2), r, (30, 70, 160), -1)
            cv2.arrowedLine(plate, (c, ph // 2 + r // 2), (c, ph // 2 - r // 2), (235, 235, 235),
                            max(2, r // 6), tipLength=0.4)
        cv2.circle(pa, (c, ph // 2), r, 255, -1)
    elif sg.kind == 'triangle':
        tri = np.array([[c, 1], [1, ph - 2], [tw - 2, ph - 2]], np.int32)
        cv2.fillPoly(plate, [tri], (200, 30, 30))
        inner = np.array([[c, int(ph * 0.25)], [int(tw * 0.18), ph - int(ph * 0.12)],
                          [int(tw * 0.82), ph - int(ph * 0.12)]], np.int32)
        cv2.fillPoly(plate, [inner], (235, 235, 230))
        cv2.fillPoly(pa, [tri], 255)
    elif sg.kind == 'lights':
        plate[:] = (30, 32, 30)
        for i, col in enumerate(((200, 40, 30), (200, 150, 30), (40, 190, 80))):
            lit = (i == int(rng.integers(3)))
            cv2.circle(plate, (c, int(ph * (0.2 + 0.3 * i))), int(tw * 0.3),
                       col if lit else tuple(v // 4 for v in col), -1)
        pa[:] = 255
    else:
        base = (30, 70, 150) if sg.kind == 'rect_blue' else (20, 100, 60)
        plate[:] = base
        cv2.rectangle(plate, (2, 2), (tw - 3, ph - 3), (230, 230, 230), 2)
        for i in range(3):
            y = int(ph * (0.25 + 0.22 * i))
            x1 = int(tw * rng.uniform(0.5, 0.85))
            cv2.rectangle(plate, (int(tw * 0.12), y), (x1, y + max(2, ph // 14)), (230, 230, 230), -1)
        pa[:] = 255
    img[:ph][pa > 0] = plate[pa > 0]
    alpha[:ph] |= pa
    lab[:ph][pa > 0] = SIGN
    return img, alpha, lab, plate_w, total_h


# ------------------------------ cars
_CPPM = 50.0


def _car_profile(spec):
    """Side silhouette (x from rear as a fraction of length, y in m) and window polygon."""
    h, k = spec.height, spec.kind
    belt = min(0.95, 0.6 * h) if k not in ('van', 'bus') else 0.5 * h
    if k == 'sedan':
        body = [(0, 0.3), (0, belt - 0.08), (0.02, belt), (0.2, belt + 0.03), (0.32, h), (0.62, h),
                (0.78, belt + 0.04), (0.96, belt - 0.06), (1.0, belt - 0.22), (1.0, 0.3), (0.98, 0.18),
                (0.02, 0.18)]
        win = [(0.23, belt + 0.06), (0.34, h - 0.06), (0.61, h - 0.06), (0.75, belt + 0.06)]
    elif k in ('hatch', 'suv'):
        body = [(0, 0.3), (0, belt + 0.05), (0.05, h - 0.03), (0.08, h), (0.62, h), (0.8, belt + 0.04),
                (0.97, belt - 0.08), (1.0, belt - 0.22), (1.0, 0.3), (0.98, 0.2), (0.02, 0.2)]
        win = [(0.08, belt + 0.06), (0.11, h - 0.07), (0.61, h - 0.07), (0.77, belt + 0.06)]
    elif k == 'van':
        body = [(0, 0.3), (0, h), (0.78, h), (0.9, h * 0.62), (0.99, belt), (1.0, 0.3), (0.98, 0.22),
                (0.02, 0.22)]
        win = [(0.78, belt + 0.08), (0.78, h - 0.12), (0.79, h - 0.1), (0.88, h * 0.62)]
    else:   # bus
        body = [(0, 0.3), (0, h - 0.1), (0.01, h), (0.99, h), (1.0, h - 0.1), (1.0, 0.3), (0.99, 0.25),
                (0.01, 0.25)]
        win = [(0.03, 1.2), (0.03, h - 0.25), (0.97, h - 0.25), (0.97, 1.2)]
    return belt, body, win


@lru_cache(maxsize=512)
def _car_side_tex(spec, lod=1):
    rng = np.random.default_rng(spec.tex_seed)
    rim = float(rng.uniform(95, 160))
    ppm = _CPPM / lod
    length, h = spec.length, spec.height
    tw, th = int(round(length * ppm)), int(round(h * ppm))
    belt, body, win = _car_profile(spec)
    col = np.asarray(spec.colour, np.float32)

    def p(xf, y):
        return [int(round(xf * (tw - 1))), int(round((h - y) * ppm))]

    img = np.zeros((th, tw, 3), np.float32)
    img[:] = col
    alpha = np.zeros((th, tw), np.uint8)
    cv2.fillPoly(alpha, [np.array([p(*q) for q in body], np.int32)], 255)
    hy = h - (np.arange(th, dtype=np.float32) + 0.5) / ppm
    grad = np.where(hy < belt, 0.72 + 0.38 * np.clip(hy / belt, 0, 1), 1.0)
    grad = grad + 0.18 * np.exp(-((hy - belt + 0.04) / 0.05) ** 2)
    img *= grad[:, None, None]
    img *= (1 + 0.006 * rng.standard_normal((th, tw), dtype=np.float32))[..., None]
    glass = np.zeros((th, tw), np.uint8)
    cv2.fillPoly(glass, [np.array([p(*q) for q in win], np.int32)], 1)
    gcol = np.array((42, 46, 54), np.float32) * \
        (1 + 0.6 * np.clip((hy - belt) / (h - belt), 0, 1))[:, None, None]
    img = np.where(glass[..., None] > 0, gcol, img)
    if spec.kind in ('sedan', 'hatch', 'suv'):
        bx = int(0.48 * tw)
        img[:, bx:bx + max(2, int(0.05 * ppm))][glass[:, bx:bx + max(2, int(0.05 * ppm))] > 0] = (25, 25, 28)
        for xf in (0.47, 0.75 if spec.kind != 'sedan' else 0.74):
            x = int(xf * tw)
            img[int((h - belt) * ppm):int((h - 0.25) * ppm), x] *= 0.6
    if spec.kind == 'bus':
        for xf in np.arange(0.12, 0.95, 0.12):
            x = int(xf * tw)
            img[:, x:x + 3][glass[:, x:x + 3] > 0] = col * 0.8
    # wheels
    r = 0.5 if spec.kind == 'bus' else (0.34 if spec.kind == 'van' else 0.31)
    for xf in ((0.14, 0.86) if spec.kind == 'bus' else (0.17, 0.82)):
        c = tuple(p(xf, r))
        cv2.circle(img, c, int((r + 0.04) * ppm), (18, 18, 20), -1)
        cv2.circle(img, c, int(r * ppm), (28, 28, 30), -1)
        cv2.circle(img, c, int(r * 0.6 * ppm), (rim, rim, rim), -1)
        cv2.circle(img, c, int(r * 0.2 * ppm), (60, 60, 62), -1)
        cv2.circle(alpha, c, int(r * ppm), 255, -1)
    return np.clip(img, 0, 255).astype(np.uint8), alpha


def _car_ends(spec, front):
    """End geometry of a car: lower face height, deck (boot/bonnet) length and cabin slope.

    Returns (y_low, s0, y_cab, s1): the vertical end face reaches y_low; a deck runs from the end to
    s0 * length rising to y_cab; the sloped rear window / windscreen runs from (s0, y_cab) to (s1, roof).
    """
    belt, _, _ = _car_profile(spec)
    k, h = spec.kind, spec.height
    if k == 'bus':
        return 1.1, 0.0, 1.1, 0.0
    if k == 'van':
        return (belt, 0.1, 0.62 * h, 0.22) if front else (belt, 0.0, belt, 0.0)
    if k == 'sedan':
        return (belt - 0.06, 0.22, belt + 0.04, 0.38) if front else (belt, 0.2, belt + 0.03, 0.32)
    return (belt - 0.08, 0.2, belt + 0.04, 0.38) if front else (belt + 0.05, 0.0, belt + 0.05, 0.08)


@lru_cache(maxsize=512)
def _car_lower_tex(spec, front, lod=1):
    rng = np.random.default_rng(spec.tex_seed + (7 if front else 3))
    ppm = _CPPM / lod
    w = spec.width
    y_low = _car_ends(spec, front)[0]
    tw, th = int(round(w * ppm)), max(2, int(round(y_low * ppm)))
    col = np.asarray(spec.colour, np.float32)
    hy = y_low - (np.arange(th, dtype=np.float32) + 0.5) / ppm
    img = col * (0.72 + 0.38 * np.clip(hy / y_low, 0, 1))[:, None, None] * np.ones((1, tw, 1), np.float32)
    alpha = np.zeros((th, tw), np.uint8)

    def p(x, y):   # x from the centre (m), y above ground
        return (int(round(tw / 2 + x * ppm)), int(round((y_low - y) * ppm)))

    cv2.rectangle(alpha, p(-w / 2, y_low), p(w / 2, 0.2), 255, -1)
    cv2.rectangle(alpha, p(-w / 2 + 0.02, y_low), p(-w / 2, y_low - 0.05), 0, -1)
    cv2.rectangle(alpha, p(w / 2 - 0.02, y_low), p(w / 2, y_low - 0.05), 0, -1)
    lamp_y = min(y_low - 0.12, 0.85) if spec.kind != 'bus' else 0.75
    lw = 0.2 * w
    if front:
        lamp = (205, 205, 200)
        cv2.rectangle(img, p(-w * 0.18, 0.4), p(w * 0.18, lamp_y + 0.04), (30, 30, 32), -1)
        plate_col = (225, 225, 220)
    else:
        lamp = (150, 22, 24) if rng.random() < 0.8 else (220, 40, 40)
        plate_col = (215, 190, 60) if rng.random() < 0.7 else (225, 225, 220)
    for sx in (-1, 1):
        cv2.rectangle(img, p(sx * (w / 2 - 0.03), lamp_y + 0.06), p(sx * (w / 2 - 0.03 - lw), lamp_y - 0.07),
                      lamp, -1)
    cv2.rectangle(img, p(-0.26, 0.52), p(0.26, 0.41), plate_col, -1)
    cv2.rectangle(img, p(-w / 2, 0.37), p(w / 2, 0.2), tuple(float(v) for v in col * 0.5 + 12), -1)
    r = 0.31 if spec.kind != 'bus' else 0.5
    for sx in (-1, 1):
        a, b = p(sx * (w / 2 - 0.04), r * 0.95), p(sx * (w / 2 - 0.27), 0)
        cv2.rectangle(img, a, b, (22, 22, 24), -1)
        cv2.rectangle(alpha, a, b, 255, -1)
    img *= (1 + 0.006 * rng.standard_normal((th, tw), dtype=np.float32))[..., None]
    return np.clip(img, 0, 255).astype(np.uint8), alpha


@lru_cache(maxsize=512)
def _car_cabin_tex(spec, front, lod=1):
    ppm = _CPPM / lod
    w, h = spec.width, spec.height
    _, _, y_cab, _ = _car_ends(spec, front)
    ch = max(h - y_cab, 0.05)
    tw, th = int(round(w * ppm)), max(2, int(round(ch * ppm)))
    col = np.asarray(spec.colour, np.float32)
    boxy = spec.kind in ('van', 'bus')
    top = 0.95 if boxy else 0.8
    yy = (np.arange(th, dtype=np.float32) + 0.5) / th          # 0 at the roof, 1 at the bottom
    half = (top + (1 - top) * yy) * w / 2                       # half-width per row
    xs = np.arange(tw, dtype=np.float32) + 0.5 - tw / 2
    alpha = (np.abs(xs)[None, :] <= half[:, None] * ppm).astype(np.uint8) * 255
    ghalf = half - (0.09 if not boxy else 0.12)
    if spec.kind == 'van' and not front:
        glass = (np.abs(xs)[None, :] <= ghalf[:, None] * ppm) & (np.abs(xs)[None, :] > 0.04 * ppm) & \
            ((yy > 0.1) & (yy < 0.5))[:, None]
    else:
        glass = (np.abs(xs)[None, :] <= ghalf[:, None] * ppm) & ((yy > 0.08) & (yy < 0.94))[:, None]
    gl = np.array((40, 44, 52), np.float32) * (1.8 - 0.8 * yy)[:, None, None]
    img = np.where(glass[..., None], gl, col * 1.02)
    return np.clip(img, 0, 255).astype(np.uint8), alpha


@lru_cache(maxsize=256)
def _flat_tex(colour):
    return np.full((2, 2, 3), colour, np.uint8)


# ------------------------------ people
@lru_cache(maxsize=1024)
def _ped_tex(pd, phase, front):
    rng = np.random.default_rng(pd.tex_seed)
    ppm = 60.0
    hp = pd.height
    tw, th = int(round(0.8 * ppm)), int(round(hp * ppm)) + 1
    coat = np.asarray(pd.coat, np.float32)
    img = np.zeros((th, tw, 3), np.float32)
    img[:] = coat
    alpha = np.zeros((th, tw), np.uint8)

    def P(pts):
        return [np.array([[int(round(tw / 2 + x * hp * ppm)), int(round(th - 1 - y * hp * ppm))]
                          for x, y in pts], np.int32)]

    def fill(pts, colour):
        cv2.fillPoly(img, P(pts), tuple(float(c) for c in colour))
        cv2.fillPoly(alpha, P(pts), 255)

    s = math.sin(2 * math.pi * phase)
    legs = np.asarray(pd.legs, np.float32)
    shoe = (28, 26, 26)
    for sx, lift in ((-1, max(0.0, s)), (1, max(0.0, -s))):
        ly = 0.045 * lift
        fill([(sx * 0.012, 0.48), (sx * 0.085, 0.48), (sx * 0.07, ly + 0.03), (sx * 0.02, ly + 0.03)],
             legs * (0.9 if sx > 0 else 1.0))
        fill([(sx * 0.015, ly), (sx * 0.075, ly), (sx * 0.075, ly + 0.035), (sx * 0.015, ly + 0.035)], shoe)
    bottom = 0.36 if pd.long_coat else 0.46
    fill([(-0.1, bottom), (0.1, bottom), (0.115, 0.74), (0.13, 0.8), (0.05, 0.83), (-0.05, 0.83),
          (-0.13, 0.8), (-0.115, 0.74)], coat)
    skin = np.asarray(pd.skin, np.float32)
    swing = 0.03 * s
    for sx in (-1, 1):
        fill([(sx * 0.115, 0.79), (sx * 0.15, 0.77), (sx * (0.16 + swing * sx), 0.45),
              (sx * (0.125 + swing * sx), 0.45)], coat * 0.92)
        hand = tuple(int(v) for v in P([(sx * (0.142 + swing * sx), 0.44)])[0][0])
        cv2.circle(img, hand, max(1, int(0.022 * hp * ppm)), tuple(float(c) for c in skin), -1)
        cv2.circle(alpha, hand, max(1, int(0.022 * hp * ppm)), 255, -1)
    if pd.bag:
        fill([(0.14, 0.42), (0.22, 0.42), (0.22, 0.55), (0.14, 0.55)], (40, 32, 28))
    fill([(-0.025, 0.82), (0.025, 0.82), (0.025, 0.87), (-0.025, 0.87)], skin * 0.9)
    c = tuple(int(v) for v in P([(0, 0.93)])[0][0])
    axes = (max(1, int(0.05 * hp * ppm)), max(1, int(0.066 * hp * ppm)))
    hair = tuple(float(v) for v in pd.hair)
    cv2.ellipse(img, c, axes, 0, 0, 360, tuple(float(v) for v in (skin if front else pd.hair)), -1)
    cv2.ellipse(alpha, c, axes, 0, 0, 360, 255, -1)
    if front:
        cv2.ellipse(img, c, axes, 0, 180, 360, hair, -1)
        cv2.ellipse(img, (c[0], c[1] + axes[1] // 3), (axes[0], axes[1] // 2), 0, 180, 360,
                    tuple(float(v) for v in skin), -1)
    xx = np.arange(tw, dtype=np.float32) / tw
    img *= (1.08 - 0.25 * xx)[None, :, None]
    img *= (1 + 0.05 * rng.standard_normal((th, tw))).astype(np.float32)[..., None]
    return np.clip(img, 0, 255).astype(np.uint8), alpha


def _cyclist_side(cy, phase):
    ppm = 50.0
    tw, th = int(1.9 * ppm), int(1.85 * ppm)
    img = np.zeros((th, tw, 3), np.float32)
    img[:] = cy.jacket
    alpha = np.zeros((th, tw), np.uint8)

    def p(x, y):
        return (int(round(x * ppm)), int(round(th - 1 - y * ppm)))

    def ln(a, b, col, w):
        cv2.line(img, p(*a), p(*b), tuple(float(c) for c in col), max(1, int(w * ppm)))
        cv2.line(alpha, p(*a), p(*b), 255, max(1, int(w * ppm)))

    for cx_ in (0.4, 1.45):
        cv2.circle(img, p(cx_, 0.35), int(0.34 * ppm), (25, 25, 25), max(2, int(0.05 * ppm)))
        cv2.circle(alpha, p(cx_, 0.35), int(0.34 * ppm), 255, max(2, int(0.05 * ppm)))
        ln((cx_, 0.35), (cx_, 0.36), (120, 120, 120), 0.06)
    bike = cy.bike
    bb, seat, head = (0.88, 0.32), (0.78, 0.95), (1.3, 1.0)
    for a, b in (((0.4, 0.35), bb), (bb, seat), (seat, head), ((0.4, 0.35), seat), (bb, head),
                 (head, (1.45, 0.35)), (head, (1.28, 1.08))):
        ln(a, b, bike, 0.035)
    ang = 2 * math.pi * phase
    legs = (30, 30, 40)
    for da in (0.0, math.pi):
        pedal = (bb[0] + 0.17 * math.cos(ang + da), bb[1] + 0.17 * math.sin(ang + da))
        hip = (0.8, 1.0)
        d = math.hypot(pedal[0] - hip[0], pedal[1] - hip[1])
        knee_up = math.sqrt(max(0.0, 0.46 ** 2 - (d / 2) ** 2))
        mx, my = (hip[0] + pedal[0]) / 2, (hip[1] + pedal[1]) / 2
        nx, ny = (pedal[1] - hip[1]) / max(d, 1e-6), -(pedal[0] - hip[0]) / max(d, 1e-6)
        knee = (mx - nx * knee_up, my - ny * knee_up)
        if knee[0] < mx:
            knee = (mx + nx * knee_up, my + ny * knee_up)
        ln(hip, knee, legs, 0.11)
        ln(knee, pedal, legs, 0.09)
    ln((0.8, 1.02), (1.08, 1.45), cy.jacket, 0.2)
    ln((1.05, 1.42), (1.3, 1.08), np.asarray(cy.jacket) * 0.85, 0.07)
    cv2.circle(img, p(1.14, 1.6), int(0.11 * ppm), (200, 170, 140), -1)
    cv2.ellipse(img, p(1.14, 1.63), (int(0.13 * ppm), int(0.09 * ppm)), 0, 180, 360, (40, 40, 40), -1)
    cv2.circle(alpha, p(1.14, 1.6), int(0.12 * ppm), 255, -1)
    return np.clip(img, 0, 255).astype(np.uint8), alpha


@lru_cache(maxsize=256)
def _cyclist_tex(cy, phase):
    return _cyclist_side(cy, phase)


@lru_cache(maxsize=256)
def _cyclist_back_tex(cy, phase):
    ppm = 60.0
    tw, th = int(0.7 * ppm), int(1.75 * ppm)
    img = np.zeros((th, tw, 3), np.float32)
    img[:] = cy.jacket
    alpha = np.zeros((th, tw), np.uint8)

    def p(x, y):
        return (int(round(tw / 2 + x * ppm)), int(round(th - 1 - y * ppm)))

    cv2.ellipse(img, p(0, 0.35), (max(1, int(0.025 * ppm)), int(0.35 * ppm)), 0, 0, 360, (25, 25, 25), -1)
    cv2.ellipse(alpha, p(0, 0.35), (max(1, int(0.025 * ppm)), int(0.35 * ppm)), 0, 0, 360, 255, -1)
    s = math.sin(2 * math.pi * phase)
    for sx in (-1, 1):
        y = 0.25 + 0.12 * s * sx
        cv2.line(img, p(sx * 0.07, 1.0), p(sx * 0.09, y), (30, 30, 40), int(0.1 * ppm))
        cv2.line(alpha, p(sx * 0.07, 1.0), p(sx * 0.09, y), 255, int(0.1 * ppm))
        cv2.line(img, p(sx * 0.17, 1.38), p(sx * 0.27, 1.05), tuple(float(c) * 0.85 for c in cy.jacket),
                 int(0.07 * ppm))
        cv2.line(alpha, p(sx * 0.17, 1.38), p(sx * 0.27, 1.05), 255, int(0.07 * ppm))
    body = np.array([p(-0.15, 0.95), p(0.15, 0.95), p(0.2, 1.42), p(-0.2, 1.42)], np.int32)
    cv2.fillPoly(img, [body], tuple(float(c) for c in cy.jacket))
    cv2.fillPoly(alpha, [body], 255)
    cv2.ellipse(img, p(0, 1.52), (int(0.1 * ppm), int(0.12 * ppm)), 0, 0, 360, (40, 40, 40), -1)
    cv2.ellipse(alpha, p(0, 1.52), (int(0.1 * ppm), int(0.12 * ppm)), 0, 0, 360, 255, -1)
    xx = np.arange(tw, dtype=np.float32) / tw
    img *= (1.08 - 0.25 * xx)[None, :, None]
    return np.clip(img, 0, 255).astype(np.uint8), alpha


# ------------------------------ hazard & backdrop
@lru_cache(maxsize=8)
def _trailer_tex(seed):
    rng = np.random.default_rng([seed, 99])
    ppm = 25.0
    length, h = 16.6, 4.0
    tw, th = int(length * ppm) + 1, int(h * ppm) + 1
    img = np.zeros((th, tw, 3), np.float32)
    alpha = np.zeros((th, tw), np.uint8)

    def p(x, y):
        return (int(round(x * ppm)), int(round(th - 1 - y * ppm)))

    white = np.array((226, 228, 230), np.float32) * rng.uniform(0.96, 1.04)
    # box trailer body 13.6 m long, 1.25..4.0 m
    x0, y0 = p(0, 4.0)
    x1, y1 = p(13.6, 1.25)
    xs = np.arange(x1 - x0, dtype=np.float32) / ppm
    ribs = 1 - 0.035 * (np.mod(xs, 0.6) < 0.08)
    yy = np.arange(y1 - y0, dtype=np.float32) / (y1 - y0)
    dirt = 1 - 0.08 * np.clip((yy - 0.75) / 0.25, 0, 1)
    img[y0:y1, x0:x1] = white * ribs[None, :, None] * dirt[:, None, None]
    img[y1 - 4:y1, x0:x1] = (150, 150, 152)
    img[y0:y0 + 2, x0:x1] = (200, 200, 202)
    img[y0:y1, x0:x0 + 3] = (170, 170, 172)
    for xm in np.arange(1.0, 13.0, 2.2):
        cv2.rectangle(img, p(xm, 1.45), p(xm + 0.12, 1.35), (230, 140, 30), -1)
    alpha[y0:y1, x0:x1] = 255
    # landing gear and axles
    for xg in (10.3, 10.6):
        cv2.rectangle(img, p(xg, 1.25), p(xg + 0.1, 0.05), (60, 60, 62), -1)
        cv2.rectangle(alpha, p(xg, 1.25), p(xg + 0.1, 0.05), 255, -1)
    for xw in (1.2, 2.5, 13.0, 14.5, 16.0):
        cv2.circle(img, p(xw, 0.5), int(0.5 * ppm), (24, 24, 26), -1)
        cv2.circle(img, p(xw, 0.5), int(0.28 * ppm), (140, 140, 140), -1)
        cv2.circle(alpha, p(xw, 0.5), int(0.5 * ppm), 255, -1)
    # tractor cab
    cab = np.asarray(_pick(rng, ((225, 225, 222), (160, 30, 30), (40, 60, 120), (60, 62, 66))), np.float32)
    poly = np.array([p(13.9, 0.7), p(13.9, 3.6), p(14.4, 3.95), p(16.2, 3.8), p(16.5, 2.4), p(16.6, 0.7)],
                    np.int32)
    cv2.fillPoly(img, [poly], tuple(float(v) for v in cab))
    cv2.fillPoly(alpha, [poly], 255)
    cv2.fillPoly(img, [np.array([p(15.2, 2.3), p(15.2, 3.3), p(16.15, 3.3), p(16.4, 2.3)], np.int32)],
                 (50, 56, 66))
    cv2.rectangle(img, p(13.6, 1.0), p(13.9, 0.7), (50, 50, 50), -1)
    cv2.rectangle(alpha, p(13.6, 1.0), p(13.9, 0.7), 255, -1)
    for xw in (13.0, 14.5, 16.0):
        cv2.circle(img, p(xw, 0.5), int(0.5 * ppm), (24, 24, 26), -1)
        cv2.circle(img, p(xw, 0.5), int(0.28 * ppm), (140, 140, 140), -1)
    img += 3 * rng.standard_normal((th, tw, 1)).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8), alpha, ppm


@lru_cache(maxsize=16)
def _backdrop_tex(seed, low):
    rng = np.random.default_rng([seed, 31])
    ppm = 1.5
    width, height = 600.0, 40.0
    tw, th = int(width * ppm), int(height * ppm)
    hy = height - (np.arange(th, dtype=np.float32) + 0.5) / ppm
    img = np.zeros((th, tw, 3), np.float32)
    lab = np.full((th, tw), BUILDING, np.uint8)
    alpha = np.zeros((th, tw), bool)
    x = 0
    while x < tw:
        w = int(rng.uniform(6, 30) * ppm)
        if low or rng.random() < 0.4:
            top = rng.uniform(4, 9) + 2 * _fbm(rng, 1, w + 1, 3, 2)[0, :w]
            cls, col = TREE, np.asarray(_pick(rng, _GREENS), np.float32) * 0.9
        else:
            top = np.full(w, rng.uniform(6, 26))
            cls, col = BUILDING, np.asarray(_pick(rng, _WALLS), np.float32) * rng.uniform(0.75, 1.0)
        seg = slice(x, min(x + w, tw))
        m = hy[:, None] <= top[None, :seg.stop - seg.start]
        alpha[:, seg] |= m
        img[:, seg][m] = col
        lab[:, seg][m] = cls
        x += w
    return img.astype(np.uint8), alpha.astype(np.uint8) * 255, lab, ppm


@lru_cache(maxsize=32)
def _truck_tex(seed, kind, colour):
    """Side of a sky-coloured semi-trailer ('sky_trailer') or a box truck ('truck_side'), rear end at x = 0.

    Returns (RGB texture, alpha, texels per metre, total length in metres).
    """
    rng = np.random.default_rng([seed, 98, len(kind)])
    ppm = 25.0
    if kind == 'sky_trailer':
        box_len, bottom, top, length = 13.6, float(rng.uniform(1.1, 1.3)), 4.0, 16.6
    else:
        box_len, bottom, top = float(rng.uniform(6.0, 8.5)), float(rng.uniform(0.95, 1.15)), float(
            rng.uniform(3.3, 3.8))
        length = box_len + 2.4
    tw, th = int(math.ceil(length * ppm)) + 1, int(math.ceil(top * ppm)) + 1
    img = np.zeros((th, tw, 3), np.float32)
    alpha = np.zeros((th, tw), np.uint8)

    def p(x, y):
        return (int(round(x * ppm)), int(round(th - 1 - y * ppm)))

    body = np.asarray(colour, np.float32)
    x0, y0 = p(0, top)
    x1, y1 = p(box_len, bottom)
    xs = np.arange(x1 - x0, dtype=np.float32) / ppm
    panels = 1 - 0.02 * (np.mod(xs, 1.2) < 0.05)
    yy = np.arange(y1 - y0, dtype=np.float32) / max(y1 - y0, 1)
    grime = 1 - 0.05 * np.clip((yy - 0.8) / 0.2, 0, 1)
    img[y0:y1, x0:x1] = body * panels[None, :, None] * grime[:, None, None]
    img[y1 - 3:y1, x0:x1] = body * 0.8
    alpha[y0:y1, x0:x1] = 255
    axles = (1.0, 2.3) if kind == 'sky_trailer' else (1.2, box_len - 0.6)
    for xw in axles + (length - 1.3,):
        cv2.circle(img, p(xw, 0.5), int(0.5 * ppm), (24, 24, 26), -1)
        cv2.circle(img, p(xw, 0.5), int(0.28 * ppm), (140, 140, 140), -1)
        cv2.circle(alpha, p(xw, 0.5), int(0.5 * ppm), 255, -1)
    if kind == 'sky_trailer':
        for xg in (10.3, 10.6):
            cv2.rectangle(img, p(xg, bottom), p(xg + 0.1, 0.05), (60, 60, 62), -1)
            cv2.rectangle(alpha, p(xg, bottom), p(xg + 0.1, 0.05), 255, -1)
    # cab at the front end, chassis rail under the box
    cab = np.asarray(_pick(rng, ((225, 225, 222), (160, 30, 30), (40, 60, 120), (60, 62, 66))), np.float32)
    xc = box_len + 0.3
    poly = np.array([p(xc, 0.7), p(xc, top - 0.4), p(xc + 0.5, top - 0.05), p(length - 0.4, top - 0.2),
                     p(length - 0.1, 1.6), p(length, 0.7)], np.int32)
    cv2.fillPoly(img, [poly], tuple(float(v) for v in cab))
    cv2.fillPoly(alpha, [poly], 255)
    cv2.fillPoly(img, [np.array([p(xc + 1.2, 1.9), p(xc + 1.2, top - 0.7), p(length - 0.45, top - 0.7),
                                 p(length - 0.2, 1.9)], np.int32)], (50, 56, 66))
    cv2.rectangle(img, p(box_len - 0.2, bottom), p(xc, 0.7), (50, 50, 50), -1)
    cv2.rectangle(alpha, p(box_len - 0.2, bottom), p(xc, 0.7), 255, -1)
    img += 2.5 * rng.standard_normal((th, tw, 1)).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8), alpha, ppm, length


@lru_cache(maxsize=8)
def _concrete_tex(seed, tone):
    rng = np.random.default_rng([seed, 61])
    n = 64
    tex = tone * (1 + 0.05 * _fbm_tile(rng, n, (16, 8, 4)))
    return np.clip(np.dstack([tex, tex * 0.99, tex * 0.97]), 0, 255).astype(np.uint8)

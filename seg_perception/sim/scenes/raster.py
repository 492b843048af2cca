"""Painting into the frame: the per-frame canvas, textured planar quads, the ground plane and each layout item.

Every shape is one planar quad mapped by a homography (:func:`_quad`), painted far to near with the same pixel
mask into the RGB canvas, the label map and the inverse-depth map, so the labels are exact.
"""

import math

import cv2
import numpy as np

from .layout import (BICYCLIST, BUILDING, CAM_HEIGHT, CAR, FENCE, PEDESTRIAN, POLE, ROAD, SIDEWALK, SKY, TREE, _Bld,
                     _Car, _Cyclist, _Fence, _Lamp, _NEAR, _Ped, _Sign, _Tree, _repainted)
from .textures import (_car_cabin_tex, _car_ends, _car_lower_tex, _car_side_tex, _concrete_tex, _cyclist_back_tex,
                       _cyclist_tex, _endwall_tex, _facade_tex, _fence_tex, _flat_tex, _ground_textures, _lamp_tex,
                       _mip_mix, _ped_tex, _road_profile, _sign_tex, _soft_blob, _trailer_tex, _tree_tex, _truck_tex,
                       _wrap)


# ------------------------------ camera & drawing
class _Ctx:
    """Per-frame render state: camera, RGB canvas, labels and inverse depth."""

    def __init__(self, st, height, width, t, speed, pitch_deg=0.0, focal=None, cam_height=CAM_HEIGHT):
        self.st = st
        self.H, self.W = height, width
        self.f = 0.9 * width if focal is None else float(focal)
        self.h = float(cam_height)      # the camera's height above the road, m
        self.cx = (width - 1) / 2.0
        shake = 0.6 * math.sin(7.3 * t + st.seed % 7) + 0.4 * math.sin(17.1 * t)
        # pitch moves the horizon by f * tan(pitch): a shifted principal point, which stays exact for the labels
        self.v0 = st.horizon * height + shake * height / 360.0 - self.f * math.tan(math.radians(pitch_deg))
        self.hazard = None          # while not None: 'add' or 'clear' the pixels each quad paints
        self.hazard_mask = np.zeros((height, width), bool)
        self.pos = np.array([0.0, self.h, speed * t])
        self.cam = (0.0, self.h, speed * t)
        self.K = np.array([[self.f, 0, self.cx], [0, -self.f, self.v0], [0, 0, 1.0]])
        self.rgb = np.zeros((height, width, 3), np.float32)
        self.lab = np.full((height, width), SKY, np.uint8)
        self.invd = np.zeros((height, width), np.float32)
        self.t = t
        self.white_vehicles = 0.0   # share of the vehicles repainted white or light grey


def _lod(depth):
    """Texture level of detail for an object this far away: 1 (full), 2 or 4 (fewer texels per metre)."""
    return 1 if depth < 70 else (2 if depth < 140 else 4)


def _clip_near(pts):
    out = []
    n = len(pts)
    for i in range(n):
        a, b = pts[i], pts[(i + 1) % n]
        ina, inb = a[2] >= _NEAR, b[2] >= _NEAR
        if ina:
            out.append(a)
        if ina != inb:
            s = (_NEAR - a[2]) / (b[2] - a[2])
            out.append((a[0] + s * (b[0] - a[0]), a[1] + s * (b[1] - a[1]), _NEAR))
    return out


def _quad(ctx, tex, origin, ax, ay, cls, alpha=None, shade=1.0, mode='paint', strength=0.5):
    """Paint a planar textured quad: texel (j, i) sits at world point origin + j*ax + i*ay.

    cls is a class id or a per-texel uint8 label texture. alpha (uint8, 0..255) cuts the shape out. In
    'shade' mode the quad only darkens what is already there (soft shadows); labels stay untouched.
    """
    th, tw = tex.shape[:2]
    px, py, pz = ctx.cam
    ox, oy, oz = origin[0] - px, origin[1] - py, origin[2] - pz
    a0, a1, a2 = ax
    b0, b1, b2 = ay
    c0 = (ox - 0.5 * (a0 + b0), oy - 0.5 * (a1 + b1), oz - 0.5 * (a2 + b2))
    c1 = (c0[0] + tw * a0, c0[1] + tw * a1, c0[2] + tw * a2)
    c3 = (c0[0] + th * b0, c0[1] + th * b1, c0[2] + th * b2)
    c2 = (c1[0] + th * b0, c1[1] + th * b1, c1[2] + th * b2)
    pts = (c0, c1, c2, c3)
    if max(c0[2], c1[2], c2[2], c3[2]) < _NEAR:
        return
    if min(c0[2], c1[2], c2[2], c3[2]) < _NEAR:
        pts = _clip_near(pts)
        if len(pts) < 3:
            return
    f, cx, v0 = ctx.f, ctx.cx, ctx.v0
    us = [cx + f * q[0] / q[2] for q in pts]
    vs = [v0 - f * q[1] / q[2] for q in pts]
    x0, x1 = max(int(math.floor(min(us))), 0), min(int(math.ceil(max(us))) + 1, ctx.W)
    y0, y1 = max(int(math.floor(min(vs))), 0), min(int(math.ceil(max(vs))) + 1, ctx.H)
    if x1 <= x0 or y1 <= y0:
        return
    bw, bh = x1 - x0, y1 - y0
    r2 = (a2, b2, oz)
    r0 = (f * a0 + (cx - x0) * a2, f * b0 + (cx - x0) * b2, f * ox + (cx - x0) * oz)
    r1 = (-f * a1 + (v0 - y0) * a2, -f * b1 + (v0 - y0) * b2, -f * oy + (v0 - y0) * oz)
    hm = np.array((r0, r1, r2))
    mask = np.zeros((bh, bw), np.uint8)
    poly = np.array([[min(max((u - x0) * 16, -1e8), 1e8), min(max((v - y0) * 16, -1e8), 1e8)]
                     for u, v in zip(us, vs)]).round().astype(np.int32)
    cv2.fillPoly(mask, [poly], 1, lineType=cv2.LINE_8, shift=4)
    if mode == 'shade':
        a = cv2.warpPerspective(tex, hm, (bw, bh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        roi = ctx.rgb[y0:y1, x0:x1]
        roi *= (1.0 - (strength / 255.0) * (a * mask).astype(np.float32))[..., None]
        return
    if alpha is not None:
        a = cv2.warpPerspective(alpha, hm, (bw, bh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        mask &= (a > 127)
    if not cv2.countNonZero(mask):
        return
    col = cv2.warpPerspective(tex, hm, (bw, bh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    col = col.astype(np.float32)
    if shade != 1.0:
        col *= np.float32(shade)
    cv2.copyTo(col, mask, ctx.rgb[y0:y1, x0:x1])
    if ctx.hazard == 'add':
        ctx.hazard_mask[y0:y1, x0:x1] |= mask.view(bool)
    elif ctx.hazard == 'clear':
        ctx.hazard_mask[y0:y1, x0:x1] &= ~mask.view(bool)
    lroi = ctx.lab[y0:y1, x0:x1]
    if isinstance(cls, np.ndarray):
        lab = cv2.warpPerspective(cls, hm, (bw, bh), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)
        cv2.copyTo(lab, mask, lroi)
    else:
        lroi[mask.view(bool)] = cls
    n0, n1, n2 = a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0
    c = n0 * ox + n1 * oy + n2 * oz
    if abs(c) > 1e-12:
        # a float start can make arange one longer than the span (x1 - x0 of 1.0000001 steps): cut to the span
        xs = (np.arange(x0 - cx, x1 - cx, dtype=np.float32)[:x1 - x0]) * np.float32(n0 / (f * c))
        ys = (np.arange(y0 - v0, y1 - v0, dtype=np.float32)[:y1 - y0]) * np.float32(-n1 / (f * c)) + np.float32(n2 / c)
        invd = np.maximum(xs[None, :] + ys[:, None], np.float32(1e-4))
        cv2.copyTo(invd, mask, ctx.invd[y0:y1, x0:x1])


def _billboard(ctx, tex, alpha, cls, xc, y_bottom, z, width, height, shade=1.0, flip=False):
    """Paint a texture on the plane Z = z facing the camera, centred at xc and standing on y_bottom."""
    th, tw = tex.shape[:2]
    sx, sy = width / tw, height / th
    if flip:
        _quad(ctx, tex, (xc + width / 2 - sx / 2, y_bottom + height - sy / 2, z), (-sx, 0, 0), (0, -sy, 0),
              cls, alpha, shade)
    else:
        _quad(ctx, tex, (xc - width / 2 + sx / 2, y_bottom + height - sy / 2, z), (sx, 0, 0), (0, -sy, 0),
              cls, alpha, shade)


def _ground_shadow(ctx, x0, x1, z0, z1, strength):
    blob = _soft_blob()
    sx, sz = (x1 - x0) / 32, (z1 - z0) / 32
    _quad(ctx, blob, (x0 + sx / 2, 0.01, z1 - sz / 2), (sx, 0, 0), (0, 0, -sz), 0, mode='shade',
          strength=strength)


def _line_coverage(ctx, cov, zr, zw_row, lx, width, period, on_len, vstart):
    """Add the anti-aliased coverage of one lane line (world X = lx) to cov, touching only nearby pixels."""
    f = ctx.f
    z = zr[:, 0]
    uc = ctx.cx + f * lx / z
    half = width / 2 * f / z + 1.5
    k = int(min(np.ceil(half.max()), ctx.W))
    cols = np.round(uc)[:, None].astype(np.int64) + np.arange(-k, k + 1)[None, :]
    ok = (cols >= 0) & (cols < ctx.W)
    pxw = (z / f)[:, None]
    xw = (cols - ctx.cx) * pxw
    cx_ = np.clip((width / 2 - np.abs(xw - lx)) / pxw + 0.5, 0, 1)
    if on_len < period:
        mm = np.mod(zw_row, period)
        dist = np.where(mm < on_len, np.minimum(mm, on_len - mm), -np.minimum(mm - on_len, period - mm))
        dz = z * z / (f * ctx.h)
        cz_ = np.clip(dist / dz + 0.5, 0, 1)
        wfar = np.clip(dz / period, 0, 1)
        cz_ = cz_ * (1 - wfar) + (on_len / period) * wfar
        cx_ = cx_ * cz_[:, None]
    rows = np.broadcast_to(np.arange(len(z))[:, None], cols.shape)
    cov[rows[ok], cols[ok]] += cx_[ok].astype(np.float32)      # (row, col) pairs are unique within a line


def _draw_ground(ctx):
    st = ctx.st
    asphalt, large, pav = _ground_textures(st.seed % 4)
    vstart = int(math.floor(ctx.v0)) + 1
    if vstart >= ctx.H:
        return
    f, h, cz = ctx.f, ctx.h, ctx.pos[2]
    nr = ctx.H - vstart
    dv = (np.arange(vstart, ctx.H, dtype=np.float32) - np.float32(ctx.v0))[:, None]
    uu = ((np.arange(ctx.W, dtype=np.float32) - np.float32(ctx.cx)) / np.float32(f))[None, :]
    zr = np.float32(f * h) / dv
    xr = uu * zr
    ks = np.float32((h - st.kerb_h) / h)
    zs = zr * ks
    xs = xr * ks
    on_road = (xr >= st.road_left) & (xr <= st.road_right)
    on_side = (xs <= st.road_left) | (xs >= st.road_right)
    # road: asphalt texture in world coordinates, filtered by pixel footprint
    texel = 0.02
    zw = zr + np.float32(cz)
    mx = _wrap(xr * np.float32(1 / texel), 512)
    my = np.broadcast_to(_wrap(zw * np.float32(1 / texel), 512), mx.shape)
    tex = cv2.remap(asphalt, mx, np.ascontiguousarray(my), cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
    fp = zr * np.sqrt(zr / np.float32(f * f * h)) * np.float32(1 / texel)
    val = _mip_mix(tex, fp)
    lg = cv2.remap(large, _wrap(xr * np.float32(2), 128),
                   np.ascontiguousarray(np.broadcast_to(_wrap(zw * np.float32(2), 128), mx.shape)),
                   cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
    prof, px0 = _road_profile(st)
    pr = cv2.remap(prof, (xr - np.float32(px0)) * np.float32(50), np.zeros_like(xr), cv2.INTER_LINEAR,
                   borderMode=cv2.BORDER_REPLICATE)
    shade = pr + 0.09 * val + 0.05 * lg
    covs = {}
    for lx, width, period, on_len, yellow in st.lines:
        c = covs.setdefault(yellow, np.zeros((nr, ctx.W), np.float32))
        _line_coverage(ctx, c, zr, zw[:, 0], lx, width, period, on_len, vstart)
    road = np.asarray(st.asphalt, np.float32)[None, None, :] * shade[..., None]
    if covs:
        wear = np.clip(0.8 + 0.12 * val, 0.4, 1.0)
        total = sum(covs.values())
        road *= (1 - np.minimum(total, 1) * wear)[..., None]
        for yellow, c in covs.items():
            colour = np.array((196, 168, 70) if yellow else (214, 214, 208), np.float32)
            road += (c * wear)[..., None] * colour
    out = ctx.rgb[vstart:]
    cv2.copyTo(road, on_road.view(np.uint8), out)
    # pavement
    ps = ~on_road & on_side
    if ps.any():
        pt = 4.8 / 256
        pmy = _wrap((zs + np.float32(cz)) * np.float32(1 / pt), 256)
        pmy = np.ascontiguousarray(np.broadcast_to(pmy, xs.shape))
        ptex = cv2.remap(pav, _wrap(xs * np.float32(1 / pt), 256), pmy, cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_WRAP)
        pval = _mip_mix(ptex, fp * np.float32(texel / pt))
        side = np.asarray(st.paving, np.float32)[None, None, :] * (1 + 0.06 * pval + 0.04 * lg)[..., None]
        cv2.copyTo(side, ps.view(np.uint8), out)
    # kerb face
    kb = ~on_road & ~on_side
    zk = None
    if kb.any():
        kx = np.where(uu < 0, st.road_left, st.road_right).astype(np.float32)
        with np.errstate(divide='ignore', invalid='ignore'):
            zk = np.clip(np.where(np.abs(uu) > 1e-6, kx / uu, 1e6), _NEAR, 1e6).astype(np.float32)
        yk = h - dv * zk / np.float32(f)
        kerb_val = 0.92 + 0.25 * np.clip(yk / st.kerb_h, 0, 1) + 0.03 * val
        kerb = np.asarray(st.kerb_col, np.float32)[None, None, :] * kerb_val[..., None]
        cv2.copyTo(kerb, kb.view(np.uint8), out)
    lab = ctx.lab[vstart:]
    lab[:] = SIDEWALK
    lab[on_road] = ROAD
    invd = ctx.invd[vstart:]
    invd[:] = 1 / zs
    invd[on_road] = np.broadcast_to(1 / zr, on_road.shape)[on_road]
    if zk is not None:
        invd[kb] = np.broadcast_to(1 / zk, kb.shape)[kb]


def _draw_car(ctx, car, z_near, x):
    """Draw a car whose nearest end is at Z = z_near: visible side, end face, deck, sloped glass and roof."""
    s = _repainted(car.spec, ctx.white_vehicles) if ctx.white_vehicles else car.spec
    zf = z_near + s.length
    if z_near - ctx.pos[2] < 90:
        _ground_shadow(ctx, x - s.width / 2 - 0.25, x + s.width / 2 + 0.25, z_near - 0.35, zf + 0.35, 0.55)
    rel = x - ctx.pos[0]
    light = ctx.st.light_left if rel > 0 else ctx.st.light_right
    front = car.facing < 0
    lod = _lod(2 * (z_near - ctx.pos[2]))
    if abs(rel) > s.width / 2:
        tex, alpha = _car_side_tex(s, lod)
        xs = x - math.copysign(s.width / 2, rel)
        sx = s.length / tex.shape[1]
        sy = s.height / tex.shape[0]
        if car.facing > 0:   # rear at the near end: texture column 0 (rear) at z_near
            _quad(ctx, tex, (xs, s.height - sy / 2, z_near + sx / 2), (0, 0, sx), (0, -sy, 0), CAR, alpha,
                  shade=0.85 * light)
        else:
            _quad(ctx, tex, (xs, s.height - sy / 2, zf - sx / 2), (0, 0, -sx), (0, -sy, 0), CAR, alpha,
                  shade=0.85 * light)
    y_low, s0, y_cab, s1 = _car_ends(s, front)
    far = _car_ends(s, not front)
    roof = tuple(int(min(255, c * 1.1 + 10)) for c in s.colour)
    x0 = x - s.width / 2
    depth = z_near - ctx.pos[2]
    z0, z1 = z_near + s1 * s.length, zf - far[3] * s.length
    if s.height < ctx.h - 0.02 and (depth < 12 or _seen_from_above(ctx, s.height, z1 - z0, depth)):
        # from a car's camera the roof is a sub-pixel sliver further away; from a taller one it is not
        w = s.width * (0.95 if s.kind in ('van', 'bus') else 0.8)
        _quad(ctx, _flat_tex(roof), (x - w / 2 + w / 4, s.height, z1 - (z1 - z0) / 4), (w / 2, 0, 0),
              (0, 0, -(z1 - z0) / 2), CAR)
    if s0 > 0 and (depth < 30 or _seen_from_above(ctx, y_cab, s0 * s.length, depth)):   # so is the boot / bonnet
        d = s0 * s.length
        _quad(ctx, _flat_tex(roof), (x0 + s.width / 4, y_cab - (y_cab - y_low) / 4, z_near + d * 0.75),
              (s.width / 2, 0, 0), (0, -(y_cab - y_low) / 2, -d / 2), CAR)
    tex, alpha = _car_cabin_tex(s, front, lod)
    th, tw = tex.shape[:2]
    dz = (s1 - s0) * s.length
    ay = (0.0, -(s.height - y_cab) / th, -dz / th)
    sx = s.width / tw
    _quad(ctx, tex, (x0 + sx / 2, s.height + ay[1] / 2, z_near + s1 * s.length + ay[2] / 2), (sx, 0, 0), ay,
          CAR, alpha)
    tex, alpha = _car_lower_tex(s, front, lod)
    _billboard(ctx, tex, alpha, CAR, x, 0.0, z_near, s.width, y_low)


def _seen_from_above(ctx, top, length, depth):
    """Whether a camera above the default height sees a level surface at height ``top`` as more than a sliver."""
    return ctx.h > CAM_HEIGHT and ctx.f * (ctx.h - top) * length / max(depth, _NEAR) ** 2 > 0.3


def _draw_overpass(ctx, spec):
    """A bridge deck (parapet included) across the street on piers beside the kerbs (CamVid: Building)."""
    st = ctx.st
    z, width, clearance, deck = spec
    x0, x1 = st.bl_left - 1.0, st.bl_right + 1.0
    tex = _concrete_tex(st.seed, 150.0)
    n = tex.shape[0]
    sx, sz = (x1 - x0) / n, width / n
    # far to near: underside, piers, front face
    _quad(ctx, tex, (x0 + sx / 2, clearance, z + width - sz / 2), (sx, 0, 0), (0, 0, -sz), BUILDING, shade=0.45)
    sy, szp = clearance / n, (width - 2) / n
    for xp in (st.road_left - 0.8, st.road_right + 0.8):
        _quad(ctx, tex, (xp, clearance - sy / 2, z + 1 + szp / 2), (0, 0, szp), (0, -sy, 0), BUILDING, shade=0.7)
    sy = deck / n
    _quad(ctx, tex, (x0 + sx / 2, clearance + deck - sy / 2, z), (sx, 0, 0), (0, -sy, 0), BUILDING, shade=0.95)


def _draw_tunnel(ctx, exit_z):
    """Walls and ceiling of a tunnel from behind the camera to ``exit_z`` (CamVid labels tunnels Building)."""
    st = ctx.st
    tex = _concrete_tex(st.seed, 120.0)
    n = tex.shape[0]
    z0 = ctx.pos[2] - 1.0
    length = exit_z - z0
    height = 5.2
    xl, xr = st.road_left - 0.9, st.road_right + 0.9
    sz, sy = length / n, height / n
    for x in (xl, xr):
        _quad(ctx, tex, (x, height - sy / 2, z0 + sz / 2), (0, 0, sz), (0, -sy, 0), BUILDING)
    sx = (xr - xl) / n
    _quad(ctx, tex, (xl + sx / 2, height, z0 + sz / 2), (sx, 0, 0), (0, 0, sz), BUILDING, shade=0.8)


def _draw_item(ctx, it):
    st, t = ctx.st, ctx.t
    if isinstance(it, _Bld):
        light = (st.light_left if it.side < 0 else st.light_right) * (0.8 if it.back else 1.0)
        lod = _lod(it.z0 - ctx.pos[2])
        tex, alpha = _facade_tex(it, lod)
        sx = (it.z1 - it.z0) / tex.shape[1]
        sy = (it.height + it.roof_h) / tex.shape[0]
        end, ealpha = _endwall_tex(it, lod)
        ex = it.depth / end.shape[1]
        ey = (it.height + it.roof_h) / end.shape[0]
        if not it.back:
            _quad(ctx, end, (it.x + it.side * ex / 2, it.height + it.roof_h - ey / 2, it.z0),
                  (it.side * ex, 0, 0), (0, -ey, 0), BUILDING, ealpha, shade=0.78)
        _quad(ctx, tex, (it.x, it.height + it.roof_h - sy / 2, it.z0 + sx / 2), (0, 0, sx), (0, -sy, 0),
              BUILDING, alpha, shade=light)
    elif isinstance(it, _Fence):
        tex, alpha = _fence_tex(it)
        sx = (it.z1 - it.z0) / tex.shape[1]
        sy = it.height / tex.shape[0]
        _quad(ctx, tex, (it.x, it.height - sy / 2, it.z0 + sx / 2), (0, 0, sx), (0, -sy, 0),
              TREE if it.kind == 'hedge' else FENCE, alpha)
    elif isinstance(it, _Tree):
        tex, alpha = _tree_tex(it.kind)
        w, h = it.kind.canopy_w * it.scale, it.kind.height * it.scale
        if it.z - ctx.pos[2] < 80:
            _ground_shadow(ctx, it.x - w * 0.4, it.x + w * 0.4, it.z - w * 0.4, it.z + w * 0.4, 0.25)
        _billboard(ctx, tex, alpha, TREE, it.x, 0.0, it.z, w, h, flip=bool(int(it.x * 10) % 2))
    elif isinstance(it, _Lamp):
        tex, alpha = _lamp_tex(it)
        w = it.arm + 0.5
        # the pole sits 0.25 m from the texture's pavement-side edge; the arm reaches over the road
        xc = it.x + (-it.side) * (w / 2 - 0.25)
        _billboard(ctx, tex, alpha, POLE, xc, 0.0, it.z, w, it.height, flip=it.side > 0)
    elif isinstance(it, _Sign):
        tex, alpha, lab, w, h = _sign_tex(it)
        _billboard(ctx, tex, alpha, lab, it.x, 0.0, it.z, max(w, 0.12), h)
    elif isinstance(it, _Car):
        z = it.z + it.v * t
        zn = z if it.facing > 0 else z - it.spec.length
        _draw_car(ctx, it, zn, it.x)
    elif isinstance(it, _Ped):
        z = it.z + it.v * t
        phase = 0.0 if it.v == 0 else (abs(it.v) * t / 1.4 + (it.tex_seed % 100) / 100) % 1.0
        tex, alpha = _ped_tex(it, round(phase * 8) % 8 / 8, it.v <= 0)
        if z - ctx.pos[2] < 60:
            _ground_shadow(ctx, it.x - 0.35, it.x + 0.35, z - 0.3, z + 0.3, 0.35)
        _billboard(ctx, tex, alpha, PEDESTRIAN, it.x, 0.0, z, 0.8, it.height + 1 / 60.0)
    elif isinstance(it, _Cyclist):
        phase = round(((abs(it.v) * t / 2.2) % 1.0) * 8) % 8 / 8
        tex, alpha = _cyclist_tex(it, phase)
        sx, sy = 1.9 / tex.shape[1], 1.85 / tex.shape[0]
        if it.crossing:
            x = it.x + it.v * t
            d = 1 if it.v > 0 else -1
            _ground_shadow(ctx, x - 0.9, x + 0.9, it.z - 0.3, it.z + 0.3, 0.35)
            _quad(ctx, tex, (x - d * 0.95 + d * sx / 2, 1.85 - sy / 2, it.z), (d * sx, 0, 0), (0, -sy, 0),
                  BICYCLIST, alpha)
        else:
            z = it.z + it.v * t
            _ground_shadow(ctx, it.x - 0.35, it.x + 0.35, z, z + 1.8, 0.35)
            _quad(ctx, tex, (it.x, 1.85 - sy / 2, z + sx / 2), (0, 0, sx), (0, -sy, 0), BICYCLIST, alpha)
            btex, balpha = _cyclist_back_tex(it, phase)
            _billboard(ctx, btex, balpha, BICYCLIST, it.x, 0.0, z + 0.75, 0.7, 1.75)
    elif isinstance(it, tuple) and it[0] == 'trailer':
        _, seed, x_rear, z, d = it
        tex, alpha, ppm = _trailer_tex(seed)
        _draw_hazard_side(ctx, tex, alpha, ppm, x_rear, z, d, 16.6)
    elif isinstance(it, tuple) and it[0] == 'truck':
        _, seed, kind, colour, x_rear, z, d = it
        tex, alpha, ppm, length = _truck_tex(seed, kind, colour)
        _draw_hazard_side(ctx, tex, alpha, ppm, x_rear, z, d, length)
    elif isinstance(it, tuple) and it[0] == 'overpass':
        _draw_overpass(ctx, it[1:])


def _draw_hazard_side(ctx, tex, alpha, ppm, x_rear, z, d, length):
    """A trailer's or truck's side across the road (``length`` m, rear at ``x_rear``), marked in the hazard mask."""
    x_front = x_rear + d * length
    _ground_shadow(ctx, min(x_rear, x_front), max(x_rear, x_front), z - 0.2, z + 2.8, 0.5)
    s = 1.0 / ppm
    ctx.hazard = 'add'
    _quad(ctx, tex, (x_rear, (tex.shape[0] - 1) * s, z), (d * s, 0, 0), (0, -s, 0), CAR, alpha)
    ctx.hazard = 'clear'

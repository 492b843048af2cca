"""Procedural car-camera street scenes with pixel-exact CamVid labels.

Real driving datasets (CamVid, Cityscapes, ...) may not be redistributed, so the frames this project ships
(the bundled sample sequence, demo inputs, test fixtures, hazard cases) are rendered here instead. The
renderer draws a forward-facing pinhole-camera view of a straight street: sky with clouds, asphalt road with
lane markings, kerbs and pavements, terraces of buildings with window grids, trees, street lights, signs,
fences, parked and moving cars, pedestrians and the odd bicyclist. Every shape is painted far to near
(painter's algorithm) into the RGB frame and, with the very same pixel mask, into a label map of CamVid
11-class ids, so the labels are exact. Cheap photometric effects (haze, vignetting, blur, sensor noise,
exposure and colour-temperature changes) make the frames look like a camera rather than a cartoon.

World coordinates are metres: X to the right, Y up, Z forward along the road. The camera sits 1.5 m above
the road at ``Z = 10 m/s * t``, so frames rendered at ``t = 0, 0.1, 0.2, ...`` with the same seed form a
temporally coherent 10 fps sequence. The layout depends on the seed only; ``t`` moves the camera (and,
slowly, the other road users).

>>> rgb, labels = render_scene(3)
>>> rgb.shape, labels.shape
((360, 480, 3), (360, 480))

Pure numpy + OpenCV; no ROS imports.
"""

from dataclasses import dataclass
from functools import lru_cache
import math

import cv2
import numpy as np

CLASS_NAMES = ('Sky', 'Building', 'Pole', 'Road', 'Sidewalk', 'Tree', 'SignSymbol', 'Fence', 'Car',
               'Pedestrian', 'Bicyclist', 'Void')
(SKY, BUILDING, POLE, ROAD, SIDEWALK, TREE, SIGN, FENCE, CAR, PEDESTRIAN, BICYCLIST, VOID) = range(12)

SPEED = 10.0          # camera speed along the road, m/s
CAM_HEIGHT = 1.5      # camera height above the road, m
HAZARDS = (None, 'white_trailer', 'sky_trailer', 'truck_side')
STRUCTURES = (None, 'overpass', 'tunnel_exit')

_SEG = 40.0           # the layout is generated lazily in road segments of this length
_NEAR = 0.3           # near clipping plane, m
_DRAW = 240.0         # draw distance for street content, m
_BACKDROP = 380.0     # distance of the far skyline, m

# ------------------------------ palettes
_WALLS = (
    (128, 74, 58), (108, 70, 56), (150, 92, 70), (176, 154, 116), (204, 194, 170), (214, 212, 204),
    (150, 148, 142), (186, 166, 132), (166, 178, 186), (172, 178, 156), (198, 172, 160), (98, 97, 100),
    (184, 180, 172), (140, 118, 96))
_TRIMS = ((226, 226, 220), (56, 56, 58), (192, 182, 162), (120, 110, 100))
_SHOPS = ((40, 70, 50), (130, 30, 30), (30, 40, 80), (25, 25, 28), (220, 218, 210), (200, 160, 40),
          (90, 40, 80), (30, 90, 110))
_GREENS = ((55, 76, 38), (70, 90, 46), (46, 62, 34), (84, 94, 52), (60, 72, 46), (76, 84, 40), (50, 70, 46))
_CAR_COLS = ((196, 198, 200), (232, 232, 228), (28, 29, 32), (88, 90, 96), (128, 22, 26), (34, 54, 108),
             (26, 46, 36), (148, 148, 150), (112, 104, 92), (172, 174, 180), (60, 70, 90))
_CAR_P = (0.2, 0.15, 0.16, 0.12, 0.08, 0.08, 0.04, 0.07, 0.03, 0.05, 0.02)
_CLOTHES = ((30, 30, 34), (40, 44, 60), (80, 80, 84), (120, 110, 90), (70, 50, 40), (40, 60, 45),
            (140, 30, 30), (200, 200, 196), (60, 80, 120), (150, 120, 80), (110, 40, 60))
_TROUSERS = ((40, 50, 80), (30, 30, 32), (70, 70, 72), (130, 120, 95), (50, 60, 90))
_SKIN = ((224, 188, 160), (200, 160, 130), (160, 115, 85), (110, 75, 55), (235, 200, 175))
_HAIR = ((30, 22, 18), (70, 45, 30), (140, 110, 70), (150, 150, 150), (20, 20, 20))


def _seed_of(rng_or_seed):
    if isinstance(rng_or_seed, np.random.Generator):
        return int(rng_or_seed.integers(0, 2 ** 31 - 1))
    if rng_or_seed is None:
        return 0
    return int(rng_or_seed)


def _pick(rng, seq, p=None):
    return seq[int(rng.choice(len(seq), p=p))]


def _jitter(rng, col, amount):
    c = np.asarray(col, np.float64) * rng.uniform(1 - amount, 1 + amount) + rng.normal(0, 4, 3)
    return tuple(float(v) for v in np.clip(c, 0, 255))


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


# ------------------------------ street
@dataclass(frozen=True)
class _Street:
    seed: int
    kind: str
    hand: int                 # -1: traffic keeps left (ego kerb on the left), +1: keeps right
    lane_w: float
    road_left: float
    road_right: float
    same_lanes: tuple         # X of lane centres in the camera's direction
    on_lanes: tuple           # X of oncoming lane centres
    lines: tuple              # (x, width, period, on_length, yellow)
    kerb_h: float
    bl_left: float            # building line (back of the pavement), X
    bl_right: float
    park_left: bool
    park_right: bool
    park_density: float
    tree_p: float
    ped_rate: float
    gap_p: float
    setback_p: float
    height_range: tuple
    walls: tuple
    lamp_spacing: float
    lamp_phase: float
    asphalt: tuple
    paving: tuple
    kerb_col: tuple
    overcast: bool
    sky_brightness: float
    haze_dist: float
    gain: float
    temperature: float
    saturation: float
    light_left: float        # facade shading of the left and right rows
    light_right: float
    blur: float
    noise: float
    horizon: float


@lru_cache(maxsize=64)
def _street(seed, hazard=None):
    rng = np.random.default_rng([seed, 7919])
    kind = _pick(rng, ('urban', 'residential', 'suburban'), (0.45, 0.35, 0.2))
    if hazard == 'white_trailer':
        kind = 'suburban'
    hand = -1 if rng.random() < 0.7 else 1
    lane_w = rng.uniform(3.1, 3.6)
    n_same = 1 if rng.random() < 0.75 else 2
    n_on = 1 if rng.random() < 0.75 else 2
    if hazard == 'white_trailer':     # a two-lane road the trailer spans from kerb to kerb
        n_same = n_on = 1
    park_near = rng.random() < 0.65
    park_far = rng.random() < 0.45
    sh_near = 2.1 if park_near else rng.uniform(0.3, 0.7)
    sh_far = 2.1 if park_far else rng.uniform(0.3, 0.7)
    near_kerb = hand * (lane_w / 2 + sh_near)
    centre = -hand * (lane_w / 2 + (n_same - 1) * lane_w)
    far_kerb = centre - hand * (n_on * lane_w + sh_far)
    same_lanes = tuple(-hand * i * lane_w for i in range(n_same))
    on_lanes = tuple(centre - hand * (i + 0.5) * lane_w for i in range(n_on))
    yellow = rng.random() < 0.3
    lines = [(centre, 0.12, rng.uniform(9, 12), rng.uniform(3, 4.5), yellow)]
    for i in range(n_same - 1):
        lines.append((-hand * (i + 0.5) * lane_w, 0.1, 9.0, 2.0, False))
    for i in range(n_on - 1):
        lines.append((centre - hand * (i + 1) * lane_w, 0.1, 9.0, 2.0, False))
    if park_near:
        lines.append((hand * lane_w / 2, 0.1, 1.0, 1.0, False))
    if park_far:
        lines.append((centre - hand * n_on * lane_w, 0.1, 1.0, 1.0, False))
    left, right = sorted((near_kerb, far_kerb))
    park_left, park_right = (park_near, park_far) if hand < 0 else (park_far, park_near)
    sw_l, sw_r = rng.uniform(2.2, 4.5, 2)
    heights = {'urban': (9.0, 22.0), 'residential': (6.0, 11.0), 'suburban': (5.0, 8.0)}[kind]
    walls = tuple(int(i) for i in rng.choice(len(_WALLS), 4, replace=False))
    asphalt_tone = rng.uniform(78, 112)
    asphalt = tuple(float(v) for v in asphalt_tone * np.array([1.0, 1.0, 1.0 + rng.uniform(-0.02, 0.06)]))
    pav = _pick(rng, ((150, 148, 142), (162, 156, 144), (132, 130, 128), (150, 120, 105), (96, 94, 96)),
                (0.35, 0.25, 0.2, 0.1, 0.1))
    overcast = rng.random() < 0.6
    sun = rng.uniform(0.0, 0.25) if overcast else rng.uniform(0.2, 0.5)
    sun_side = 1 if rng.random() < 0.5 else -1
    return _Street(
        seed=seed, kind=kind, hand=hand, lane_w=lane_w, road_left=left, road_right=right,
        same_lanes=same_lanes, on_lanes=on_lanes, lines=tuple(lines), kerb_h=rng.uniform(0.11, 0.15),
        bl_left=left - sw_l, bl_right=right + sw_r, park_left=park_left, park_right=park_right,
        park_density=rng.uniform(0.4, 0.9),
        tree_p={'urban': 0.3, 'residential': 0.7, 'suburban': 0.85}[kind] * rng.uniform(0.3, 1.0),
        ped_rate={'urban': 2.0, 'residential': 0.9, 'suburban': 0.5}[kind] * rng.uniform(0.5, 1.3),
        gap_p={'urban': 0.08, 'residential': 0.3, 'suburban': 0.45}[kind],
        setback_p={'urban': 0.05, 'residential': 0.5, 'suburban': 0.8}[kind],
        height_range=heights, walls=walls, lamp_spacing=rng.uniform(26, 38), lamp_phase=rng.uniform(0, 30),
        asphalt=asphalt, paving=tuple(float(v) for v in pav), kerb_col=(170.0, 168.0, 162.0),
        overcast=overcast, sky_brightness=float(rng.uniform(0.45, 0.85)), haze_dist=rng.uniform(280, 700),
        gain=rng.uniform(0.9, 1.1), temperature=rng.uniform(-0.06, 0.06), saturation=rng.uniform(0.7, 0.9),
        light_left=1.0 + sun * sun_side, light_right=1.0 - sun * sun_side, blur=rng.uniform(0.55, 0.9),
        noise=rng.uniform(1.5, 3.5), horizon=rng.uniform(0.43, 0.47))


# ------------------------------ layout items
@dataclass(frozen=True)
class _Bld:
    side: int
    z0: float
    z1: float
    x: float
    depth: float
    height: float
    roof_h: float
    wall: tuple
    trim: tuple
    floor_h: float
    ground_h: float
    bay: float
    win_w: float
    win_h: float
    sill: float
    shop: bool
    unit_w: float
    back: bool
    tex_seed: int


@dataclass(frozen=True)
class _Fence:
    side: int
    z0: float
    z1: float
    x: float
    height: float
    kind: str               # 'panel', 'palisade', 'railing', 'hedge'
    tex_seed: int


@dataclass(frozen=True)
class _TreeKind:
    height: float
    canopy_w: float
    canopy_h: float
    green: tuple
    tex_seed: int


@dataclass(frozen=True)
class _Tree:
    x: float
    z: float
    scale: float
    kind: _TreeKind


@dataclass(frozen=True)
class _Lamp:
    side: int
    x: float
    z: float
    height: float
    arm: float
    colour: tuple


@dataclass(frozen=True)
class _Sign:
    x: float
    z: float
    kind: str
    post: float
    tex_seed: int


@dataclass(frozen=True)
class _CarSpec:
    kind: str
    length: float
    width: float
    height: float
    colour: tuple
    tex_seed: int


@dataclass(frozen=True)
class _Car:
    spec: _CarSpec
    x: float
    z: float               # Z of the car's rear end at t = 0
    v: float               # speed along Z, m/s
    facing: int            # +1 drives towards +Z, -1 towards -Z


@dataclass(frozen=True)
class _Ped:
    x: float
    z: float
    v: float
    height: float
    coat: tuple
    legs: tuple
    skin: tuple
    hair: tuple
    long_coat: bool
    bag: bool
    tex_seed: int


@dataclass(frozen=True)
class _Cyclist:
    x: float
    z: float
    v: float
    crossing: bool
    jacket: tuple
    bike: tuple
    tex_seed: int


def _car_spec(rng, moving=False):
    r = rng.random()
    if moving and r < 0.04:
        kind, dims = 'bus', (rng.uniform(10, 12), 2.5, rng.uniform(3.0, 3.2))
    elif r < 0.14:
        kind, dims = 'van', (rng.uniform(4.8, 5.5), rng.uniform(1.9, 2.0), rng.uniform(1.95, 2.4))
    elif r < 0.3:
        kind, dims = 'suv', (rng.uniform(4.3, 4.8), rng.uniform(1.8, 1.9), rng.uniform(1.6, 1.75))
    elif r < 0.62:
        kind, dims = 'hatch', (rng.uniform(3.8, 4.3), rng.uniform(1.68, 1.78), rng.uniform(1.42, 1.52))
    else:
        kind, dims = 'sedan', (rng.uniform(4.4, 4.9), rng.uniform(1.75, 1.85), rng.uniform(1.4, 1.48))
    col = _pick(rng, _CAR_COLS, _CAR_P)
    if kind == 'van' and rng.random() < 0.6:
        col = _CAR_COLS[1]
    if kind == 'bus':
        col = _pick(rng, ((150, 24, 28), (220, 220, 214), (40, 80, 140)))
    return _CarSpec(kind, *(round(float(d), 3) for d in dims), _jitter(rng, col, 0.06),
                    int(rng.integers(1 << 30)))


def _building(rng, st, side, z0, z1, setback, back=False):
    lo, hi = st.height_range
    if back:
        lo, hi = lo * 1.1, hi * 1.3
    height = float(rng.uniform(lo, hi))
    floor_h = float(rng.uniform(2.8, 3.4))
    ground_h = floor_h * float(rng.uniform(1.0, 1.3))
    roof = 0.0
    if st.kind != 'urban' or rng.random() < 0.3:
        roof = float(rng.uniform(1.5, 3.5)) if rng.random() < 0.75 else 0.0
    bl = st.bl_left if side < 0 else st.bl_right
    wall = _jitter(rng, _WALLS[st.walls[int(rng.integers(len(st.walls)))]]
                   if rng.random() < 0.8 else _pick(rng, _WALLS), 0.08)
    bay = float(rng.uniform(2.6, 4.0))
    return _Bld(side=side, z0=float(z0), z1=float(z1), x=float(bl + side * setback),
                depth=float(rng.uniform(8, 14)),
                height=height, roof_h=roof, wall=wall, trim=_pick(rng, _TRIMS), floor_h=floor_h,
                ground_h=ground_h, bay=bay, win_w=float(bay * rng.uniform(0.35, 0.6)),
                win_h=float(rng.uniform(1.3, 1.8)), sill=float(rng.uniform(0.7, 1.0)),
                shop=bool(st.kind == 'urban' and not back and rng.random() < 0.55),
                unit_w=float(rng.uniform(5, 9)), back=back, tex_seed=int(rng.integers(1 << 30)))


@lru_cache(maxsize=128)
def _tree_kinds(seed, big):
    """Return a street's handful of tree shapes; instances share textures and differ in scale."""
    rng = np.random.default_rng([seed, 2024, int(big)])
    kinds = []
    for _ in range(3 if big else 5):
        h = float(rng.uniform(8, 12) if big else rng.uniform(5.5, 8.5))
        kinds.append(_TreeKind(h, float(h * rng.uniform(0.5, 0.75)), float(h * rng.uniform(0.55, 0.75)),
                               _jitter(rng, _pick(rng, _GREENS), 0.15), int(rng.integers(1 << 30))))
    return tuple(kinds)


def _tree(rng, seed, x, z, big=False):
    kinds = _tree_kinds(seed, big)
    return _Tree(float(x), float(z), float(rng.uniform(0.8, 1.2)), kinds[int(rng.integers(len(kinds)))])


def _pedestrian(rng, x, z, v):
    return _Ped(float(x), float(z), float(v), float(rng.uniform(1.55, 1.92)), _pick(rng, _CLOTHES),
                _pick(rng, _TROUSERS), _pick(rng, _SKIN), _pick(rng, _HAIR), bool(rng.random() < 0.35),
                bool(rng.random() < 0.3), int(rng.integers(1 << 30)))


@lru_cache(maxsize=256)
def _segment(seed, k, hazard=None):
    """Return the static content of road segment k, Z in [k*_SEG, (k+1)*_SEG): (buildings, objects)."""
    st = _street(seed, hazard)
    blds, objs = [], []
    z_lo, z_hi = k * _SEG, (k + 1) * _SEG
    for side in (-1, 1):
        rng = np.random.default_rng([seed, k & 0xFFFFFFFF, side + 1, 17])
        bl = st.bl_left if side < 0 else st.bl_right
        kerb = st.road_left if side < 0 else st.road_right
        # buildings and gaps along the building line
        z = z_lo
        while z < z_hi - 0.5:
            gap = rng.random() < st.gap_p
            length = rng.uniform(4, 12) if gap else rng.uniform(7, 26)
            if z_hi - (z + length) < 4:
                length = z_hi - z
            z1 = z + length
            if gap:
                if rng.random() < 0.7:
                    blds.append(_building(rng, st, side, z - 4, z1 + 4, rng.uniform(9, 22), back=True))
                for _ in range(int(rng.integers(0, 3))):
                    objs_z = rng.uniform(z, z1)
                    blds.append(_tree(rng, seed, bl + side * rng.uniform(1.5, 5), objs_z, big=True))
                if rng.random() < 0.75:
                    kind = _pick(rng, ('panel', 'palisade', 'railing', 'hedge'))
                    blds.append(_Fence(side, float(z), float(z1), float(bl), float(rng.uniform(1.0, 2.0)),
                                       kind, int(rng.integers(1 << 30))))
            else:
                setback = rng.uniform(2, 6) if rng.random() < st.setback_p else 0.0
                blds.append(_building(rng, st, side, z, z1, setback))
                if setback > 0:
                    kind = _pick(rng, ('panel', 'palisade', 'railing', 'hedge', 'hedge'))
                    blds.append(_Fence(side, float(z), float(z1), float(bl), float(rng.uniform(0.9, 1.6)),
                                       kind, int(rng.integers(1 << 30))))
                    if rng.random() < 0.4:
                        blds.append(_tree(rng, seed, bl + side * setback * 0.5, rng.uniform(z, z1)))
            z = z1
        # street lights
        phase = st.lamp_phase + (st.lamp_spacing / 2 if side > 0 else 0)
        n0 = math.ceil((z_lo - phase) / st.lamp_spacing)
        zl = phase + n0 * st.lamp_spacing
        while zl < z_hi:
            objs.append(_Lamp(side, float(kerb + side * 0.45), float(zl), float(rng.uniform(7, 9)),
                              float(rng.uniform(1.0, 2.0)),
                              _pick(rng, ((70, 72, 74), (40, 55, 45), (150, 150, 148)))))
            zl += st.lamp_spacing
        # pavement trees
        zt = z_lo + rng.uniform(0, 12)
        while zt < z_hi:
            if rng.random() < st.tree_p:
                objs.append(_tree(rng, seed, kerb + side * rng.uniform(0.9, 1.4), zt))
            zt += rng.uniform(9, 16)
        # signs
        if rng.random() < 0.45:
            kind = _pick(rng, ('round_red', 'round_blue', 'triangle', 'rect_blue', 'rect_green', 'lights'),
                         (0.25, 0.15, 0.15, 0.2, 0.1, 0.15))
            objs.append(_Sign(float(kerb + side * 0.4), float(rng.uniform(z_lo, z_hi)), kind,
                              float(rng.uniform(2.0, 2.6)), int(rng.integers(1 << 30))))
        # pedestrians
        for _ in range(int(rng.poisson(st.ped_rate))):
            x = kerb + side * 0.6 + rng.random() * (bl - kerb - side * 1.1)
            v = 0.0 if rng.random() < 0.25 else rng.choice((-1, 1)) * rng.uniform(0.9, 1.5)
            objs.append(_pedestrian(rng, x, rng.uniform(z_lo, z_hi), v))
        # parked cars
        if (st.park_left if side < 0 else st.park_right) and hazard is None or (
                hazard and rng.random() < 0.3):
            zc = z_lo + rng.uniform(0, 4)
            facing = 1 if side == st.hand else -1
            while zc < z_hi:
                spec = _car_spec(rng)
                if rng.random() < st.park_density:
                    objs.append(_Car(spec, float(kerb - side * (spec.width / 2 + 0.15)),
                                     float(zc if facing > 0 else zc + spec.length), 0.0, facing))
                    zc += spec.length + rng.uniform(0.8, 3.0)
                else:
                    zc += rng.uniform(4, 10)
    return tuple(blds), tuple(objs)


@lru_cache(maxsize=64)
def _traffic(seed, hazard=None):
    """Return the moving road users of a street: cars in both directions and bicyclists."""
    st = _street(seed, hazard)
    rng = np.random.default_rng([seed, 4242])
    cars, cyclists = [], []
    if hazard is None:
        for lanes, sign in ((st.same_lanes, 1), (st.on_lanes, -1)):
            for i, x in enumerate(lanes):
                v = sign * rng.uniform(8.5, 11.0)
                z = rng.uniform(12, 40) if (sign > 0 and i == 0) else rng.uniform(-20, 30)
                if sign > 0 and i == 0 and rng.random() < 0.4:
                    z += 60
                while z < 4000:
                    spec = _car_spec(rng, moving=True)
                    cars.append(_Car(spec, float(x + rng.normal(0, 0.15)), float(z), float(v), sign))
                    z += spec.length + rng.exponential(45 if sign < 0 else 70) + 6
        if rng.random() < 0.45:
            x = st.hand * (st.lane_w / 2 - 0.5)
            cyclists.append(_Cyclist(float(x), float(rng.uniform(18, 45)), float(rng.uniform(4, 6)), False,
                                     _pick(rng, ((200, 210, 40), (180, 40, 30), (40, 60, 120), (30, 30, 30))),
                                     _pick(rng, ((30, 30, 30), (150, 20, 20), (200, 200, 200),
                                                 (40, 60, 140))),
                                     int(rng.integers(1 << 30))))
        if rng.random() < 0.2:
            x0 = st.road_left - 1 if rng.random() < 0.5 else st.road_right + 1
            cyclists.append(_Cyclist(float(x0), float(rng.uniform(30, 60)),
                                     float(-np.sign(x0) * rng.uniform(3, 5)), True,
                                     _pick(rng, ((200, 210, 40), (180, 40, 30), (40, 60, 120), (30, 30, 30))),
                                     _pick(rng, ((30, 30, 30), (150, 20, 20), (200, 200, 200))),
                                     int(rng.integers(1 << 30))))
    return tuple(cars), tuple(cyclists)


# ------------------------------ camera & drawing
class _Ctx:
    """Per-frame render state: camera, RGB canvas, labels and inverse depth."""

    def __init__(self, st, height, width, t, speed, pitch_deg=0.0):
        self.st = st
        self.H, self.W = height, width
        self.f = 0.9 * width
        self.cx = (width - 1) / 2.0
        shake = 0.6 * math.sin(7.3 * t + st.seed % 7) + 0.4 * math.sin(17.1 * t)
        # pitch moves the horizon by f * tan(pitch): a shifted principal point, which stays exact for the labels
        self.v0 = st.horizon * height + shake * height / 360.0 - self.f * math.tan(math.radians(pitch_deg))
        self.hazard = None          # while not None: 'add' or 'clear' the pixels each quad paints
        self.hazard_mask = np.zeros((height, width), bool)
        self.pos = np.array([0.0, CAM_HEIGHT, speed * t])
        self.cam = (0.0, CAM_HEIGHT, speed * t)
        self.K = np.array([[self.f, 0, self.cx], [0, -self.f, self.v0], [0, 0, 1.0]])
        self.rgb = np.zeros((height, width, 3), np.float32)
        self.lab = np.full((height, width), SKY, np.uint8)
        self.invd = np.zeros((height, width), np.float32)
        self.t = t


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
        xs = (np.arange(x0 - cx, x1 - cx, dtype=np.float32)) * np.float32(n0 / (f * c))
        ys = (np.arange(y0 - v0, y1 - v0, dtype=np.float32)) * np.float32(-n1 / (f * c)) + np.float32(n2 / c)
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


_SOFT = None


def _soft_blob():
    global _SOFT
    if _SOFT is None:
        g = np.zeros((32, 32), np.float32)
        cv2.ellipse(g, (16, 16), (11, 11), 0, 0, 360, 1.0, -1)
        _SOFT = (cv2.GaussianBlur(g, (0, 0), 3.5) * 255).astype(np.uint8)
    return _SOFT


def _ground_shadow(ctx, x0, x1, z0, z1, strength):
    blob = _soft_blob()
    sx, sz = (x1 - x0) / 32, (z1 - z0) / 32
    _quad(ctx, blob, (x0 + sx / 2, 0.01, z1 - sz / 2), (sx, 0, 0), (0, 0, -sz), 0, mode='shade',
          strength=strength)


# ------------------------------ sky
@lru_cache(maxsize=8)
def _sky(seed, height, width, v0, brightness, overcast):
    """Sky image (float32 RGB, rendered at half resolution: it is smooth) and the horizon colour."""
    full = (height, width)
    height, width, v0 = (height + 1) // 2, (width + 1) // 2, v0 / 2
    rng = np.random.default_rng([seed, 5])
    f = 0.9 * width
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
        dz = z * z / (f * CAM_HEIGHT)
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
    f, h, cz = ctx.f, CAM_HEIGHT, ctx.pos[2]
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


# ------------------------------ textures
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


def _draw_car(ctx, car, z_near, x):
    """Draw a car whose nearest end is at Z = z_near: visible side, end face, deck, sloped glass and roof."""
    s = car.spec
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
    if s.height < CAM_HEIGHT - 0.02 and depth < 12:     # the roof is a sub-pixel sliver further away
        z0, z1 = z_near + s1 * s.length, zf - far[3] * s.length
        w = s.width * (0.95 if s.kind in ('van', 'bus') else 0.8)
        _quad(ctx, _flat_tex(roof), (x - w / 2 + w / 4, s.height, z1 - (z1 - z0) / 4), (w / 2, 0, 0),
              (0, 0, -(z1 - z0) / 2), CAR)
    if s0 > 0 and depth < 30:                            # so is the boot / bonnet
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


# ------------------------------ frame
@lru_cache(maxsize=8)
def _vignette(height, width):
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    r2 = ((xx - width / 2) / (width / 2)) ** 2 * 0.6 + ((yy - height / 2) / (height / 2)) ** 2 * 0.4
    return (1 - 0.22 * r2)[..., None].astype(np.float32)


@lru_cache(maxsize=4)
def _noise_tile(height, width):
    rng = np.random.default_rng(77)
    return rng.standard_normal((height + 16, width + 16, 3), dtype=np.float32)


def _items(ctx, seed, hazard):
    """Collect the layout items near the camera: (back row, building layer, object layer)."""
    cz = ctx.pos[2]
    k0 = int(math.floor((cz - 20) / _SEG))
    k1 = int(math.floor((cz + _DRAW) / _SEG))
    back, bl, ob = [], [], []
    for k in range(k0, k1 + 1):
        blds, objs = _segment(seed, k, hazard)
        for it in blds:
            if isinstance(it, _Bld):
                if it.z1 - cz < _NEAR or it.z0 - cz > _DRAW:
                    continue
                (back if it.back else bl).append((it.z0, it))
            elif isinstance(it, _Fence):
                if it.z1 - cz > _NEAR and it.z0 - cz < _DRAW:
                    bl.append((it.z0, it))
            else:
                if -3 < it.z - cz < _DRAW:
                    bl.append((it.z, it))
        for it in objs:
            if isinstance(it, _Ped):
                z = it.z + it.v * ctx.t
            elif isinstance(it, _Car):
                z = it.z if it.facing > 0 else it.z - it.spec.length
            else:
                z = it.z
            if -6 < z - cz < _DRAW:
                ob.append((z, it))
    cars, cyclists = _traffic(seed, hazard)
    for c in cars:
        z = c.z + c.v * ctx.t
        zn = z if c.facing > 0 else z - c.spec.length
        if -12 < zn - cz < _DRAW:
            ob.append((zn, c))
    for c in cyclists:
        if c.crossing:
            ob.append((c.z, c))
        else:
            z = c.z + c.v * ctx.t
            if -3 < z - cz < _DRAW:
                ob.append((z, c))
    return back, bl, ob


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
        x_front = x_rear + d * 16.6
        _ground_shadow(ctx, min(x_rear, x_front), max(x_rear, x_front), z - 0.2, z + 2.8, 0.5)
        s = 1.0 / ppm
        ctx.hazard = 'add'
        _quad(ctx, tex, (x_rear, (tex.shape[0] - 1) * s, z), (d * s, 0, 0), (0, -s, 0), CAR, alpha)
        ctx.hazard = 'clear'
    elif isinstance(it, tuple) and it[0] == 'truck':
        _, seed, kind, colour, x_rear, z, d = it
        tex, alpha, ppm, length = _truck_tex(seed, kind, colour)
        x_front = x_rear + d * length
        _ground_shadow(ctx, min(x_rear, x_front), max(x_rear, x_front), z - 0.2, z + 2.8, 0.5)
        s = 1.0 / ppm
        ctx.hazard = 'add'
        _quad(ctx, tex, (x_rear, (tex.shape[0] - 1) * s, z), (d * s, 0, 0), (0, -s, 0), CAR, alpha)
        ctx.hazard = 'clear'
    elif isinstance(it, tuple) and it[0] == 'overpass':
        _draw_overpass(ctx, it[1:])


@dataclass(frozen=True)
class RenderedFrame:
    """A rendered frame with its ground truth: labels, the hazard's pixels and the camera that saw it.

    ``hazard`` is H x W bool: the hazard itself and the road seen beneath it (driving there means passing
    under it), all False without a hazard. ``camera`` is the pinhole model with the frame's nominal pitch (the
    suspension's shake is not in it, as a real car's calibration would not know it either).
    """

    rgb: np.ndarray
    labels: np.ndarray
    hazard: np.ndarray
    camera: object


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
            low_sun).

    Returns:
        (rgb, labels): HxWx3 uint8 RGB frame and HxW uint8 label map with ids 0..11 (see CLASS_NAMES).
    """
    frame = render_frame(rng_or_seed, height, width, t, hazard, sky_brightness, hazard_distance, speed,
                         **hard_cases)
    return frame.rgb, frame.labels


def render_frame(rng_or_seed, height=360, width=480, t=0.0, hazard=None, sky_brightness=None,
                 hazard_distance=40.0, speed=SPEED, overcast=None, pitch_deg=0.0, structure=None,
                 structure_distance=40.0, low_sun=False) -> RenderedFrame:
    """Render a frame as :func:`render_scene` does, with the hard cases and the hazard's ground truth.

    Args (beyond render_scene's):
        overcast: True/False overrides the seed's sky (overcast: an even grey-white dome; hazards default to it).
        pitch_deg: camera pitch below the horizontal; the horizon moves up by f * tan(pitch).
        structure: None, 'overpass' (a bridge deck across the street, 4.6..6 m clear, `structure_distance`
            metres ahead) or 'tunnel_exit' (the camera inside a tunnel whose bright exit is
            `structure_distance` metres ahead; exposed for the inside, the outside burns out).
        low_sun: a low sun just above the horizon, with veiling glare and a lens streak.
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
    ctx = _Ctx(st, int(height), int(width), float(t), float(speed), float(pitch_deg))
    if overcast is None:
        overcast = st.overcast or hazard is not None
    sky_row = st.horizon * ctx.H - ctx.f * math.tan(math.radians(pitch_deg))
    sky, hor = _sky(seed, ctx.H, ctx.W, round(sky_row * 2) / 2, round(sky_brightness, 3), bool(overcast))
    ctx.rgb[:] = sky
    _draw_ground(ctx)
    btex, balpha, blab, bppm = _backdrop_tex(seed, hazard is not None)
    s = 1.0 / bppm
    _quad(ctx, btex, (ctx.pos[0] - 300 + s / 2, 40 - s / 2, ctx.pos[2] + _BACKDROP), (s, 0, 0), (0, -s, 0),
          blab, balpha, shade=0.9)
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
    if structure == 'tunnel_exit':
        _tunnel_exposure(ctx, exit_z)
    rgb, labels = _finish(ctx, seed, hor)
    if low_sun:
        rgb = _sun_glare(rgb, seed, ctx.v0, ctx.f)
    camera = CameraModel(ctx.f, ctx.f, ctx.cx, st.horizon * ctx.H, ctx.W, ctx.H, math.radians(pitch_deg),
                         CAM_HEIGHT)
    return RenderedFrame(rgb, labels, ctx.hazard_mask.copy(), camera)


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
        depth = np.where(rows > 0, ctx.f * CAM_HEIGHT / np.maximum(rows, 1e-9), np.inf)
    x = (np.arange(ctx.W) - ctx.cx)[None, :] * depth[:, None] / ctx.f + ctx.pos[0]
    beyond = (depth[:, None] >= z - ctx.pos[2]) & np.isfinite(depth)[:, None]
    return beyond & (x >= x0) & (x <= x1) & (ctx.lab == ROAD)


def _finish(ctx, seed, hor):
    st = ctx.st
    img = ctx.rgb
    # atmospheric haze towards the horizon colour (sky pixels have inverse depth 0 and stay as they are)
    a = np.exp(np.float32(-1.0 / st.haze_dist) / np.maximum(ctx.invd, np.float32(1e-9)))
    a = (np.float32(0.85) * (1 - a))[..., None]
    img += a * (hor.astype(np.float32)[None, None, :] - img)
    # exposure, colour temperature and saturation in one colour matrix, then vignetting, blur and noise
    gain = st.gain * np.array((1 + st.temperature, 1.0, 1 - st.temperature), np.float32)
    sat = st.saturation
    m = (sat * np.eye(3) + (1 - sat) / 3.0) * gain[:, None]
    img = cv2.transform(img, m.astype(np.float32))
    img *= _vignette(ctx.H, ctx.W)
    img = cv2.GaussianBlur(img, (0, 0), st.blur)
    nt = _noise_tile(ctx.H, ctx.W)
    k = int(round(ctx.t * 1000)) * 7919 + seed * 104729 + 13
    oy, ox = k % 16, (k // 16) % 16
    img += np.float32(st.noise) * nt[oy:oy + ctx.H, ox:ox + ctx.W]
    return np.clip(img, 0, 255).astype(np.uint8), ctx.lab.copy()


def render_sequence(seed, n_frames, height=360, width=480, fps=10, **options):
    """Yield (rgb, labels) for n_frames consecutive frames of one street, t = i / fps.

    Options are passed on to render_scene (hazard, sky_brightness, hazard_distance, speed).
    """
    for i in range(int(n_frames)):
        yield render_scene(seed, height, width, t=i / float(fps), **options)

"""The street and everything on it: the world's units and label ids, a street's style, where each thing stands.

World coordinates are metres: X to the right, Y up, Z forward along the road. A seed fixes the whole street
(:func:`_street`); its static content is generated lazily in road segments of ``_SEG`` metres (:func:`_segment`),
its traffic once (:func:`_traffic`), and :func:`_items` picks what is near the camera at a time. Items are
frozen dataclasses, so the textures made for them are cached by value.
"""

from dataclasses import dataclass, replace
from functools import lru_cache
import math

import numpy as np

from ...taxonomy import CAMVID_CLASSES, CAMVID_VOID

# The label ids the renderer paints: CamVid's classes (seg_perception.taxonomy) and void, 0..11.
CLASS_NAMES = CAMVID_CLASSES + ('void',)
(SKY, BUILDING, POLE, ROAD, SIDEWALK, TREE, SIGN, FENCE, CAR, PEDESTRIAN, BICYCLIST) = (
    CAMVID_CLASSES.index(name) for name in ('sky', 'building', 'pole', 'road', 'sidewalk', 'tree', 'sign', 'fence',
                                            'car', 'pedestrian', 'bicyclist'))
VOID = CAMVID_VOID

SPEED = 10.0          # camera speed along the road, m/s
CAM_HEIGHT = 1.5      # camera height above the road, m
HAZARDS = (None, 'white_trailer', 'sky_trailer', 'truck_side')
STRUCTURES = (None, 'overpass', 'tunnel_exit')
LIGHTS = ('day', 'dusk', 'night')

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
_LIGHT_CAR_COLS = ((242, 242, 238), (232, 232, 228), (216, 218, 220), (198, 200, 202), (184, 186, 190))
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


@lru_cache(maxsize=1024)
def _repainted(spec, share):
    """``spec``, repainted white or light grey with probability ``share`` (drawn from its own texture seed)."""
    rng = np.random.default_rng([spec.tex_seed, 2718])
    if rng.random() >= share:
        return spec
    return replace(spec, colour=_jitter(rng, _pick(rng, _LIGHT_CAR_COLS), 0.03))


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

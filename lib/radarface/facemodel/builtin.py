"""The builtin face model: built here, deterministically, from a few formulas and no files.

Geometry: a height field z(x, y) in mm over an elliptical domain (74 mm × 103 mm
semi-axes, centred 5 mm below the origin), sampled on a mirror-symmetric 2.25 mm grid
(4.7k vertices, 9.2k triangles). The surface is a rounded head front (a midline profile
swept sideways along a superellipse) plus local features: brow ridges, eye sockets with
eyeballs, cheekbones, nose with alae, a protruding muzzle with lips and a mouth line,
nasolabial folds and a chin. Placement and landmark depths follow the BFM 2019 mean
face (its landmark file: nose tip (0, 1, 132) mm, pupils (±31, 33, 95), chin
(0, -73, 103)); ICT-FaceKit uses the same frame. So the origin is near the head centre,
the nose tip at (0, 0, 132) mm and the rest of the face surface at z ≈ 85..115 mm
(43 mm at the outline). Extents of the mean face: 144 × 202 × 89 mm.

Identity: 20 named modes (face width, height, depth, nose size, eye spacing, chin,
...) taken as derivatives of the surface formulas with respect to their parameters,
plus 10 smooth random fields from a fixed-seed generator. Expression: 12 modes written
as displacement fields (jaw open, smile, brow raise, eye close, jaw shift, cheek puff,
lip pucker, ...). Each set is PCA-orthogonalised and sorted by variance, so the
coefficients are N(0, 1) and a save/reload round trip keeps their meaning. The mouth is
closed (no hole), so beyond about 2 standard deviations of jaw opening the lip band folds.

face_mask: the vertices at least 10 mm inside the outline (3.7k of 4.7k).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.interpolate import PchipInterpolator

from .model import MorphableModel
from .pca import pca_basis

GRID_MM = 2.25
_SEMI_AXES_MM = (74.0, 103.0)
_CENTRE_Y_MM = -5.0
_RIM_MM = 10.0  # face_mask drops vertices closer than this to the outline

# Midline profile z(y) of the skull without nose, muzzle and chin (mm).
_MIDLINE = np.array([
    (-125, 30), (-110, 62), (-100, 82), (-90, 94), (-80, 99), (-70, 100), (-55, 100),
    (-35, 101), (-15, 103), (0, 104), (15, 104), (32, 104), (50, 106.5), (65, 106.5),
    (80, 105), (92, 101), (105, 94), (120, 82)], dtype=float)
_MIDLINE_FN = PchipInterpolator(_MIDLINE[:, 0], _MIDLINE[:, 1])

# Identity parameters: name -> physical size of one standard deviation (units per formula).
IDENTITY_STD = {
    "face_width": 0.03, "face_height": 0.025, "face_depth": 0.018, "jaw_width": 0.05,
    "roundness": 0.06, "forehead_slope": 3.0, "brow_ridge": 1.2, "eye_spacing": 2.0,
    "eye_height": 2.0, "eye_depth": 1.2, "cheekbones": 1.6, "nose_height": 3.0,
    "nose_width": 1.5, "nose_length": 2.5, "nose_bridge": 1.5, "mouth_width": 2.5,
    "mouth_height": 2.5, "lip_fullness": 0.9, "chin_protrusion": 2.5, "chin_height": 3.0,
}
N_RANDOM_IDENTITY = 10
_RANDOM_SEED = 20241203


def _gauss(x: np.ndarray, y: np.ndarray, cx: float, cy: float, sx: float, sy: float) -> np.ndarray:
    return np.exp(-0.5 * (((x - cx) / sx) ** 2 + ((y - cy) / sy) ** 2))


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _surface(u: np.ndarray, v: np.ndarray, p: dict[str, float]) -> np.ndarray:
    """Vertices (N, 3) in mm for grid points (u, v) and identity parameters ``p`` (std units)."""
    q = {k: p.get(k, 0.0) * std for k, std in IDENTITY_STD.items()}
    x, y = u, v
    ax = np.abs(x)
    # Head front: the midline swept sideways along a superellipse, narrower at the jaw.
    half_width = (79.0 * (1.0 + q["roundness"])
                  * (1.0 - (0.22 + q["jaw_width"]) * _smoothstep((-y - 15.0) / 75.0)))
    r = np.clip(ax / half_width, 0.0, 0.985)
    side = -25.0
    midline = _MIDLINE_FN(y) - q["forehead_slope"] * _smoothstep((y - 40.0) / 60.0) ** 2
    z = side + (midline - side) * (1.0 - r**2.8) ** (1 / 2.8)
    # Brow ridges and eye sockets with the eyeballs in them.
    ex, ey = 31.0 + q["eye_spacing"], 33.0 + q["eye_height"]
    z += (3.0 + q["brow_ridge"]) * _gauss(ax, y, ex, ey + 16, 19.0, 5.5)
    z -= (12.0 + q["eye_depth"]) * _gauss(ax, y, ex - 9, ey, 11.0, 8.0)
    z -= 8.0 * _gauss(ax, y, ex + 14, ey, 10.0, 7.0)
    z += 5.5 * _gauss(ax, y, ex, ey, 8.0, 5.0)
    z += (3.0 + q["cheekbones"]) * _gauss(ax, y, 47.0, 8.0, 12.0, 12.0)
    # Nose: a ridge from the nasion to the tip, a rounded tip, alae, dropping to the philtrum.
    tip_y = 1.0 - q["nose_length"]
    t = np.clip((ey + 5.0 - y) / (ey + 5.0 - tip_y), 0.0, None)
    height = (25.0 + q["nose_height"]) * np.where(
        t <= 1.0, 0.15 + 0.85 * t**1.3, np.exp(-(((t - 1.0) * (ey + 5.0 - tip_y)) / 8.0) ** 2))
    height *= _smoothstep((ey + 12.0 - y) / 10.0)
    height += (1.5 + q["nose_bridge"]) * _gauss(x, y, 0.0, ey - 8.0, 6.0, 9.0)
    width = (4.5 + 3.0 * np.clip(t, 0.0, 1.0) ** 1.5) * (1.0 + q["nose_width"] / 9.0)
    z += height * np.exp(-0.5 * (x / width) ** 2)
    z += 1.5 * _gauss(ax, y, 13.0 * (1.0 + q["nose_width"] / 9.0), tip_y - 5.0, 4.5, 4.0)
    # Muzzle (teeth and lips) with the mouth line, nasolabial folds and the chin.
    mouth_y = -33.0 + q["mouth_height"]
    mouth_w = 24.0 + q["mouth_width"]
    z += 12.0 * _gauss(x, y, 0.0, mouth_y + 8.0, 13.0, 17.0)
    z += (2.2 + q["lip_fullness"]) * _gauss(x, y, 0.0, mouth_y + 6.0, mouth_w * 0.6, 3.2)
    z += (2.4 + q["lip_fullness"]) * _gauss(x, y, 0.0, mouth_y - 7.5, mouth_w * 0.55, 3.8)
    z -= 2.5 * _gauss(x, y, 0.0, mouth_y, mouth_w * 0.65, 1.4)
    z -= 2.0 * _gauss(x, y, 0.0, mouth_y - 18.0, 14.0, 4.0)
    fold = np.abs(ax - (20.0 + 0.55 * (tip_y - 3.0 - y)))
    z -= 1.0 * np.exp(-0.5 * (fold / 3.5) ** 2) * _gauss(0.0, y, 0.0, -17.0, 1.0, 13.0)
    chin_y = -70.0 + q["chin_height"]
    z += (4.0 + q["chin_protrusion"]) * _gauss(x, y, 0.0, chin_y, 16.0, 9.0)
    sx = 1.0 + q["face_width"]
    sy = 1.0 + q["face_height"]
    return np.stack([x * sx, y * sy, z * (1.0 + q["face_depth"])], axis=1)


def _grid() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Grid (u, v) in mm inside the ellipse, triangles (M, 3) and distance to the outline (mm)."""
    a, b = _SEMI_AXES_MM
    nx, ny = int(np.ceil(a / GRID_MM)), int(np.ceil(b / GRID_MM))
    xs = np.arange(-nx, nx + 1) * GRID_MM
    ys = _CENTRE_Y_MM + np.arange(-ny, ny + 1) * GRID_MM
    gx, gy = np.meshgrid(xs, ys)  # (ny, nx): row = y index
    inside = (gx / a) ** 2 + ((gy - _CENTRE_Y_MM) / b) ** 2 <= 1.0
    # Quads split along mirrored diagonals so the mesh itself is left-right symmetric.
    i00, i10 = np.s_[:-1, :-1], np.s_[:-1, 1:]
    i01, i11 = np.s_[1:, :-1], np.s_[1:, 1:]
    flat = np.arange(gx.size).reshape(gx.shape)
    right = (gx[i00] + GRID_MM / 2) > 0
    a0, a1, a2, a3 = flat[i00], flat[i10], flat[i01], flat[i11]
    t1 = np.where(right[..., None], np.stack([a0, a1, a3], -1), np.stack([a0, a1, a2], -1))
    t2 = np.where(right[..., None], np.stack([a0, a3, a2], -1), np.stack([a1, a3, a2], -1))
    tris = np.concatenate([t1.reshape(-1, 3), t2.reshape(-1, 3)])
    tris = tris[inside.reshape(-1)[tris].all(axis=1)]
    used = np.unique(tris)
    index = np.full(gx.size, -1, dtype=np.int64)
    index[used] = np.arange(len(used))
    u, v = gx.reshape(-1)[used], gy.reshape(-1)[used]
    # Exact distance to an ellipse is awkward; this first-order estimate is within ~1 mm here.
    rho = np.sqrt((u / a) ** 2 + ((v - _CENTRE_Y_MM) / b) ** 2)
    grad = np.sqrt((u / a**2) ** 2 + ((v - _CENTRE_Y_MM) / b**2) ** 2)
    dist = (1.0 - rho**2) / (2.0 * np.maximum(grad, 1e-12))
    return u, v, index[tris], dist


# Landmark positions (x, y) in mm, names and places as in the BFM 2019 landmark set.
LANDMARKS_XY: dict[str, tuple[float, float]] = {
    "center.nose.tip": (0.0, 1.0), "center.chin.tip": (0.0, -73.0),
    "center.front.trichion": (0.0, 85.0), "center.lips.upper.outer": (0.0, -26.0),
    "center.lips.lower.outer": (0.0, -41.5), "center.nose.attachement_to_philtrum": (0.0, -11.0),
    "left.eye.pupil.center": (31.0, 33.0), "right.eye.pupil.center": (-31.0, 33.0),
    "left.eye.corner_inner": (16.5, 32.0), "right.eye.corner_inner": (-16.5, 32.0),
    "left.eye.corner_outer": (43.5, 32.5), "right.eye.corner_outer": (-43.5, 32.5),
    "left.eyebrow.inner_lower": (19.5, 48.0), "right.eyebrow.inner_lower": (-19.5, 48.0),
    "left.eyebrow.bend.lower": (47.0, 49.0), "right.eyebrow.bend.lower": (-47.0, 49.0),
    "left.lips.corner": (23.6, -33.3), "right.lips.corner": (-23.6, -33.3),
    "left.nose.wing.outer": (17.6, -2.8), "right.nose.wing.outer": (-17.6, -2.8),
    "left.nasolabial_fold.center": (30.0, -18.7), "right.nasolabial_fold.center": (-30.0, -18.7),
}


def _expression_modes(verts: np.ndarray) -> dict[str, np.ndarray]:
    """Expression displacement fields (N, 3) in mm per standard deviation, on the mean face."""
    x, y, z = verts.T
    ax, sgn = np.abs(x), np.sign(x)
    zero = np.zeros_like(x)
    # The jaw: below a line through the mouth that rises towards the ears, fading sideways.
    jaw_line = -29.0 + 0.35 * np.maximum(ax - 20.0, 0.0)
    below_mouth = _smoothstep((jaw_line - y) / 16.0) * (1.0 - 0.6 * _smoothstep((ax - 30.0) / 35.0))

    def rot_x(angle_rad: float, pivot_y: float, pivot_z: float, weight: np.ndarray) -> np.ndarray:
        return np.stack([zero, -angle_rad * (z - pivot_z), angle_rad * (y - pivot_y)], 1) * weight[:, None]

    corners = _gauss(ax, y, 24.0, -33.0, 9.0, 7.0)
    cheeks = _gauss(ax, y, 38.0, -12.0, 13.0, 11.0)
    lips = _gauss(x, y, 0.0, -33.0, 16.0, 9.0)
    upper_lids = _gauss(ax, y, 31.0, 38.0, 10.0, 4.0)
    brows = _gauss(ax, y, 30.0, 50.0, 20.0, 9.0) * (1.0 + 0.3 * _smoothstep((y - 50.0) / 30.0))
    inner_brows = _gauss(ax, y, 16.0, 47.0, 9.0, 6.0)
    modes = {
        "jaw_open": rot_x(np.deg2rad(3.0), -5.0, 5.0, below_mouth),
        "smile": np.stack([2.6 * sgn * corners, 3.2 * corners + 1.6 * cheeks, -1.5 * corners + 1.2 * cheeks], 1),
        "smile_asymmetry": np.stack([1.2 * corners * (x > 0), 1.5 * sgn * corners, zero], 1),
        "brow_raise": np.stack([zero, 3.0 * brows, 0.4 * brows], 1),
        "brow_furrow": np.stack([-1.7 * sgn * inner_brows, -1.9 * inner_brows, 0.8 * inner_brows], 1),
        "eye_close": np.stack([zero, -2.6 * upper_lids, 0.6 * upper_lids], 1),
        "jaw_shift": np.stack([2.3 * below_mouth, zero, zero], 1),
        "cheek_puff": np.stack([1.6 * sgn, zero, 2.2 + zero], 1) * _gauss(ax, y, 40.0, -28.0, 14.0, 14.0)[:, None],
        "lip_pucker": np.stack([-0.12 * x * lips, 0.4 * lips, 2.6 * lips], 1),
        "mouth_frown": np.stack([0.8 * sgn * corners, -2.1 * corners, -0.5 * corners], 1),
        "nose_wrinkle": np.array([0.0, 1.3, 0.5]) * _gauss(ax, y, 11.0, 10.0, 6.0, 9.0)[:, None],
        "lip_press": np.stack([zero, zero, -1.4 * lips], 1),
    }
    return modes


@lru_cache(maxsize=1)
def _full_builtin() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, int]]:
    u, v, triangles, rim_distance = _grid()
    mean = _surface(u, v, {})
    h = 1e-3  # central differences of smooth formulas: exact to ~1e-9 mm
    deltas = [(_surface(u, v, {k: h}) - _surface(u, v, {k: -h})) / (2 * h) for k in IDENTITY_STD]
    rng = np.random.default_rng(_RANDOM_SEED)
    for _ in range(N_RANDOM_IDENTITY):
        field = np.zeros_like(mean)
        for _ in range(6):  # a few broad bumps, mirrored so faces stay roughly symmetric
            cx, cy = rng.uniform(-55, 55), rng.uniform(-80, 85)
            sigma = rng.uniform(12, 30)
            amp = rng.normal(0.0, 0.9, size=3) * np.array([0.3, 0.3, 1.0])
            near, far = _gauss(u, v, cx, cy, sigma, sigma), _gauss(u, v, -cx, cy, sigma, sigma)
            field += np.stack([amp[0] * (near - far), amp[1] * (near + far), amp[2] * (near + far)], 1)
        deltas.append(field)
    shape_basis, _ = pca_basis(np.stack([d.reshape(-1) for d in deltas], axis=1))
    expr = _expression_modes(mean)
    expression_basis, _ = pca_basis(np.stack([d.reshape(-1) for d in expr.values()], axis=1))
    landmarks = {name: int(np.argmin((u - px) ** 2 + (v - py) ** 2)) for name, (px, py) in LANDMARKS_XY.items()}
    return mean, shape_basis, expression_basis, triangles, rim_distance >= _RIM_MM, landmarks


def builtin_model(n_shape: int = 10, n_expression: int = 7) -> MorphableModel:
    """The builtin face model with the top ``n_shape`` identity and ``n_expression`` expression modes."""
    mean, shape_basis, expression_basis, triangles, mask, landmarks = _full_builtin()
    for what, n, have in (("identity", n_shape, shape_basis.shape[2]),
                          ("expression", n_expression, expression_basis.shape[2])):
        if n > have:
            raise ValueError(f"the builtin model has {have} {what} modes, {n} requested")
    return MorphableModel(
        name="builtin", source="builtin", mean=mean,
        shape_basis=shape_basis[:, :, :n_shape], expression_basis=expression_basis[:, :, :n_expression],
        triangles=triangles, face_mask=mask, landmarks=landmarks)

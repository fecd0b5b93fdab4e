"""Validation helpers: point-spread functions against theory, test meshes, renderer agreement.

Theory (DESIGN §5.1): lateral resolution λc·R/(2D), range resolution c/(2B). For a uniformly
filled aperture and band, the −3 dB widths of the sinc-shaped responses are 0.886 times those.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from radarface.geometry import apply_pose, pose_from_degrees
from radarface.radar.config import RadarConfig
from radarface.radar.image import ImageGrid, RadarImage
from radarface.radar.pipeline import render, render_points, render_reference

#: −3 dB width of |sinc| in units of its first-null half-width (uniform aperture or band).
SINC_3DB = 0.886


def theory_resolution(config: RadarConfig, aperture_mm: float | None = None) -> dict[str, float]:
    """Theoretical resolutions in mm: ``lateral`` λc·R/(2D), ``range`` c/(2B) and their −3 dB widths."""
    lateral = config.wavelength_mm * config.range_mm / (2.0 * (aperture_mm or config.aperture_mm))
    rng = config.range_resolution_mm
    return {"lateral": lateral, "range": rng, "lateral_3db": SINC_3DB * lateral, "range_3db": SINC_3DB * rng}


def minus3db_width(axis_mm: np.ndarray, magnitude: np.ndarray) -> float:
    """Full width (mm) at −3 dB of the main lobe of ``magnitude`` (linear) sampled on ``axis_mm``."""
    p = np.asarray(magnitude, dtype=np.float64)
    p = p / p.max()
    level = 10.0 ** (-3.0 / 20.0)
    i = int(np.argmax(p))
    left, right = i, i
    while left > 0 and p[left] > level:
        left -= 1
    while right < len(p) - 1 and p[right] > level:
        right += 1
    if p[left] > level or p[right] > level:
        raise ValueError("the −3 dB points lie outside the sampled axis; widen the cut")
    x_left = np.interp(level, [p[left], p[left + 1]], [axis_mm[left], axis_mm[left + 1]])
    x_right = np.interp(level, [p[right], p[right - 1]], [axis_mm[right], axis_mm[right - 1]])
    return float(x_right - x_left)


@dataclass
class PSFCuts:
    """Cuts (linear magnitude, peak 1) through the image of a point at ``position`` (3,) mm:
    along x and y (``lateral_mm`` offsets) and along z (``range_mm`` offsets)."""

    position: np.ndarray
    lateral_mm: np.ndarray
    x_cut: np.ndarray
    y_cut: np.ndarray
    range_mm: np.ndarray
    z_cut: np.ndarray
    peak: float

    def widths(self) -> dict[str, float]:
        """−3 dB widths in mm: ``lateral_x``, ``lateral_y``, ``range``."""
        return {"lateral_x": minus3db_width(self.lateral_mm, self.x_cut),
                "lateral_y": minus3db_width(self.lateral_mm, self.y_cut),
                "range": minus3db_width(self.range_mm, self.z_cut)}

    def peak_offsets(self) -> dict[str, float]:
        """Offsets (mm) of the maxima of the cuts from the true position."""
        return {"x": float(self.lateral_mm[np.argmax(self.x_cut)]), "y": float(self.lateral_mm[np.argmax(self.y_cut)]),
                "z": float(self.range_mm[np.argmax(self.z_cut)])}


def psf_cuts(config: RadarConfig, *, method: str = "fast", position: np.ndarray | None = None,
             half_width_mm: tuple[float, float] = (12.0, 30.0), step_mm: tuple[float, float] = (0.1, 0.2),
             **options: Any) -> PSFCuts:
    """Lateral and range cuts through the image of one unit point reflector at ``position`` (3,) mm
    (default the scene centre), rendered by ``method``; ``options`` go to :func:`render_points`
    (antenna subsets, rendering parameters)."""
    pos = np.array([0.0, 0.0, config.face_center_z_mm]) if position is None else np.asarray(position, float)
    lat = np.arange(-half_width_mm[0], half_width_mm[0] + 1e-9, step_mm[0])
    rng_axis = np.arange(-half_width_mm[1], half_width_mm[1] + 1e-9, step_mm[1])
    one = np.array([0.0])
    grids = {"x": ImageGrid(pos[0] + lat, pos[1] + one, pos[2] + one),
             "y": ImageGrid(pos[0] + one, pos[1] - lat, pos[2] + one),
             "z": ImageGrid(pos[0] + one, pos[1] + one, pos[2] + rng_axis)}
    cuts = {k: np.abs(render_points(pos[None], None, config, method=method, grid=g, roi=False, **options)
                      .volume.ravel())
            for k, g in grids.items()}
    cuts["y"] = cuts["y"][::-1]  # the y axis of a grid runs downwards
    peak = float(max(c.max() for c in cuts.values()))
    return PSFCuts(pos, lat, cuts["x"] / peak, cuts["y"] / peak, rng_axis, cuts["z"] / peak, peak)


def plate_mesh(size_mm: float = 40.0, tilt_deg: float = 0.0, center: np.ndarray | None = None,
               spacing_mm: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """Square plate (vertices (N, 3) mm, triangles (M, 3)) facing +z, turned by ``tilt_deg``
    about the y axis through ``center`` (default (0, 0, 90))."""
    n = max(2, int(np.ceil(size_mm / spacing_mm)) + 1)
    a = np.linspace(-size_mm / 2, size_mm / 2, n)
    xx, yy = np.meshgrid(a, a)
    verts = np.stack([xx.ravel(), yy.ravel(), np.zeros(xx.size)], axis=1)
    idx = np.arange(n * n).reshape(n, n)
    quads = np.stack([idx[:-1, :-1], idx[:-1, 1:], idx[1:, 1:], idx[1:, :-1]], axis=-1).reshape(-1, 4)
    tris = np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]])
    verts = apply_pose(verts, pose_from_degrees(yaw=tilt_deg))
    verts += np.array([0.0, 0.0, 90.0]) if center is None else np.asarray(center, float)
    return verts, tris


def sphere_mesh(radius_mm: float = 30.0, center: np.ndarray | None = None, n: int = 24
                ) -> tuple[np.ndarray, np.ndarray]:
    """UV sphere (vertices (N, 3) mm, triangles (M, 3)) wound with outward normals."""
    theta = np.linspace(0.0, np.pi, n + 1)[1:-1]
    phi = np.linspace(0.0, 2.0 * np.pi, 2 * n, endpoint=False)
    t, p = np.meshgrid(theta, phi, indexing="ij")
    ring = np.stack([np.sin(t) * np.cos(p), np.sin(t) * np.sin(p), np.cos(t)], axis=-1).reshape(-1, 3)
    verts = np.concatenate([[[0, 0, 1.0]], ring, [[0, 0, -1.0]]]) * radius_mm
    m = 2 * n
    idx = 1 + np.arange(len(theta) * m).reshape(len(theta), m)
    nxt = np.roll(idx, -1, axis=1)
    tris = [np.stack([np.zeros(m, int), idx[0], nxt[0]], axis=1)]
    for i in range(len(theta) - 1):
        tris += [np.stack([idx[i], idx[i + 1], nxt[i + 1]], axis=1), np.stack([idx[i], nxt[i + 1], nxt[i]], axis=1)]
    tris.append(np.stack([np.full(m, len(verts) - 1), nxt[-1], idx[-1]], axis=1))
    verts += np.array([0.0, 0.0, 90.0]) if center is None else np.asarray(center, float)
    return verts, np.concatenate(tris)


def plate_peaks_db(config: RadarConfig, tilts_deg: np.ndarray, *, method: str = "fast", size_mm: float = 40.0,
                   **options: Any) -> np.ndarray:
    """Peak image amplitude (dB, relative to the plate facing the array) of a smooth plate of
    ``size_mm`` at each tilt in ``tilts_deg``; sharp edges (no taper), no diffuse part, no noise."""
    config = config.replace(edge_taper_mm=0.0, material=0.0, snr_db=None)
    renderer = render if method == "fast" else render_reference
    peaks = []
    for tilt in (0.0, *np.atleast_1d(tilts_deg)):
        verts, tris = plate_mesh(size_mm, float(tilt), center=[0.0, 0.0, config.face_center_z_mm])
        peaks.append(renderer(verts, tris, config, **options).peak)
    peaks = np.asarray(peaks)
    return 20.0 * np.log10(peaks[1:] / peaks[0])


def compare_images(a: RadarImage, b: RadarImage) -> dict[str, float]:
    """Agreement of two renders of one scene on one grid: Pearson ``correlation`` of the amplitude
    images, ``median_depth_diff_mm`` over pixels above −DR in both, and that pixel count."""
    if a.amplitude.shape != b.amplitude.shape:
        raise ValueError(f"images differ in shape: {a.amplitude.shape} vs {b.amplitude.shape}")
    both = a.foreground & b.foreground
    corr = float(np.corrcoef(a.amplitude.ravel(), b.amplitude.ravel())[0, 1])
    diff = np.abs(a.depth_mm() - b.depth_mm())[both]
    return {"correlation": corr, "median_depth_diff_mm": float(np.median(diff)) if diff.size else float("nan"),
            "n_pixels": int(both.sum())}


def psf_widths(config: RadarConfig, methods: tuple[str, ...] = ("fast", "reference"), **options: Any
               ) -> dict[str, dict[str, float]]:
    """−3 dB widths (mm) of a point at the scene centre per renderer, plus ``theory`` (λc·R/(2D)
    laterally, 0.886·c/(2B) in range) and each width's ratio to it."""
    th = theory_resolution(config)
    out: dict[str, dict[str, float]] = {"theory": {"lateral_x": th["lateral"], "lateral_y": th["lateral"],
                                                   "range": th["range_3db"]}}
    for method in methods:
        out[method] = psf_cuts(config, method=method, **options).widths()
    return out


def compare_renderers(vertices: np.ndarray, triangles: np.ndarray, config: RadarConfig, *,
                      reference_options: dict[str, Any] | None = None, **render_options: Any
                      ) -> tuple[RadarImage, RadarImage, dict[str, float]]:
    """(fast image, exact image, agreement and timings) for one mesh on one grid; the reference
    takes ``reference_options`` (e.g. ``stride=2``), both take ``render_options`` (pose, ...)."""
    import time

    start = time.perf_counter()
    fast = render(vertices, triangles, config, **render_options)
    t_fast = time.perf_counter() - start
    start = time.perf_counter()
    exact = render_reference(vertices, triangles, config, **render_options, **(reference_options or {}))
    t_exact = time.perf_counter() - start
    return fast, exact, {**compare_images(fast, exact), "fast_s": t_fast, "reference_s": t_exact}


@dataclass(frozen=True)
class RendererTolerances:
    """How close the renderers must come to theory and to each other.

    ``width_rel``: largest |−3 dB width / theory − 1|, theory 0.886·λc·R/(2D) laterally and
    0.886·c/(2B) in range (uniformly filled aperture and band); ``plate_drop_db``: least drop of a
    smooth 40 mm plate's peak between facing the array and tilted 30°; ``correlation``: least
    Pearson correlation of the fast and exact amplitude images of a face; ``depth_mm``: largest
    median |depth difference| between them, over the pixels above −DR in both.
    """

    width_rel: float
    plate_drop_db: float
    correlation: float
    depth_mm: float


#: Reduced system (``smoke``: 32 frequencies, exact reference on every second antenna, whose grating
#: lobes light a few pixels near the image border): checks that catch a broken renderer.
REDUCED_TOLERANCES = RendererTolerances(width_rel=0.25, plate_drop_db=15.0, correlation=0.85, depth_mm=3.0)
#: Full system (``cpu``, ``paper``: full array and band). Laterally the near-field aperture is seen at a
#: slightly smaller angle than D/(2R) and the spreading loss weights its edges down, which widens the
#: response by a few per cent, well inside 10 %; the two renderers image the same scatterers, so their
#: images agree to a correlation of 0.99.
FULL_TOLERANCES = RendererTolerances(width_rel=0.10, plate_drop_db=15.0, correlation=0.99, depth_mm=1.0)


@dataclass(frozen=True)
class Check:
    """One row of a table of checks: what was measured, the requirement, the fast renderer's value,
    the exact reference's value (None: one value for the pair), whether every value passed, and the
    decimals to show (enough to see the margin to the requirement)."""

    what: str
    needed: str
    fast: float
    exact: float | None
    passed: bool
    digits: int = 2


def renderer_checks(widths: dict[str, dict[str, float]], theory: dict[str, float], plate_drop_db: dict[str, float],
                    agreement: dict[str, float], tolerances: RendererTolerances) -> list[Check]:
    """The renderer's checks against theory and between the renderers, as :class:`Check` rows.

    ``widths``: ``{"fast": PSFCuts.widths(), "reference": ...}`` in mm; ``theory``:
    :func:`theory_resolution`; ``plate_drop_db``: ``{"fast": dB, "reference": dB}`` (positive:
    the tilted plate is weaker); ``agreement``: :func:`compare_images` of a face.

    >>> th = {"lateral_3db": 3.45, "range_3db": 13.3}
    >>> w = {"fast": {"lateral_x": 3.59, "lateral_y": 3.59, "range": 13.1}, "reference": {"lateral_x": 3.59,
    ...      "lateral_y": 3.59, "range": 13.2}}
    >>> rows = renderer_checks(w, th, {"fast": 15.7, "reference": 16.2},
    ...                        {"correlation": 0.95, "median_depth_diff_mm": 0.5}, FULL_TOLERANCES)
    >>> [(r.needed, r.passed) for r in rows]  # doctest: +NORMALIZE_WHITESPACE
    [('within 10 % of 3.45', True), ('within 10 % of 13.30', True), ('≥ 15', True), ('≥ 0.99', False),
     ('≤ 1', True)]
    """
    for name, given in (("widths", widths), ("plate_drop_db", plate_drop_db)):
        if set(given) != {"fast", "reference"}:
            raise ValueError(f"{name} must hold 'fast' and 'reference', got {sorted(given)}")
    tol = tolerances
    rel = f"within {tol.width_rel * 100:g} % of "

    def width(key: str, target: float, label: str) -> Check:
        fast, exact = widths["fast"][key], widths["reference"][key]
        ok = all(abs(v / target - 1.0) <= tol.width_rel for v in (fast, exact))
        return Check(label, rel + f"{target:.2f}", fast, exact, ok)

    drops = (plate_drop_db["fast"], plate_drop_db["reference"])
    return [
        width("lateral_x", theory["lateral_3db"], "lateral −3 dB width (mm)"),
        width("range", theory["range_3db"], "range −3 dB width (mm)"),
        Check("plate facing vs tilted 30° (dB)", f"≥ {tol.plate_drop_db:g}", *drops,
              all(d >= tol.plate_drop_db for d in drops)),
        Check("face: amplitude correlation, fast vs exact", f"≥ {tol.correlation:g}", agreement["correlation"], None,
              agreement["correlation"] >= tol.correlation, digits=3),
        Check("face: median depth difference (mm)", f"≤ {tol.depth_mm:g}", agreement["median_depth_diff_mm"], None,
              agreement["median_depth_diff_mm"] <= tol.depth_mm),
    ]


def checks_table(checks: list[Check]) -> str:
    """Markdown table of :class:`Check` rows: check, requirement, fast, exact, passed.

    >>> print(checks_table([Check("plate drop (dB)", "≥ 15", 15.71, 16.2, True)]))
    | check | needed | fast | exact | passed |
    |---|---|---|---|---|
    | plate drop (dB) | ≥ 15 | 15.71 | 16.20 | yes |
    """
    lines = ["| check | needed | fast | exact | passed |", "|---|---|---|---|---|"]
    for c in checks:
        exact_text = "–" if c.exact is None else f"{c.exact:.{c.digits}f}"
        passed = "yes" if c.passed else "NO"
        lines.append(f"| {c.what} | {c.needed} | {c.fast:.{c.digits}f} | {exact_text} | {passed} |")
    return "\n".join(lines)


def psf_widths_by_range(config: RadarConfig, ranges_mm: tuple[float, ...] | np.ndarray, *, method: str = "fast",
                        **options: Any) -> list[dict[str, float]]:
    """Lateral −3 dB widths (mm) of a point at the scene centre with the array at each range in
    ``ranges_mm``, beside theory 0.886·λc·R/(2D) (D = ``config.aperture_mm``): one row per range with
    ``range_mm``, ``lateral_x_mm``, ``lateral_y_mm``, ``theory_mm`` and ``ratio`` (mean width / theory).
    ``options`` go to :func:`psf_cuts` (``nthreads``, antenna subsets, ...)."""
    rows = []
    for range_mm in np.atleast_1d(np.asarray(ranges_mm, dtype=np.float64)):
        cfg = config.replace(range_mm=float(range_mm))
        widths = psf_cuts(cfg, method=method, half_width_mm=(3.0 * cfg.lateral_resolution_mm, 30.0), **options).widths()
        theory = theory_resolution(cfg)["lateral_3db"]
        mean = 0.5 * (widths["lateral_x"] + widths["lateral_y"])
        rows.append({"range_mm": float(range_mm), "lateral_x_mm": widths["lateral_x"],
                     "lateral_y_mm": widths["lateral_y"], "theory_mm": theory, "ratio": mean / theory})
    return rows


def widths_table(rows_by_array: dict[str, list[dict[str, float]]], *, digits: int = 2) -> str:
    """Markdown table of :func:`psf_widths_by_range` rows, one block of rows per named array.

    >>> print(widths_table({"square": [{"range_mm": 400.0, "lateral_x_mm": 3.6, "lateral_y_mm": 3.6,
    ...                                 "theory_mm": 3.45, "ratio": 1.043}]}))
    | array | range (mm) | −3 dB width x (mm) | y (mm) | theory 0.886·λR/(2D) (mm) | ratio |
    |---|---|---|---|---|---|
    | square | 400 | 3.60 | 3.60 | 3.45 | 1.04 |
    """
    lines = ["| array | range (mm) | −3 dB width x (mm) | y (mm) | theory 0.886·λR/(2D) (mm) | ratio |",
             "|---|---|---|---|---|---|"]
    for name, rows in rows_by_array.items():
        for row in rows:
            values = " | ".join(f"{row[k]:.{digits}f}" for k in ("lateral_x_mm", "lateral_y_mm", "theory_mm", "ratio"))
            lines.append(f"| {name} | {row['range_mm']:g} | {values} |")
    return "\n".join(lines)

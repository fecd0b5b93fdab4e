"""Face meshes drawn as shaded orthographic views, mode grids, spectra and error maps."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.tri import Triangulation

#: Orthographic views: (horizontal axis, vertical axis, depth axis, sign of horizontal).
_VIEWS = {"front": (0, 1, 2, 1.0), "side": (2, 1, 0, 1.0)}
#: Light direction per view, from the viewer's upper side.
_LIGHTS = {name: np.array(d) / np.linalg.norm(d) for name, d in
           {"front": [0.3, 0.4, 1.0], "side": [1.0, 0.4, 0.3]}.items()}


def vertex_normals(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Unit normals (N, 3) per vertex, area-weighted from the triangles (M, 3)."""
    v = np.asarray(vertices, dtype=np.float64)
    face_n = np.cross(v[triangles[:, 1]] - v[triangles[:, 0]], v[triangles[:, 2]] - v[triangles[:, 0]])
    normals = np.zeros_like(v)
    for k in range(3):
        np.add.at(normals, triangles[:, k], face_n)
    return normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)


def plot_face(vertices: np.ndarray, triangles: np.ndarray, *, values: np.ndarray | None = None,
              view: str = "front", ax: Axes | None = None, cmap: str = "magma",
              vmin: float | None = None, vmax: float | None = None, title: str | None = None) -> Axes:
    """Draw a mesh (vertices (N, 3) mm) as a shaded orthographic view, or coloured by ``values`` (N,).

    ``view`` is ``"front"`` (looking along −z) or ``"side"`` (looking along −x); axes in mm.
    """
    if view not in _VIEWS:
        raise ValueError(f"view must be one of {list(_VIEWS)}, got {view!r}")
    ax = ax or plt.gca()
    h, v_, d, sign = _VIEWS[view]
    verts = np.asarray(vertices, dtype=np.float64)
    tri = np.asarray(triangles)
    # Painter's order: far triangles first so near ones cover them.
    order = np.argsort(verts[tri, d].mean(axis=1))
    tri = tri[order]
    triang = Triangulation(sign * verts[:, h], verts[:, v_], tri)
    if values is None:
        shade = np.clip(vertex_normals(verts, np.asarray(triangles)) @ _LIGHTS[view], 0, 1)
        ax.tripcolor(triang, 0.15 + 0.85 * shade[tri].mean(axis=1), cmap="gray", vmin=0, vmax=1,
                     shading="flat", rasterized=True)
    else:
        mappable = ax.tripcolor(triang, np.asarray(values)[tri].mean(axis=1), cmap=cmap, vmin=vmin,
                                vmax=vmax, shading="flat", rasterized=True)
        ax.figure.colorbar(mappable, ax=ax, fraction=0.046, pad=0.04)
    ax.set_aspect("equal")
    ax.set_xlabel("x (mm)" if view == "front" else "z (mm)")
    ax.set_ylabel("y (mm)")
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def plot_mode_grid(model, kind: str = "shape", n_modes: int = 5, sigma: float = 3.0,
                   axes: np.ndarray | None = None) -> np.ndarray:
    """Grid (3, n_modes) of faces: mode k at −sigma, 0 (mean) and +sigma standard deviations."""
    if kind not in ("shape", "expression"):
        raise ValueError(f"kind must be 'shape' or 'expression', got {kind!r}")
    count = model.n_shape if kind == "shape" else model.n_expression
    n_modes = min(n_modes, count)
    if axes is None:
        _, axes = plt.subplots(3, n_modes, figsize=(2.0 * n_modes, 6.6), squeeze=False)
    for k in range(n_modes):
        for row, s in enumerate((-sigma, 0.0, sigma)):
            coeffs = np.zeros(count)
            coeffs[k] = s
            verts = model.vertices(shape=coeffs) if kind == "shape" else model.vertices(expression=coeffs)
            ax = plot_face(verts, model.triangles, ax=axes[row, k],
                           title=f"{kind} {k + 1}: {s:+.0f}σ" if s else f"{kind} {k + 1}: mean")
            ax.set_axis_off()
    return axes


def plot_variance_explained(model, ax: Axes | None = None) -> Axes:
    """Cumulative share of the loaded modes' variance, shape and expression, against mode count."""
    ax = ax or plt.gca()
    for name, basis in (("shape", model.shape_basis), ("expression", model.expression_basis)):
        if basis.shape[-1] == 0:
            continue
        var = (basis ** 2).sum(axis=(0, 1))
        ax.plot(np.arange(1, len(var) + 1), np.cumsum(var) / var.sum(), "o-", ms=3, label=name)
    ax.set_xlabel("number of modes")
    ax.set_ylabel("share of variance (loaded modes)")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend()
    return ax


def plot_face_grid(model, shapes: np.ndarray, expressions: np.ndarray, *, ncols: int = 4,
                   axes: np.ndarray | None = None) -> np.ndarray:
    """Grid of faces for coefficient batches shapes (B, Ks) and expressions (B, Ke)."""
    n = len(shapes)
    nrows = int(np.ceil(n / ncols))
    if axes is None:
        _, axes = plt.subplots(nrows, ncols, figsize=(2.2 * ncols, 2.8 * nrows), squeeze=False)
    verts = model.vertices(shapes, expressions)
    for i, ax in enumerate(np.ravel(axes)):
        if i < n:
            plot_face(verts[i], model.triangles, ax=ax, title=f"face {i}")
        ax.set_axis_off()
    return axes

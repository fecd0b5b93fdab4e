"""Slider panel for the morphable model: shape, expression and pose redraw the face."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np

from radarface.geometry import apply_pose, pose_from_degrees
from radarface.plots.face import plot_face
from radarface.widgets.panel import SliderPanel, slider, slider_panel

_POSE_SLIDERS = (("yaw", 30.0), ("pitch", 30.0), ("roll", 30.0))


def face_figure(model, shape: np.ndarray, expression: np.ndarray, pose: np.ndarray) -> plt.Figure:
    """Figure with front and side views of the posed face (coefficients in std units, pose rad/mm)."""
    verts = apply_pose(model.vertices(shape, expression), pose)
    fig, axes = plt.subplots(1, 2, figsize=(7, 4))
    plot_face(verts, model.triangles, ax=axes[0], view="front", title="front")
    plot_face(verts, model.triangles, ax=axes[1], view="side", title="side")
    fig.tight_layout()
    return fig


def face_panel(model, n_sliders: int = 5) -> SliderPanel:
    """Panel with sliders for the first ``n_sliders`` shape and expression coefficients and the pose.

    ``.update(**values)`` takes ``shape_k`` / ``expression_k`` (std units) and ``yaw``,
    ``pitch``, ``roll`` (degrees), redraws and returns the (closed) figure; ``.image`` holds
    the current PNG.
    """
    sliders: dict[str, widgets.FloatSlider] = {}
    for kind, count in (("shape", model.n_shape), ("expression", model.n_expression)):
        for k in range(min(n_sliders, count)):
            sliders[f"{kind}_{k}"] = slider(0.0, -3, 3, 0.25, f"{kind} {k + 1} (σ)",
                                            f"{kind} coefficient {k + 1}, in standard deviations of the model")
    for name, limit in _POSE_SLIDERS:
        sliders[name] = slider(0.0, -limit, limit, 1, f"{name} (°)", f"head {name} about the model origin, degrees")

    def draw(values: dict) -> tuple[plt.Figure, plt.Figure]:
        shape = np.array([values.get(f"shape_{k}", 0.0) for k in range(model.n_shape)])
        expression = np.array([values.get(f"expression_{k}", 0.0) for k in range(model.n_expression)])
        fig = face_figure(model, shape, expression, pose_from_degrees(values["yaw"], values["pitch"], values["roll"]))
        return fig, fig

    return slider_panel(sliders, draw)

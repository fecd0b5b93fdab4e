"""Slider panel for the morphable model: shape, expression and pose redraw the face."""

from __future__ import annotations

import io

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np

from radarface.geometry import apply_pose, pose_from_degrees
from radarface.plots.face import plot_face

_POSE_SLIDERS = (("yaw", 30.0), ("pitch", 30.0), ("roll", 30.0))


def face_figure(model, shape: np.ndarray, expression: np.ndarray, pose: np.ndarray) -> plt.Figure:
    """Figure with front and side views of the posed face (coefficients in std units, pose rad/mm)."""
    verts = apply_pose(model.vertices(shape, expression), pose)
    fig, axes = plt.subplots(1, 2, figsize=(7, 4))
    plot_face(verts, model.triangles, ax=axes[0], view="front", title="front")
    plot_face(verts, model.triangles, ax=axes[1], view="side", title="side")
    fig.tight_layout()
    return fig


def face_panel(model, n_sliders: int = 5) -> widgets.VBox:
    """Panel with sliders for the first ``n_sliders`` shape and expression coefficients and the pose.

    The returned box has ``.update(**values)``: keys ``shape_k`` / ``expression_k`` (std units),
    ``yaw``, ``pitch``, ``roll`` (degrees); it redraws and returns the (closed) figure. The
    box's ``.image`` widget holds the current PNG.
    """
    sliders: dict[str, widgets.FloatSlider] = {}
    for kind, count in (("shape", model.n_shape), ("expression", model.n_expression)):
        for k in range(min(n_sliders, count)):
            sliders[f"{kind}_{k}"] = widgets.FloatSlider(0.0, min=-3, max=3, step=0.25,
                                                         description=f"{kind[:5]} {k + 1}")
    for name, limit in _POSE_SLIDERS:
        sliders[name] = widgets.FloatSlider(0.0, min=-limit, max=limit, step=1, description=f"{name} °")
    # An Image widget holding PNG bytes, not an Output widget: Output capture can stall
    # headless execution (papermill/nbval), and PNG bytes are easy to test.
    image = widgets.Image(format="png")
    quiet = [False]  # set while update() moves sliders, so each move does not redraw

    def update(**values: float) -> plt.Figure:
        unknown = sorted(set(values) - set(sliders))
        if unknown:
            raise ValueError(f"unknown slider(s) {unknown}; known: {sorted(sliders)}")
        quiet[0] = True
        try:
            for name, value in values.items():
                sliders[name].value = value
        finally:
            quiet[0] = False
        current = {name: s.value for name, s in sliders.items()}
        shape = np.array([current.get(f"shape_{k}", 0.0) for k in range(model.n_shape)])
        expression = np.array([current.get(f"expression_{k}", 0.0) for k in range(model.n_expression)])
        pose = pose_from_degrees(current["yaw"], current["pitch"], current["roll"])
        fig = face_figure(model, shape, expression, pose)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=80)
        plt.close(fig)
        image.value = buffer.getvalue()
        return fig

    for s in sliders.values():
        s.observe(lambda _change: None if quiet[0] else update(), names="value")
    box = widgets.VBox([widgets.HBox([widgets.VBox(list(sliders.values())), image])])
    box.update = update
    box.image = image
    update()
    return box

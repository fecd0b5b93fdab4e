"""Slider panel for the radar renderer: pose, expression and rendering parameters re-render the face."""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np

from radarface.geometry import POSE_LIMITS_DEG_MM, pose_from_degrees
from radarface.plots.radar import plot_images
from radarface.radar import RadarConfig, RadarImage, render, render_param_ranges
from radarface.widgets.panel import slider_panel

_POSE_NAMES = ("yaw", "pitch", "roll", "tx", "ty", "tz")


def render_from_controls(model, config: RadarConfig, values: dict[str, Any]) -> RadarImage:
    """Fast render of ``model`` for control ``values``: pose ``yaw``/``pitch``/``roll`` (degrees),
    ``tx``/``ty``/``tz`` (mm), ``expression_k``/``shape_k`` (std units), rendering parameters
    (``dynamic_range_db``, ``material``, ``aperture_mm``, ``snr_db``; ``noise`` False = none)."""
    shape = np.array([values.get(f"shape_{k}", 0.0) for k in range(model.n_shape)])
    expression = np.array([values.get(f"expression_{k}", 0.0) for k in range(model.n_expression)])
    pose = pose_from_degrees(*(values.get(name, 0.0) for name in _POSE_NAMES))
    params = {name: values[name] for name in render_param_ranges() if name in values}
    if not values.get("noise", True):
        params["snr_db"] = None
    return render(model.vertices(shape, expression), model.triangles, config, pose=pose, render_params=params)


def render_panel(model, config: RadarConfig, n_expression: int = 3, n_shape: int = 2) -> widgets.VBox:
    """Panel with sliders for the pose, the first expression and shape coefficients and the
    rendering parameters; each change re-renders amplitude and depth with the fast renderer.

    The returned box has ``.update(**values)`` (keys as in :func:`render_from_controls`): it moves
    the sliders, re-renders, redraws and returns the :class:`RadarImage`.
    """
    sliders: dict[str, widgets.Widget] = {}
    for name, limit in zip(_POSE_NAMES, POSE_LIMITS_DEG_MM):
        unit = "°" if name in ("yaw", "pitch", "roll") else " mm"
        sliders[name] = widgets.FloatSlider(0.0, min=-2 * limit, max=2 * limit, step=1, description=f"{name}{unit}")
    for kind, count in (("expression", min(n_expression, model.n_expression)), ("shape", min(n_shape, model.n_shape))):
        for k in range(count):
            sliders[f"{kind}_{k}"] = widgets.FloatSlider(0.0, min=-3, max=3, step=0.25,
                                                         description=f"{kind[:5]} {k + 1}")
    for name, (lo, hi) in render_param_ranges().items():
        default = {"dynamic_range_db": config.dynamic_range_db, "material": config.material,
                   "aperture_mm": config.aperture_mm, "snr_db": hi}[name]
        step = 0.05 if name == "material" else 1.0
        sliders[name] = widgets.FloatSlider(float(np.clip(default, lo, hi)), min=lo, max=hi, step=step,
                                            description=name.replace("_", " "))
    sliders["noise"] = widgets.Checkbox(config.snr_db is not None, description="receiver noise")

    def draw(values: dict[str, Any]) -> tuple[plt.Figure, RadarImage]:
        image = render_from_controls(model, config, values)
        fig, axes = plt.subplots(1, 2, figsize=(8.0, 3.2), layout="constrained")
        plot_images(image, axes)
        return fig, image

    return slider_panel(sliders, draw)

"""Slider panel for the radar renderer: pose, expression and rendering parameters re-render the face."""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np

from radarface.geometry import POSE_LIMITS_DEG_MM, pose_from_degrees
from radarface.plots.radar import plot_images
from radarface.radar import RadarConfig, RadarImage, render, render_param_ranges
from radarface.widgets.panel import SliderPanel, slider, slider_panel

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


#: Label and hover text of each rendering parameter's slider.
_RENDER_LABELS: dict[str, tuple[str, str]] = {
    "dynamic_range_db": ("dynamic range (dB)", "amplitude shown down to this many dB below the peak; depth is "
                         "masked below it"),
    "material": ("material", "share of the diffuse (rough, random-phase) part of the surface return"),
    "aperture_mm": ("aperture (mm)", "side D of the square antenna array; lateral resolution ≈ λR / (2D)"),
    "snr_db": ("SNR (dB)", "image peak-to-noise power ratio per voxel; acts only with receiver noise ticked"),
}


def render_panel(model, config: RadarConfig, n_expression: int = 3, n_shape: int = 2) -> SliderPanel:
    """Panel with sliders for the pose, the first expression and shape coefficients and the
    rendering parameters; each change re-renders amplitude and depth with the fast renderer.

    The returned box has ``.update(**values)`` (keys as in :func:`render_from_controls`): it moves
    the sliders, re-renders, redraws and returns the :class:`RadarImage`. The SNR slider is
    greyed out while receiver noise is unticked, since it then has no effect.
    """
    sliders: dict[str, widgets.Widget] = {}
    for name, limit in zip(_POSE_NAMES, POSE_LIMITS_DEG_MM):
        angle = name in ("yaw", "pitch", "roll")
        what = f"head {name} about the model origin" if angle else f"head shift along {name[1]}"
        sliders[name] = slider(0.0, -2 * limit, 2 * limit, 1, f"{name} ({'°' if angle else 'mm'})",
                               f"{what}; the dataset draws within ±{limit:g}")
    for kind, count in (("expression", min(n_expression, model.n_expression)), ("shape", min(n_shape, model.n_shape))):
        for k in range(count):
            sliders[f"{kind}_{k}"] = slider(0.0, -3, 3, 0.25, f"{kind} {k + 1} (σ)",
                                            f"{kind} coefficient {k + 1}, in standard deviations of the model")
    for name, (lo, hi) in render_param_ranges().items():
        default = {"dynamic_range_db": config.dynamic_range_db, "material": config.material,
                   "aperture_mm": config.aperture_mm, "snr_db": hi}[name]
        sliders[name] = slider(float(np.clip(default, lo, hi)), lo, hi, 0.05 if name == "material" else 1.0,
                               *_RENDER_LABELS[name])
    noise = widgets.Checkbox(config.snr_db is not None, description="receiver noise", indent=False,
                             tooltip="add receiver noise at the SNR above")
    sliders["noise"] = noise
    sliders["snr_db"].disabled = not noise.value
    noise.observe(lambda change: setattr(sliders["snr_db"], "disabled", not change["new"]), names="value")

    def draw(values: dict[str, Any]) -> tuple[plt.Figure, RadarImage]:
        image = render_from_controls(model, config, values)
        fig, axes = plt.subplots(1, 2, figsize=(8.0, 3.2), layout="constrained")
        plot_images(image, axes)
        return fig, image

    return slider_panel(sliders, draw)

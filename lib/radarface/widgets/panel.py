"""The one slider-panel mechanism that every widget in this package uses."""

from __future__ import annotations

import base64
import io
from typing import Any, Callable

import ipywidgets as widgets
import matplotlib.pyplot as plt


def figure_png(fig: plt.Figure, *, dpi: int = 80) -> bytes:
    """PNG bytes of ``fig``; the figure is closed."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


#: Width of every control's label, so names like "dynamic range (dB)" are not cut off.
LABEL_WIDTH: str = "150px"


def slider(value: float, low: float, high: float, step: float, label: str, tooltip: str) -> widgets.FloatSlider:
    """A float slider labelled ``label`` in full, with ``tooltip`` as its hover text."""
    return widgets.FloatSlider(value, min=low, max=high, step=step, description=label, tooltip=tooltip,
                               style={"description_width": LABEL_WIDTH}, layout=widgets.Layout(width="420px"))


class SliderPanel(widgets.VBox):
    """The controls beside their picture; shown as a static PNG of its latest state where no kernel runs.

    JupyterLab with a live kernel renders the widgets; GitHub, nbviewer and other viewers
    of a saved notebook fall back to the picture (``image/png``) and a line of text,
    instead of the raw ``VBox(children=...)`` text a plain widget leaves there.
    """

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = super()._repr_mimebundle_(**kwargs) or {}
        if isinstance(bundle, tuple):
            bundle = bundle[0]
        values = ", ".join(f"{c.description} = {c.value}" for c in self.controls.values())
        bundle["text/plain"] = f"Slider panel (open the notebook with a running kernel to move it); shown at {values}"
        if self.image.value:
            bundle["image/png"] = base64.b64encode(self.image.value).decode()
        return bundle


def slider_panel(controls: dict[str, widgets.ValueWidget],
                 draw: Callable[[dict[str, Any]], tuple[plt.Figure, Any]]) -> SliderPanel:
    """Box of ``controls`` beside a picture that ``draw(values) -> (figure, result)`` makes.

    Moving a control redraws. The box gets ``.update(**values)``, which sets controls by
    name, redraws once and returns ``result``, ``.image``, the picture's widget, and
    ``.controls``.
    """
    # An Image widget holding PNG bytes, not an Output widget: Output capture can stall
    # headless execution (papermill, nbval), and bytes are easy to test.
    image = widgets.Image(format="png")
    quiet = [False]  # set while update() moves controls, so each move does not redraw

    def update(**values: Any) -> Any:
        unknown = sorted(set(values) - set(controls))
        if unknown:
            raise ValueError(f"unknown control(s) {unknown}; known: {sorted(controls)}")
        quiet[0] = True
        try:
            for name, value in values.items():
                controls[name].value = value
        finally:
            quiet[0] = False
        fig, result = draw({name: c.value for name, c in controls.items()})
        image.value = figure_png(fig)
        return result

    for control in controls.values():
        control.observe(lambda _change: None if quiet[0] else update(), names="value")
    box = SliderPanel([widgets.HBox([widgets.VBox(list(controls.values())), image])])
    box.update, box.image, box.controls = update, image, controls
    update()
    return box

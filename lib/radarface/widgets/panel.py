"""The one slider-panel mechanism that every widget in this package uses."""

from __future__ import annotations

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


def slider_panel(controls: dict[str, widgets.ValueWidget],
                 draw: Callable[[dict[str, Any]], tuple[plt.Figure, Any]]) -> widgets.VBox:
    """Box of ``controls`` beside a picture that ``draw(values) -> (figure, result)`` makes.

    Moving a control redraws. The box gets ``.update(**values)``, which sets controls by
    name, redraws once and returns ``result``, and ``.image``, the picture's widget.
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
    box = widgets.VBox([widgets.HBox([widgets.VBox(list(controls.values())), image])])
    box.update, box.image = update, image
    update()
    return box

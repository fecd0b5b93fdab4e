"""Interactive ipywidgets panels. Each panel exposes its ``update(**values)`` function,
so it can be driven (and tested) without a browser.

Submodules: ``face`` (morphable model sliders), ``radar`` (render sliders).
"""

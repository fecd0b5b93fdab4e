"""Measured radar captures: an HDF5 file format, a loader onto the training grid, surrogate files.

- :func:`read` / :func:`write`: a measurement file (layout in :mod:`~radarface.measurements.format`
  and data/README.md) as :class:`Captures`, validated; bad input raises
  :class:`MeasurementFormatError` naming the HDF5 field.
- :func:`load`: ``read`` + :func:`conform` (module :mod:`~radarface.measurements.loader`): captures
  on the training radar's grid and image conventions (size, pitch, depth window, dynamic range),
  refused when band or geometry do not fit; :meth:`Captures.encoder_input` gives the encoder's tensor.
- raw captures (module :mod:`~radarface.measurements.raw`): channel data per transmitter, receiver
  and frequency with antenna positions, an optional empty-room measurement; :func:`load` and
  :func:`read` back-project them onto the training grid; :func:`write_raw` writes them.
- :func:`make_surrogate` / :func:`ensure_surrogate`: surrogate measurements of unseen faces by the
  exact MIMO renderer with a domain gap (material, noise, calibration errors, optional blanket).

Modules: ``format`` (layout, :class:`Captures`, read, write, checks), ``loader`` (radar
compatibility, resampling, :func:`load`), ``surrogate`` (settings, identities, expressions, files,
worker pool), ``physics`` (calibration errors, blanket, noisy exact rendering of one capture).

>>> from radarface.measurements import training_config
>>> training_config().image_size, training_config({"image_size": 32, "n_freq": 32}).pixel_mm
(64, 8.0)
"""

from radarface.measurements.format import (FORMAT_NAME, FORMAT_VERSIONS, Captures, MeasurementFormatError, read,
                                           write)
from radarface.measurements.raw import RawCaptures, reconstruct_volume, write_raw
from radarface.measurements.loader import Tolerances, conform, load, training_config, training_range_window
from radarface.measurements.surrogate import (EXPRESSION_LABELS, SurrogateSettings, default_surrogate_path,
                                              ensure_surrogate, expression_vectors, identities, make_surrogate,
                                              make_surrogate_raw,
                                              surrogate_settings)

__all__ = ["Captures", "MeasurementFormatError", "Tolerances", "SurrogateSettings", "FORMAT_NAME",
           "FORMAT_VERSIONS", "EXPRESSION_LABELS", "read", "write", "load", "conform", "training_config",
           "training_range_window", "RawCaptures", "reconstruct_volume", "write_raw", "make_surrogate", "make_surrogate_raw", "ensure_surrogate", "default_surrogate_path",
           "surrogate_settings", "identities", "expression_vectors"]

"""Measured radar captures: an HDF5 file format, a loader onto the training grid, surrogate files.

- :func:`read` / :func:`write`: a measurement file (layout and accepted values: the table of
  :mod:`~radarface.measurements.schema`; data/README.md in prose) as :class:`Captures`, validated;
  bad input raises :class:`MeasurementFormatError` naming the file, the HDF5 field, the value and
  what is accepted.
- :func:`load`: ``read`` + :func:`conform` (module :mod:`~radarface.measurements.loader`): captures
  on the training radar's grid and image conventions (size, pitch, depth window, dynamic range),
  refused when band or geometry do not fit; :meth:`Captures.encoder_input` gives the encoder's tensor.
- raw captures (module :mod:`~radarface.measurements.raw`): channel data per transmitter, receiver
  and frequency with antenna positions, an optional empty-room measurement; :func:`load` and
  :func:`read` back-project them onto the training grid; :func:`write_raw` writes them.
- :func:`make_surrogate` / :func:`ensure_surrogate`: surrogate measurements of unseen faces by the
  exact MIMO renderer with a domain gap (material, noise, calibration errors, optional blanket).

Modules, each importing only those above it: ``captures`` (:class:`Captures`, the error),
``volume`` (images from a stored complex volume), ``schema`` (the layout as one table of fields),
``checks`` (the generic checks of that table, rules across fields,
:func:`~radarface.measurements.checks.validate`), ``raw`` (channel data,
back-projection), ``files`` (HDF5 reading and writing), ``loader`` (radar compatibility,
resampling, :func:`load`), ``settings`` (:class:`SurrogateSettings`), ``physics`` (calibration
errors, blanket, noisy exact rendering of one capture), ``surrogate`` (identities, expressions,
files, worker pool), ``evaluate`` (the trained networks on captures, notebook 07).

>>> from radarface.measurements import training_config
>>> training_config().image_size, training_config({"image_size": 32, "pixel_mm": 8.0}).pixel_mm
(64, 8.0)
"""

from radarface.measurements.captures import Captures, MeasurementFormatError, evenly_spaced
from radarface.measurements.files import read, write, write_raw
from radarface.measurements.loader import Tolerances, conform, load, training_config, training_range_window
from radarface.measurements.raw import RawCaptures, reconstruct_volume
from radarface.measurements.schema import FIELDS, FORMAT_NAME, FORMAT_VERSIONS
from radarface.measurements.settings import EXPRESSION_LABELS, SurrogateSettings
from radarface.measurements.surrogate import (default_surrogate_path, ensure_surrogate, expression_vectors, identities,
                                              make_surrogate, make_surrogate_raw)

__all__ = ["Captures", "MeasurementFormatError", "evenly_spaced", "Tolerances", "SurrogateSettings", "FORMAT_NAME",
           "FORMAT_VERSIONS", "FIELDS", "EXPRESSION_LABELS", "read", "write", "load", "conform", "training_config",
           "training_range_window", "RawCaptures", "reconstruct_volume", "write_raw", "make_surrogate",
           "make_surrogate_raw", "ensure_surrogate", "default_surrogate_path", "identities",
           "expression_vectors"]

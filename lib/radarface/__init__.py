"""radarface: 3D face reconstruction from radar images, a reproducible companion.

Modules: ``facemodel`` (morphable face models), ``geometry`` (pose), ``radar``
(physics-based renderers), ``dataset`` (synthetic HDF5 datasets), ``profiles``
(run sizes), ``paths`` (where data, figures and runs live), ``run`` (batch runner).
"""

__version__ = "0.1.0"

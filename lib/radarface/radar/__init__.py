"""Physics-based radar renderers for faces (DESIGN §5): a fast one for datasets, an exact one for validation.

- :mod:`~radarface.radar.config`: :class:`RadarConfig` (system, geometry, grid, scattering model)
- :mod:`~radarface.radar.array`: MIMO antennas on the aperture's edges, virtual elements, subsets
- :mod:`~radarface.radar.scatter`: mesh → point scatterers (physical optics, shadowing, material)
- :mod:`~radarface.radar.fast`: type-1 NUFFT, k-space support mask, type-2 NUFFT
- :mod:`~radarface.radar.reference`: exact MIMO signal synthesis and back-projection
- :mod:`~radarface.radar.image`: voxel grid, amplitude and depth images
- :mod:`~radarface.radar.params`: rendering parameters (dynamic range, material, aperture, SNR)
- :mod:`~radarface.radar.analysis`: point-spread functions, plates, renderer agreement

>>> from radarface.radar import RadarConfig, render_points
>>> image = render_points([[0.0, 0.0, 90.0]], None, RadarConfig(image_size=16, pixel_mm=4.0, n_freq=16))
>>> image.amplitude.shape, float(image.amplitude.max())
((16, 16), 1.0)
"""

from radarface.radar.array import (antenna_positions, array_center, select_antennas,
                                   virtual_elements)
from radarface.radar.config import C_MM_PER_S, RadarConfig
from radarface.radar.image import ImageGrid, RadarImage, depth_to_mm, form_image
from radarface.radar.presets import array_preset, qar50_positions
from radarface.radar.params import (RENDER_PARAM_NAMES, default_render_params, render_param_ranges,
                                    render_params_from_vector, render_params_to_vector, sample_render_params,
                                    vector_to_render_params)
from radarface.radar.pipeline import antennas, image_from_scene, render, render_points, render_reference
from radarface.radar.scatter import Scene, point_scene, surface_scene

#: Bumped whenever the renderers' output changes, so datasets made by an older renderer
#: are not silently reused (the dataset settings and file names include it).
RENDERER_VERSION = 1

__all__ = ["RENDERER_VERSION",
    "C_MM_PER_S", "RENDER_PARAM_NAMES", "ImageGrid", "RadarConfig", "RadarImage", "Scene", "antenna_positions",
    "antennas", "array_center", "array_preset", "qar50_positions", "default_render_params", "depth_to_mm", "form_image", "image_from_scene",
    "point_scene", "render", "render_param_ranges", "render_params_from_vector", "render_params_to_vector",
    "render_points", "render_reference", "sample_render_params", "select_antennas", "surface_scene",
    "vector_to_render_params", "virtual_elements",
]

"""What sample ``index`` of a dataset is: its parameters and its images, reproducible alone.

Sample ``index`` of a dataset with seed ``seed`` draws everything from
``SeedSequence([seed, index])``, split into two independent streams: one for its
parameters (shape and expression ~ N(0, 1); pose uniform within
:func:`radarface.geometry.pose_limits`; rendering parameters from
:func:`radarface.radar.sample_render_params`), one for the renderer's own randomness
(diffuse phases, noise). So any sample can be regenerated without the others, and the
order or process in which samples are rendered does not change a single byte.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from radarface import radar
from radarface.facemodel import MorphableModel, load_model
from radarface.geometry import pose_limits


def sample_streams(seed: int, index: int) -> tuple[np.random.Generator, np.random.Generator]:
    """(parameter rng, renderer rng) of sample ``index`` of a dataset seeded ``seed``."""
    if seed < 0 or index < 0:
        raise ValueError(f"seed and index must be >= 0, got seed={seed}, index={index}")
    params, render = np.random.SeedSequence([int(seed), int(index)]).spawn(2)
    return np.random.default_rng(params), np.random.default_rng(render)


def sample_parameters(seed: int, index: int, model: MorphableModel,
                      config: radar.RadarConfig | None = None) -> dict[str, np.ndarray]:
    """Parameters of sample ``index``: ``shape`` (Ks,), ``expression`` (Ke,) in std units,
    ``pose`` (6,) (yaw, pitch, roll rad; tx, ty, tz mm), ``render`` (R,) in
    :data:`radarface.radar.RENDER_PARAM_NAMES` order; all float64.

    ``config`` sets the aperture range (:func:`radarface.radar.render_param_ranges`; the same
    for every config of the default 200 mm aperture).
    """
    rng, _ = sample_streams(seed, index)
    shape = rng.standard_normal(model.n_shape)
    expression = rng.standard_normal(model.n_expression)
    pose = rng.uniform(-1.0, 1.0, 6) * pose_limits()
    render = np.asarray(radar.render_params_to_vector(radar.sample_render_params(rng, config)), dtype=np.float64)
    return {"shape": shape, "expression": expression, "pose": pose, "render": render}


def render_sample(params: dict[str, Any], model: MorphableModel, config: radar.RadarConfig, *,
                  seed: int, index: int, nthreads: int = 1) -> radar.RadarImage:
    """Render the face of ``params`` (see :func:`sample_parameters`) as sample ``index`` would be.

    Uses the fast renderer with the sample's own renderer stream, so
    ``render_sample(sample_parameters(s, i, m), m, c, seed=s, index=i)`` reproduces the
    stored images of sample ``i``. Returns the :class:`radarface.radar.RadarImage`.
    """
    _, rng = sample_streams(seed, index)
    vertices = model.vertices(params["shape"], params["expression"])
    render_params = radar.render_params_from_vector(np.asarray(params["render"], dtype=np.float64))
    return radar.render(vertices, model.triangles, config, pose=np.asarray(params["pose"], dtype=np.float64),
                        render_params=render_params, rng=rng, nthreads=nthreads)


class SampleRenderer:
    """A worker's sample source: parameters and images of sample ``index`` as a dict of arrays.

    Picklable; the face model is passed as an object or a source string (then loaded once
    per worker in :meth:`setup` and checked against ``model_hash``).
    """

    def __init__(self, model: MorphableModel | str, config: radar.RadarConfig, seed: int, dtype: str, *,
                 n_shape: int = 10, n_expression: int = 7, model_hash: str | None = None):
        self.model, self.config_dict, self.seed, self.dtype = model, config.to_dict(), int(seed), dtype
        self.n_shape, self.n_expression, self.model_hash = n_shape, n_expression, model_hash
        self._config: radar.RadarConfig | None = None

    def setup(self) -> None:
        """Load the face model (if given by name) and rebuild the radar config."""
        if not isinstance(self.model, MorphableModel):
            self.model = load_model(self.model, self.n_shape, self.n_expression)
        if self.model_hash is not None and self.model.content_hash() != self.model_hash:
            raise ValueError(f"face model {self.model.name!r} loaded in a worker has hash "
                             f"{self.model.content_hash()[:12]}, expected {self.model_hash[:12]}")
        self._config = radar.RadarConfig.from_dict(self.config_dict)

    def __call__(self, index: int) -> dict[str, np.ndarray]:
        if self._config is None:
            self.setup()
        params = sample_parameters(self.seed, index, self.model, self._config)
        image = render_sample(params, self.model, self._config, seed=self.seed, index=index)
        return {"amplitude": np.asarray(image.amplitude, dtype=self.dtype),
                "depth": np.asarray(image.depth, dtype=self.dtype), **params}

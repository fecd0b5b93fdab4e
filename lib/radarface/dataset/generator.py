"""Generate a synthetic radar face dataset into HDF5: all cores, resumable, shardable."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import radarface
from radarface import radar
from radarface.dataset import schema, writer
from radarface.dataset.sampling import SampleRenderer
from radarface.dataset.settings import DTYPES, DatasetSettings
from radarface.dataset.store import Fields
from radarface.facemodel import MorphableModel, load_model
from radarface.geometry import pose_limits
from radarface.paths import data_dir


def parse_shard(spec: str | tuple[int, int] | None) -> tuple[int, int] | None:
    """``"K/M"`` or ``(K, M)`` (K counts from 1) as a checked tuple, or None.

    >>> parse_shard("2/4")
    (2, 4)
    """
    if spec is None:
        return None
    if isinstance(spec, str):
        k, sep, m = spec.partition("/")
        if not sep or not k.strip().isdigit() or not m.strip().isdigit():
            raise ValueError(f"shard must look like K/M (the K-th of M parts, K from 1), got {spec!r}")
        spec = (int(k), int(m))
    k, m = map(int, spec)
    if not 1 <= k <= m:
        raise ValueError(f"shard K/M needs 1 <= K <= M (K counts from 1), got {k}/{m}")
    return k, m


def shard_range(n: int, shard: tuple[int, int] | None) -> tuple[int, int]:
    """Sample indices ``[start, stop)`` of the K-th of M near-equal parts of ``n``.

    >>> [shard_range(10, (k, 3)) for k in (1, 2, 3)]
    [(0, 3), (3, 6), (6, 10)]
    """
    if shard is None:
        return 0, n
    k, m = shard
    return (k - 1) * n // m, k * n // m


def shard_path(path: str | Path, shard: tuple[int, int] | None) -> Path:
    """``data/x.h5`` -> ``data/x.shard2of4.h5`` (unchanged without a shard)."""
    path = Path(path)
    return path if shard is None else path.with_name(f"{path.stem}.shard{shard[0]}of{shard[1]}{path.suffix}")


def _fields(config: radar.RadarConfig, model: MorphableModel, dtype: str) -> Fields:
    size = (int(config.image_size), int(config.image_size))
    return {"amplitude": (size, dtype), "depth": (size, dtype),
            "shape": ((model.n_shape,), "float64"), "expression": ((model.n_expression,), "float64"),
            "pose": ((6,), "float64"), "render": ((len(radar.RENDER_PARAM_NAMES),), "float64")}


def dataset_settings(config: radar.RadarConfig, model: MorphableModel, seed: int, n: int, dtype: str,
                     index_range: tuple[int, int] | None = None) -> dict[str, Any]:
    """Everything that fixes a dataset's content, as stored in its ``settings`` attribute."""
    start, stop = index_range or (0, n)
    return {"schema_version": schema.SCHEMA_VERSION, "radarface_version": radarface.__version__,
            # bumped by the renderer when its output changes, so stale files are not reused
            "renderer_version": getattr(radar, "RENDERER_VERSION", None), "config": config.to_dict(),
            "model_name": model.name, "model_hash": model.content_hash(),
            "n_shape": model.n_shape, "n_expression": model.n_expression,
            "render_param_names": list(radar.RENDER_PARAM_NAMES),
            "seed": int(seed), "n": int(n), "dtype": dtype, "index_start": int(start), "index_stop": int(stop)}


def generate(path: str | Path, n: int, config: radar.RadarConfig, seed: int = 0, workers: int = 0, *,
             model: MorphableModel | str = "builtin", n_shape: int = 10, n_expression: int = 7,
             shard: str | tuple[int, int] | None = None, dtype: str = "float32", progress: bool = True,
             block_size: int | None = None) -> Path:
    """Render ``n`` random faces into the HDF5 file ``path`` (or finish / reuse it); returns its path.

    Args:
        path: output file; with ``shard`` the K-th part goes to ``<stem>.shardKofM.h5``.
        n: number of samples of the whole dataset (all shards).
        config: radar settings (image size, band, ...).
        seed: dataset seed; sample i uses streams derived from (seed, i).
        workers: renderer processes; 0 = all cores, 1 = in this process.
        model: a :class:`MorphableModel` or a ``load_model`` source (then ``n_shape``,
            ``n_expression`` apply).
        shard: ``"K/M"`` or ``(K, M)``: only the K-th of M index ranges (K from 1).
        dtype: image dtype in the file, ``"float16"`` or ``"float32"``.
        progress: show a progress bar (samples/s, time left) on stderr.
        block_size: samples per work unit (default: up to 8); at most this many samples per
            worker are lost when the run is killed.

    A rerun after a crash or Ctrl-C continues where it stopped and yields the same arrays;
    a file or journal made with other settings is refused with the differing setting named.
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a whole number >= 0 (numpy's seed sequences take no negative entropy), "
                         f"got {seed!r}")
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    if not isinstance(config, radar.RadarConfig):
        raise ValueError(f"config must be a radarface.radar.RadarConfig, got {type(config).__name__}")
    shard = parse_shard(shard)
    if not isinstance(model, MorphableModel):
        model = load_model(model, n_shape, n_expression)
    index_range = shard_range(n, shard)
    if index_range[0] == index_range[1]:
        raise ValueError(f"shard {shard[0]}/{shard[1]} of n={n} samples is empty; use fewer shards")
    settings = dataset_settings(config, model, seed, n, dtype, index_range)
    extra = {"model_source": model.source, "pose_limits": pose_limits(),
             "render_param_ranges": {k: list(v) for k, v in radar.render_param_ranges(config).items()},
             "split_seed": int(seed), "split_fractions": list(schema.SPLIT_FRACTIONS)}
    source = SampleRenderer(model, config, seed, dtype)
    return writer.write_dataset(shard_path(path, shard), _fields(config, model, dtype), settings, extra, source,
                                workers=workers, progress=progress, block_size=block_size)


def default_path(settings: DatasetSettings, model: MorphableModel | None = None) -> Path:
    """``data_dir()/synthetic_<profile>_<hash8>.h5``: the hash covers everything that fixes the content.

    ``model``: the settings' face model when already loaded (default: loaded here).
    """
    model = model or settings.face_model()
    content = dataset_settings(settings.radar_config(), model, settings.seed, settings.n_samples, settings.dtype)
    content.pop("radarface_version")  # a new release reuses the files while RENDERER_VERSION stands
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:8]
    return data_dir() / f"synthetic_{settings.profile}_{digest}.h5"


def ensure(settings: DatasetSettings, *, progress: bool = True) -> Path:
    """Path of the dataset of ``settings``: reused if complete, else generated or finished."""
    model = settings.face_model()
    return generate(default_path(settings, model), settings.n_samples, settings.radar_config(), settings.seed,
                    settings.workers, model=model, dtype=settings.dtype, progress=progress)

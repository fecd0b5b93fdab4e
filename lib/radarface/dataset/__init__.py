"""Synthetic radar face datasets in HDF5 (DESIGN §6): generation, storage, torch access.

- :func:`generate` renders ``n`` random faces with the fast renderer into one HDF5 file,
  on all cores, resumable after any crash, optionally as the K-th of M shards;
  :func:`combine` joins shards without copying; :func:`ensure` gives the dataset of a
  :class:`DatasetSettings` (built from a profile by ``DatasetSettings.from_profile``),
  generating it only if needed. Command line: ``python -m radarface.dataset --help``.
- :func:`sample_parameters` / :func:`render_sample`: sample ``i`` of a dataset, alone.
- :class:`RadarFaceDataset`: a torch ``Dataset`` of (image, normalised target) with a
  fixed train/val/test split; :class:`TargetNormaliser` maps targets back to parameters.

Modules: ``settings`` (:class:`DatasetSettings`), ``sampling`` (per-sample draws and
rendering), ``generator`` (the public entry points), ``writer`` (worker pool, progress, resume), ``store`` (crash-safe journal and
HDF5 assembly), ``schema`` (file layout and checks), ``combine``, ``normalise``,
``torch_dataset``. Reading needs neither the renderer nor finufft: the generating
names are imported on first use.
"""

from __future__ import annotations

from typing import Any

from radarface.dataset.combine import combine
from radarface.dataset.normalise import TargetNormaliser
from radarface.dataset.schema import generation_stats, open_dataset_file
from radarface.dataset.torch_dataset import RadarFaceDataset, split_of

__all__ = ["generate", "ensure", "default_path", "DatasetSettings", "combine", "sample_parameters", "render_sample",
           "RadarFaceDataset", "TargetNormaliser", "generation_stats", "open_dataset_file", "split_of"]

_LAZY = {"generate": "generator", "ensure": "generator", "default_path": "generator", "DatasetSettings": "settings",
         "sample_parameters": "sampling", "render_sample": "sampling", "sample_streams": "sampling"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"radarface.dataset.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'radarface.dataset' has no attribute {name!r}")

"""A torch ``Dataset`` over a radar face HDF5 file: images in, normalised parameters out."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from radarface.dataset import schema
from radarface.dataset.normalise import TargetNormaliser

INPUTS: dict[str, tuple[str, ...]] = {"amplitude": ("amplitude",), "depth": ("depth",),
                                      "both": ("amplitude", "depth")}
SPLITS: tuple[str, ...] = ("train", "val", "test")
#: Image bytes up to which a split is read into memory on opening (``in_memory=None``).
IN_MEMORY_LIMIT: int = 4 << 30
_SPLIT_STREAM = 0x5B11  # keeps the split permutation independent of the samples' own streams


def split_of(n: int, seed: int, fractions: tuple[float, float, float] = schema.SPLIT_FRACTIONS) -> np.ndarray:
    """(n,) int8 split label per global sample index: 0 train, 1 val, 2 test (seeded permutation).

    >>> np.bincount(split_of(100, 0)).tolist()
    [80, 10, 10]
    """
    counts = np.floor(np.asarray(fractions[:2]) * n + 0.5).astype(int)
    order = np.random.default_rng(np.random.SeedSequence([seed, _SPLIT_STREAM])).permutation(n)
    labels = np.full(n, 2, dtype=np.int8)
    labels[order[:counts[0]]] = 0
    labels[order[counts[0]:counts[0] + counts[1]]] = 1
    return labels


def normaliser_from_file(h5: h5py.File, *, include_render: bool = True) -> TargetNormaliser:
    """The target normaliser of an open dataset file (its own sampling ranges)."""
    names = tuple(json.loads(h5.attrs["render_param_names"]))
    ranges = json.loads(h5.attrs["render_param_ranges"])
    return TargetNormaliser(h5["shape"].shape[1], h5["expression"].shape[1], np.asarray(h5.attrs["pose_limits"]),
                            names, {name: tuple(ranges[name]) for name in names}, include_render=include_render)


#: Largest |coefficient| (standard deviations) a stored face may have; N(0, 1) draws stay far inside.
COEFFICIENT_LIMIT: float = 10.0


def _parameter_bounds(h5: h5py.File) -> dict[str, tuple[np.ndarray | float, np.ndarray | float]]:
    """Per parameter field, (low, high) that every stored value must respect (the file's sampling ranges)."""
    pose = np.asarray(h5.attrs["pose_limits"], dtype=float) * 1.001
    ranges = json.loads(h5.attrs["render_param_ranges"])
    names = json.loads(h5.attrs["render_param_names"])
    low = np.array([ranges[n][0] for n in names], dtype=float)
    high = np.array([ranges[n][1] for n in names], dtype=float)
    span = (high - low) * 1e-3
    return {"shape": (-COEFFICIENT_LIMIT, COEFFICIENT_LIMIT), "expression": (-COEFFICIENT_LIMIT, COEFFICIENT_LIMIT),
            "pose": (-pose, pose), "render": (low - span, high + span)}


class RadarFaceDataset(Dataset):
    """Radar images (C, H, W) float32 and normalised targets (D,) float32 from a dataset file.

    Args:
        path: an HDF5 file written by :func:`radarface.dataset.generate` (or ``combine``).
        inputs: ``"amplitude"``, ``"depth"`` (C = 1) or ``"both"`` (C = 2, amplitude first).
        split: ``"train"`` / ``"val"`` / ``"test"`` (80/10/10, a permutation seeded by the
            file's seed, so fixed per dataset), or None for every sample.
        allow_incomplete: read the finished samples of an unfinished file instead of refusing.
        include_render: append the rendering parameters to the targets.
        in_memory: read the split's images into memory on opening (fast epochs); None
            decides by size (up to :data:`IN_MEMORY_LIMIT` bytes).

    Targets: see :class:`~radarface.dataset.normalise.TargetNormaliser`
    (:attr:`target_names`, :attr:`slices`, :meth:`denormalise`).
    """

    def __init__(self, path: str | Path, inputs: str = "both", split: str | None = None, *,
                 allow_incomplete: bool = False, include_render: bool = True, in_memory: bool | None = None):
        if inputs not in INPUTS:
            raise ValueError(f"inputs must be one of {sorted(INPUTS)}, got {inputs!r}")
        if split is not None and split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS} or None, got {split!r}")
        self.path, self.inputs, self.split = Path(path), inputs, split
        self.fields = INPUTS[inputs]
        with schema.open_dataset_file(self.path, allow_incomplete=allow_incomplete) as h5:
            self.settings: dict[str, Any] = schema.read_settings(h5)
            self.complete = bool(h5.attrs["complete"])
            self.config: dict[str, Any] = self.settings["config"]
            self.normaliser = normaliser_from_file(h5, include_render=include_render)
            self.image_shape: tuple[int, int] = tuple(h5["amplitude"].shape[1:])
            start = int(self.settings["index_start"])
            done = self._read(h5, "done", slice(None))
            labels = split_of(int(self.settings["n"]), int(h5.attrs["split_seed"]),
                              tuple(json.loads(h5.attrs["split_fractions"])))[start:start + len(done)]
            keep = done if split is None else done & (labels == SPLITS.index(split))
            #: rows of the file in this dataset, ascending
            self.rows = np.flatnonzero(keep)
            self._params = {name: self._read(h5, name, slice(None))[self.rows] for name in schema.PARAM_FIELDS}
            for name, (low, high) in _parameter_bounds(h5).items():
                self._check_values(name, self._params[name], low, high)
            nbytes = len(self.rows) * len(self.fields) * int(np.prod(self.image_shape)) * h5["amplitude"].dtype.itemsize
            self._images = None
            if in_memory or (in_memory is None and nbytes <= IN_MEMORY_LIMIT):
                # read whole datasets and select in numpy: h5py fancy indexing is slow
                self._images = np.stack([self._read(h5, name, slice(None))[self.rows] for name in self.fields], 1)
                for c, name in enumerate(self.fields):
                    self._check_values(name, self._images[:, c], 0.0, 1.0)
        self._targets = torch.from_numpy(self.normaliser.normalise(self._params))
        self._h5: h5py.File | None = None
        self._h5_pid: int | None = None

    # ------------------------------------------------------------ reading
    def _read(self, h5: h5py.File, name: str, rows: slice | int) -> np.ndarray:
        try:
            return h5[name][rows]
        except (OSError, KeyError) as err:
            raise ValueError(f"{self.path}: cannot read dataset {name!r} (corrupt or truncated file): {err}") from None

    def _check_values(self, name: str, values: np.ndarray, low: float, high: float, rows: np.ndarray | None = None
                      ) -> None:
        """Refuse NaN, infinite or out-of-range ``values`` (first axis: samples), naming the first bad sample."""
        values = np.asarray(values)
        bad = ~np.isfinite(values) | (values < low) | (values > high)
        if bad.any():
            where = np.argwhere(bad)[0]
            sample = int((self.rows if rows is None else rows)[where[0]])
            lo, hi = (float(np.broadcast_to(bound, values.shape)[tuple(where)]) for bound in (low, high))
            raise ValueError(f"{self.path}: {name!r} of sample {sample} is {values[tuple(where)]!r}, outside "
                             f"[{lo:g}, {hi:g}]; the file is damaged or was not written by this library. "
                             f"Delete it and generate it again (python -m radarface.dataset generate ...)")

    def _file(self) -> h5py.File:
        # h5py handles do not survive fork: each DataLoader worker opens its own
        if self._h5 is None or self._h5_pid != os.getpid():
            self._h5, self._h5_pid = h5py.File(self.path, "r"), os.getpid()
        return self._h5

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_h5"] = state["_h5_pid"] = None
        return state

    def __len__(self) -> int:
        return len(self.rows)

    def image(self, i: int) -> np.ndarray:
        """Stored image(s) (C, H, W) of item ``i`` in the file's dtype."""
        if self._images is not None:
            return self._images[i]
        row = int(self.rows[i])
        image = np.stack([self._read(self._file(), name, row) for name in self.fields])
        for c, name in enumerate(self.fields):
            self._check_values(name, image[c][None], 0.0, 1.0, rows=np.array([row]))
        return image

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} samples")
        return torch.from_numpy(np.asarray(self.image(i), dtype=np.float32)), self._targets[i]

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All images (N, C, H, W) and targets (N, D), float32, for loops that slice batches directly."""
        if self._images is None:
            images = np.stack([self.image(i) for i in range(len(self))])
        else:
            images = self._images
        return torch.from_numpy(np.asarray(images, dtype=np.float32)), self._targets.clone()

    # ------------------------------------------------------- parameters
    @property
    def channels(self) -> int:
        """Image channels C (1 or 2)."""
        return len(self.fields)

    @property
    def target_names(self) -> list[str]:
        """One name per target column."""
        return self.normaliser.names

    @property
    def slices(self) -> dict[str, slice]:
        """Columns of each parameter group (shape, expression, pose, render) in the targets."""
        return self.normaliser.slices

    def normalise(self, params: dict[str, Any]) -> np.ndarray:
        """Target vector(s) from parameters (see :class:`TargetNormaliser`)."""
        return self.normaliser.normalise(params)

    def denormalise(self, target: np.ndarray | torch.Tensor) -> dict[str, Any]:
        """Parameters (shape, expression, pose rad/mm, render) from target(s) (D,) or (B, D)."""
        return self.normaliser.denormalise(target)

    def parameters(self, i: int | None = None) -> dict[str, np.ndarray]:
        """Stored parameters (float64) of item ``i``, or of all items (N, K) when None."""
        if i is None:
            return {name: value.copy() for name, value in self._params.items()}
        return {name: value[i].copy() for name, value in self._params.items()}

    def sample_index(self, i: int) -> int:
        """Global sample index of item ``i`` (what its random streams are seeded with)."""
        return int(self.settings["index_start"]) + int(self.rows[i])

    def __repr__(self) -> str:
        return (f"RadarFaceDataset({str(self.path)!r}, inputs={self.inputs!r}, split={self.split!r}): "
                f"{len(self)} samples, images {self.channels}x{self.image_shape[0]}x{self.image_shape[1]}, "
                f"targets {self.normaliser.dim}")

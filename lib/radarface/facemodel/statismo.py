"""Writing a :class:`~radarface.facemodel.model.MorphableModel` in the BFM 2019 (statismo 0.9) HDF5 layout.

The layout is described in :mod:`radarface.facemodel.bfm`, which reads it. The writer lives
apart from the reader so that ``MorphableModel.save_h5`` can use it without the model
module and the reader importing each other.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import h5py
import numpy as np

from .pca import orthonormal_columns

if TYPE_CHECKING:  # for the annotation only: the model module imports this one
    from .model import MorphableModel


def write_bfm(model: MorphableModel, path: str | Path) -> Path:
    """Save ``model`` as a BFM 2019 (statismo 0.9) HDF5 file; returns the path.

    ``/shape/model/mean`` is the mean without the expression part, ``/expression/model/mean``
    the expression part (zeros if the model has none). Landmarks go to
    ``/metadata/landmarks/json`` in the statismo list form ``{"id", "coordinates"}`` plus
    the exact vertex ``"index"``; the face mask to ``/radarface/face_mask``.
    """
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    shape_mean = model.mean - model.expression_mean
    with h5py.File(path, "w") as f:
        for part, mean, basis in (("shape", shape_mean, model.shape_basis),
                                  ("expression", model.expression_mean, model.expression_basis)):
            directions, variance = orthonormal_columns(basis)
            g = f.create_group(part)
            g["model/mean"] = mean.reshape(-1).astype(np.float32)
            g["model/pcaBasis"] = directions.astype(np.float32)
            g["model/pcaVariance"] = variance.astype(np.float32)
            g["model/noiseVariance"] = np.zeros(1, dtype=np.float32)
            rep = g.create_group("representer")
            rep.attrs["name"] = "itkStandardMeshRepresenter"
            rep.attrs["datasetType"] = "POLYGON_MESH"
            rep["points"] = shape_mean.T.astype(np.float32)
            rep["cells"] = model.triangles.T.astype(np.int32)
        f["version/majorVersion"] = np.int32(0)
        f["version/minorVersion"] = np.int32(9)
        landmarks = [{"id": name, "coordinates": shape_mean[i].tolist(), "index": i}
                     for name, i in (model.landmarks or {}).items()]
        f["metadata/landmarks/json"] = json.dumps(landmarks)
        f["radarface/face_mask"] = model.face_mask.astype(np.uint8)
        f["radarface"].attrs.update(name=model.name, source=model.source,
                                    content_hash=model.content_hash())
    return path

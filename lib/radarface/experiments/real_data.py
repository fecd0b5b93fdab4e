"""The trained networks on measured captures (notebook 07): predictions, vertex distances, identity, domain gap.

Measured captures carry no rendering parameters, so the decoder's rendering inputs are set to
the training distribution's mean (normalised zeros) for every capture; material and SNR of a
real measurement are unknown, which is part of the domain gap this module measures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from radarface import metrics
from radarface.experiments.evaluation import predict_methods
from radarface.experiments.fitting import TrainedNetworks, encoder_data, finetune_augmented
from radarface.experiments.settings import GapSettings, RefinementSettings
from radarface.facemodel import MorphableModel
from radarface.losses import image_loss
from radarface.measurements.captures import Captures
from radarface.models.decoder import depth_channels
from radarface.train import predict


@dataclass
class CapturePredictions:
    """Predictions of every method for a set of captures (see :func:`predict_captures`)."""

    inputs: str
    normalised: dict[str, np.ndarray]  # method -> (N, D) normalised vectors
    params: dict[str, dict[str, np.ndarray]]  # method -> shape, expression (std units), pose (rad, mm)
    reconstructions: dict[str, np.ndarray]  # method -> decoder images (N, C, H, W) of its parameters
    seconds: dict[str, float]


def predict_captures(settings: RefinementSettings, inputs: str, captures: Captures, nets: TrainedNetworks, *,
                     chunk: int = 64) -> CapturePredictions:
    """Every method of :data:`~radarface.experiments.evaluation.METHODS` with ``nets``
    (:func:`~radarface.experiments.fitting.trained_networks`) on ``captures``; test-time settings ``settings``."""
    images = captures.encoder_input(inputs)
    ae, test = nets.autoencoder, nets.data["test"]
    n_enc = ae.n_encoded or ae.n_params
    given = torch.zeros(len(images), test.normaliser.dim - n_enc)
    normalised, _, seconds = predict_methods(settings, inputs, nets, images, given)
    params = {name: test.denormalise(vectors) for name, vectors in normalised.items()}
    with torch.no_grad():
        recon = {name: torch.cat([ae.renderer(torch.as_tensor(v[i:i + chunk], dtype=torch.float32))
                                  for i in range(0, len(v), chunk)]).numpy() for name, v in normalised.items()}
    return CapturePredictions(inputs, normalised, params, recon, seconds)


def capture_vertex_distances(face: MorphableModel, captures: Captures, params: dict[str, dict[str, np.ndarray]]
                             ) -> dict[str, np.ndarray]:
    """Mean face-region vertex distance (N,) in mm per capture to the ground truth, per method and the mean face."""
    captures.require_model(face)
    truth = captures.ground_truth_params
    zeros = {"shape": np.zeros_like(truth["shape"]), "expression": np.zeros_like(truth["expression"])}
    out = {"mean face": metrics.vertex_errors(face, truth, zeros)[:, face.face_mask].mean(1)}
    for name, pred in params.items():
        out[name] = metrics.vertex_errors(face, truth, pred)[:, face.face_mask].mean(1)
    return out


def identity_analysis(shapes: np.ndarray, subjects: np.ndarray, *, centre: bool = True) -> dict[str, Any]:
    """Cosine similarity of shape vectors (N, Ks) within vs between ``subjects`` (N,) and the nearest-neighbour identification rate.

    ``centre``: subtract the mean vector over all captures first; otherwise a bias the
    predictions share (an encoder that leans to one face) makes every pair look alike.

    >>> r = identity_analysis(np.array([[1., 0], [1, .1], [-1, 0], [-1, -.1]]), np.array(["a", "a", "b", "b"]))
    >>> round(r["within"], 2), round(r["between"], 2), r["identification_rate"]
    (1.0, -1.0, 1.0)
    """
    subjects, shapes = np.asarray(subjects), np.asarray(shapes, dtype=float)
    if shapes.ndim != 2 or len(shapes) != len(subjects):
        raise ValueError(f"shapes must be (N, K) with N = {len(subjects)} labels, got {shapes.shape}")
    if len(np.unique(subjects)) < 2:
        raise ValueError("identity analysis needs captures of at least two subjects")
    sim = metrics.cosine_similarity_matrix(shapes - shapes.mean(0) if centre else shapes,
                                   shapes - shapes.mean(0) if centre else shapes)
    same = subjects[:, None] == subjects[None, :]
    off = ~np.eye(len(subjects), dtype=bool)
    others = np.where(off, sim, -np.inf)
    nearest = others.argmax(1)
    return {"matrix": sim, "within": float(sim[same & off].mean()), "between": float(sim[~same].mean()),
            "identification_rate": float((subjects[nearest] == subjects).mean()),
            "chance_rate": float(np.mean([(same[i] & off[i]).sum() / off[i].sum() for i in range(len(subjects))]))}


def image_statistics(images: np.ndarray, names: tuple[str, ...]) -> dict[str, float]:
    """Per channel of ``images`` (N, C, H, W) in [0, 1]: mean value, share of non-zero pixels, mean of the non-zero pixels."""
    out = {}
    for c, name in enumerate(names):
        x = images[:, c]
        lit = x > 0
        out[f"{name} mean"] = float(x.mean())
        out[f"{name} lit share"] = float(lit.mean())
        out[f"{name} lit mean"] = float(x[lit].mean()) if lit.any() else float("nan")
    return out


def reconstruction_errors(decoder: nn.Module, images: torch.Tensor, vectors: np.ndarray, *, inputs: str,
                          background_weight: float, chunk: int = 64) -> np.ndarray:
    """Image loss (N,) of the decoder's rendering of ``vectors`` (N, D) against ``images`` (N, C, H, W)."""
    out = []
    with torch.no_grad():
        for i in range(0, len(images), chunk):
            pred = decoder(torch.as_tensor(vectors[i:i + chunk], dtype=torch.float32))
            out.append(image_loss(pred, images[i:i + chunk], depth_channels=depth_channels(inputs),
                                  background_weight=background_weight, reduction="none"))
    return torch.cat(out).numpy()


def autoencoder_reconstruction_errors(nets: TrainedNetworks, images: torch.Tensor, *, inputs: str,
                                      background_weight: float) -> np.ndarray:
    """Image loss (N,) of the autoencoder on ``images`` (N, C, H, W), rendering inputs at the training mean for all."""
    ae = nets.autoencoder
    encoded = predict(ae.encoder, images).numpy()
    vectors = np.concatenate([encoded, np.zeros((len(images), nets.data["test"].normaliser.dim - encoded.shape[1]))], 1)
    return reconstruction_errors(ae.renderer, images, vectors, inputs=inputs, background_weight=background_weight)


def augmentation_effect(cfg: dict[str, Any], inputs: str, captures: Captures, face: MorphableModel,
                        nets: TrainedNetworks, *, progress: bool = True) -> dict[str, dict[str, float]]:
    """Does image randomisation in training close the gap? Vertex distances (mm) and identification, three encoders.

    ``encoder``: notebook 04's. ``+ control``: ``gap_epochs`` more epochs at ``gap_lr`` on the
    same images. ``+ augmented``: the same with :class:`radarface.augment.Augment` settings
    ``cfg["gap_augment"]`` (:class:`~radarface.experiments.settings.GapSettings`). Per encoder: mean vertex distance on the captures (needs their
    ground-truth parameters) and on the synthetic test split, and the captures' shape
    identification rate.
    """
    data = encoder_data(cfg, inputs)
    settings = GapSettings.from_profile(cfg)
    encoders = {"encoder": nets.encoder}
    for label, augmented in (("+ control", False), ("+ augmented", True)):
        encoders[label] = finetune_augmented(settings, nets.encoder, data, augmented=augmented,
                                             base_checkpoint=nets.encoder_checkpoint, progress=progress)[0]
    test = data["test"]
    images, true = test.tensors()
    measured = captures.encoder_input(inputs)
    truth = test.denormalise(true.numpy())
    rows = {}
    for label, encoder in encoders.items():
        synthetic = metrics.vertex_distance(face, truth, test.denormalise(predict(encoder, images).numpy()))
        on_captures = test.denormalise(predict(encoder, measured).numpy())
        row = {"synthetic_vertex_mm": synthetic,
               "identification_rate": identity_analysis(on_captures["shape"], captures.subject)["identification_rate"]}
        if captures.ground_truth_params is not None:
            row["captures_vertex_mm"] = float(capture_vertex_distances(face, captures, {label: on_captures})[label].mean())
        rows[label] = row
    return rows


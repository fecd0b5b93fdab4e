"""The paper's methods on test images, by name: encoder, autoencoder, and test-time analysis by synthesis.

Methods (rows of the results table, in order; :data:`METHODS`):

- :data:`ENCODER`: notebook 04's supervised encoder;
- :data:`AUTOENCODER`: notebook 06's autoencoder (its encoder, trained on L_img + λ·L_param);
- :data:`REFINED`: test-time refinement (a), the parameters optimised through the frozen
  learned renderer from the autoencoder's prediction (:func:`refine_a`);
- :data:`FINETUNED`: test-time refinement (b), the autoencoder's encoder fine-tuned on the
  unlabelled test images (:func:`refine_b`);
- :data:`BLENDED` (beyond the paper): ``blend`` × (a) + (1 − ``blend``) × the autoencoder's.

:func:`predict_methods` gives each method's normalised parameters, :func:`score_methods`
their metrics beside the two baselines, :func:`evaluate_pipeline` both for one input type
from the profile's checkpoints.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from radarface import metrics, refine, train
from radarface.dataset import RadarFaceDataset
from radarface.experiments.fitting import DECODER_INPUTS, TrainedNetworks, trained_networks
from radarface.experiments.settings import RefinementSettings
from radarface.facemodel import MorphableModel
from radarface.models.autoencoder import Autoencoder
from radarface.models.decoder import depth_channels
from radarface.train import FitResult

ENCODER: str = "encoder"
AUTOENCODER: str = "autoencoder"
REFINED: str = "autoencoder + refined parameters (a)"
FINETUNED: str = "autoencoder + fine-tuned encoder (b)"
BLENDED: str = "autoencoder + (a), blended"
#: Row names of :func:`predict_methods`, in table order (after the two baselines).
METHODS: tuple[str, ...] = (ENCODER, AUTOENCODER, REFINED, FINETUNED, BLENDED)
#: Short names of the methods a capture set can be reconstructed with (:func:`predict_method`).
METHOD_NAMES: dict[str, str] = {"encoder": ENCODER, "autoencoder": AUTOENCODER, "refined": REFINED,
                                "blended": BLENDED}


def prediction(encoder: nn.Module, images: torch.Tensor, given: torch.Tensor) -> np.ndarray:
    """An encoder's normalised prediction (N, D) for ``images``: its output, then ``given`` (N, R) (rendering parameters)."""
    return np.concatenate([train.predict(encoder, images).numpy(), given.double().numpy()], 1)


def _loss_options(settings: RefinementSettings, inputs: str) -> dict[str, Any]:
    """The image-loss options of test-time refinement for images of ``inputs``."""
    return {"depth_channels": depth_channels(inputs), "background_weight": settings.background_weight,
            "depth_weight": settings.depth_weight}


def prior_mask(settings: RefinementSettings, slices: dict[str, slice], n_encoded: int) -> np.ndarray | None:
    """Boolean mask (n_encoded,) of the encoder's outputs in the prior: shape and expression only unless ``prior_pose``."""
    if settings.prior_pose:
        return None
    return np.arange(n_encoded) < slices["expression"].stop


def refine_a(settings: RefinementSettings, inputs: str, autoencoder: Autoencoder, images: torch.Tensor,
             start: np.ndarray, n_given: int, slices: dict[str, slice], *,
             tracer: refine.Tracer | None = None) -> refine.RefineResult:
    """Test-time refinement (a) of ``start`` (N, D) through the autoencoder's renderer; the last ``n_given`` columns stay."""
    free = np.arange(start.shape[1]) < start.shape[1] - n_given
    return refine.refine_parameters(
        autoencoder.renderer, images, torch.as_tensor(start, dtype=torch.float32), steps=settings.steps,
        lr=settings.lr, prior_weight=settings.prior_weight, free=free,
        prior=prior_mask(settings, slices, autoencoder.n_encoded or autoencoder.n_params),
        prior_center=settings.prior_center, lr_schedule=settings.lr_schedule, tracer=tracer, seed=settings.seed,
        threads=settings.threads, **_loss_options(settings, inputs))


def refine_b(settings: RefinementSettings, inputs: str, autoencoder: Autoencoder, images: torch.Tensor,
             given: torch.Tensor, slices: dict[str, slice], *,
             tracer: refine.Tracer | None = None) -> refine.RefineResult:
    """Test-time refinement (b): a copy of the autoencoder's encoder fine-tuned on ``images``; ``given`` (N, R) fixed."""
    return refine.finetune_encoder(
        copy.deepcopy(autoencoder.encoder), autoencoder.renderer, images, given=given if given.shape[1] else None,
        steps=settings.encoder_steps, lr=settings.encoder_lr, batch_size=settings.encoder_batch,
        prior_weight=settings.prior_weight,
        prior=prior_mask(settings, slices, autoencoder.n_encoded or autoencoder.n_params),
        lr_schedule=settings.lr_schedule, tracer=tracer, seed=settings.seed, threads=settings.threads,
        **_loss_options(settings, inputs))


def predict_methods(settings: RefinementSettings, inputs: str, nets: TrainedNetworks, images: torch.Tensor,
                    given: torch.Tensor, *, tracer: refine.Tracer | None = None
                    ) -> tuple[dict[str, np.ndarray], dict[str, dict[str, list[float]]], dict[str, float]]:
    """Normalised vectors (N, D) of every method of :data:`METHODS`, the refinements' traces, and their seconds.

    ``given`` (N, R): the decoder inputs the encoder does not predict (rendering
    parameters), appended to every prediction; ``tracer`` as in
    :func:`radarface.refine.refine_parameters`.
    """
    slices = nets.data["test"].slices
    given = given.to(torch.float32)
    preds = {ENCODER: prediction(nets.encoder, images, given),
             AUTOENCODER: prediction(nets.autoencoder.encoder, images, given)}
    refined = refine_a(settings, inputs, nets.autoencoder, images, preds[AUTOENCODER], given.shape[1], slices,
                       tracer=tracer)
    finetuned = refine_b(settings, inputs, nets.autoencoder, images, given, slices, tracer=tracer)
    preds[REFINED], preds[FINETUNED] = refined.params.double().numpy(), finetuned.params.double().numpy()
    preds[BLENDED] = refine.blend(preds[AUTOENCODER], preds[REFINED], settings.blend)
    return (preds, {REFINED: refined.trace, FINETUNED: finetuned.trace},
            {"a": refined.seconds, "b": finetuned.seconds})


def predict_method(settings: RefinementSettings, inputs: str, method: str, encoder: nn.Module,
                   autoencoder: Autoencoder, images: torch.Tensor, given: torch.Tensor,
                   slices: dict[str, slice]) -> np.ndarray:
    """Normalised vectors (N, D) of one method of :data:`METHOD_NAMES` (``encoder``, ``autoencoder``, ``refined``, ``blended``).

    ``given`` (N, R) is appended to every prediction; ``slices``: the target layout.
    """
    if method not in METHOD_NAMES:
        raise ValueError(f"method must be one of {list(METHOD_NAMES)}, got {method!r}")
    given = given.to(torch.float32)
    if method == "encoder":
        return prediction(encoder, images, given)
    start = prediction(autoencoder.encoder, images, given)
    if method == "autoencoder":
        return start
    refined = refine_a(settings, inputs, autoencoder, images, start, given.shape[1], slices).params.double().numpy()
    return refined if method == "refined" else refine.blend(start, refined, settings.blend)


def image_losses(settings: RefinementSettings, inputs: str, renderer: nn.Module, images: torch.Tensor,
                 vectors: dict[str, np.ndarray], *, chunk: int = 256) -> dict[str, np.ndarray]:
    """Test-time image loss (N,) per image of each named set of normalised vectors (N, D): refinement's own
    objective (:class:`radarface.refine.ImageObjective`, prior left out) on ``images`` (N, C, H, W)."""
    options = _loss_options(settings, inputs)
    out = {}
    with refine.frozen(renderer), torch.no_grad():
        for name, v in vectors.items():
            if len(v) != len(images):
                raise ValueError(f"{name}: {len(v)} vectors for {len(images)} images")
            v = torch.as_tensor(v, dtype=torch.float32)
            goal = refine.ImageObjective(renderer, images, torch.zeros(v.shape[1], dtype=torch.bool), 0.0, options)
            out[name] = torch.cat([goal.terms(v[idx], idx)[0] for idx in torch.arange(len(v)).split(chunk)]
                                  ).double().numpy()
    return out


def loss_against_truth(losses: dict[str, np.ndarray], truth: str = "true parameters") -> dict[str, dict[str, float]]:
    """Per method of ``losses`` (names -> (N,) image losses): its mean image loss and the share of images on
    which it renders closer to the image than the true parameters (``losses[truth]``) do."""
    reference = losses[truth]
    return {name: {"image_loss": float(np.mean(v)), "below_truth": float(np.mean(v < reference))}
            for name, v in losses.items()}


def score_methods(face: MorphableModel, test: RadarFaceDataset, true: np.ndarray, predictions: dict[str, np.ndarray],
                  *, seed: int) -> dict[str, dict[str, float]]:
    """Results rows (:func:`radarface.metrics.evaluate`) of the two baselines and of every method in ``predictions``.

    ``true`` (N, D) normalised; the random baseline draws from ``seed``.
    """
    slices = {g: test.slices[g] for g in metrics.GROUPS}
    rows = metrics.evaluate_with_baselines(face, true, predictions[ENCODER], slices, test.denormalise,
                                           rng=np.random.default_rng(seed), name=ENCODER)
    rows.update({name: metrics.evaluate(face, true, predictions[name], slices, test.denormalise)
                 for name in METHODS[1:] if name in predictions})
    return rows


@dataclass
class PipelineResult:
    """One input type evaluated end to end on the test split (see :func:`evaluate_pipeline`)."""

    inputs: str
    encoder: nn.Module
    autoencoder: Autoencoder
    fits: dict[str, FitResult]
    test: RadarFaceDataset
    images: torch.Tensor  # (N, C, H, W)
    true: np.ndarray  # (N, D) normalised, with the rendering parameters
    predictions: dict[str, np.ndarray]  # METHODS -> (N, D), rendering columns as given to the decoder
    traces: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    rows: dict[str, dict[str, float]] = field(default_factory=dict)
    results_path: Path | None = None


def evaluate_pipeline(cfg: dict[str, Any], inputs: str, decoder: nn.Module, face: MorphableModel, *,
                      decoder_checkpoint: str | Path, decoder_inputs: str = DECODER_INPUTS, progress: bool = True,
                      write: bool = True) -> PipelineResult:
    """Encoder (notebook 04's, trained if missing), autoencoder, test-time (a) and (b) for ``inputs``; test metrics.

    Rows: ``mean face``, ``random`` and :data:`METHODS`; the vertex distance of (a) and (b)
    is traced per step. With ``write``, results go to
    ``runs/<profile>/results/autoencoder_<inputs>.json`` (:func:`write_pipeline_results`).
    """
    nets = trained_networks(cfg, inputs, decoder, decoder_checkpoint=decoder_checkpoint,
                            decoder_inputs=decoder_inputs, progress=progress)
    test = nets.data["test"]
    images, true_t = test.tensors()
    true = true_t.numpy().astype(np.float64)
    n_enc = nets.autoencoder.n_encoded or nets.autoencoder.n_params
    settings = RefinementSettings.from_profile(cfg)
    preds, traces, seconds = predict_methods(settings, inputs, nets, images, true_t[:, n_enc:],
                                             tracer=refine.vertex_tracer(face, true, test.denormalise))
    rows = score_methods(face, test, true, preds, seed=int(cfg["seed"]))
    result = PipelineResult(inputs, nets.encoder, nets.autoencoder, nets.fits, test, images, true, preds, traces,
                            rows)
    if write:
        result.results_path = write_pipeline_results(cfg, inputs, rows, traces, nets.fits, seconds,
                                                     encoder_checkpoint=nets.encoder_checkpoint,
                                                     decoder_checkpoint=decoder_checkpoint)
    return result


def write_pipeline_results(cfg: dict[str, Any], inputs: str, rows: dict[str, dict[str, float]],
                           traces: dict[str, dict[str, list[float]]], fits: dict[str, FitResult],
                           seconds: dict[str, float], *, encoder_checkpoint: str,
                           decoder_checkpoint: str | Path) -> Path:
    """``runs/<profile>/results/autoencoder_<inputs>.json``: rows, traces, settings, checkpoints, history, seconds."""
    ae_fit = fits["autoencoder"]
    return metrics.write_results(
        {"profile": cfg["profile"], "inputs": inputs, "rows": rows, "traces": traces,
         "settings": {k: cfg[k] for k in cfg if k.startswith(("autoencoder_", "decoder_", "tta_", "encoder_"))},
         "checkpoints": {"encoder": encoder_checkpoint, "decoder": Path(decoder_checkpoint).name,
                         "autoencoder": ae_fit.checkpoint.name if ae_fit.checkpoint else None},
         "history": ae_fit.history, "tta_seconds": seconds},
        cfg["profile"], f"autoencoder_{inputs}")


def blend_curve(face: MorphableModel, true: np.ndarray, start: np.ndarray, refined: np.ndarray,
                denormalise: Callable[[np.ndarray], dict[str, np.ndarray]], weights: Sequence[float]
                ) -> dict[float, float]:
    """Vertex distance (mm) of :func:`radarface.refine.blend` (``start``, ``refined``) per weight; vectors (N, D) normalised."""
    true_params = denormalise(true)
    return {float(w): metrics.vertex_distance(face, true_params, denormalise(refine.blend(start, refined, float(w))))
            for w in weights}

"""The model-based autoencoder (paper §1 point 5) and its evaluation next to the paper's table.

:class:`Autoencoder`: a pretrained encoder (notebook 04) followed by the frozen learned
renderer (notebook 05). Training (:func:`fit_autoencoder`, the shared loop
:func:`radarface.train.fit`) changes only the encoder, on

    loss = image_loss(decoder([encoder(x), r]), x) + λ · mean((encoder(x) − p_true)²)

with λ = ``param_loss_weight`` (1 in the paper) and the image loss of
:func:`radarface.models.decoder.image_loss` (depth background weighted by
``decoder_background_weight``).

Rendering parameters. The decoder's input ends with the four rendering parameters
(dynamic range, material, aperture, SNR). An encoder trained with ``encoder_render`` predicts
them and the autoencoder is closed. Otherwise (the default) they are taken from the data,
``r`` above, as known acquisition settings: dynamic range and aperture are set by whoever
forms the image; material and SNR are not strictly known, which this treats as a
measured calibration. They are never part of the parameter loss or the metrics.

One decoder for all input types. The decoder of ``decoder_inputs`` (default ``"both"``)
renders amplitude and depth; an amplitude-only or depth-only autoencoder compares the
matching channel (:class:`SelectChannels`), so one decoder serves the three input types.

:func:`evaluate_pipeline` runs one input type end to end on the test split: encoder,
autoencoder, and test-time analysis by synthesis (:mod:`radarface.refine`) both ways.
:func:`comparison_table` puts those rows next to :data:`PAPER_RESULTS` with the ratio to
the mean-face baseline.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn
from radarface import progress as progress_bars
from radarface.models.decoder import CHANNELS, depth_channels, image_loss

if TYPE_CHECKING:
    from radarface.dataset import RadarFaceDataset
    from radarface.train import FitResult


class SelectChannels(nn.Module):
    """A renderer's output restricted to ``channels``: (B, D) -> (B, len(channels), H, W)."""

    def __init__(self, renderer: nn.Module, channels: Sequence[int]):
        super().__init__()
        self.renderer, self.channels = renderer, list(channels)

    @property
    def n_params(self) -> int:
        """Length of the renderer's input vectors."""
        return int(self.renderer.n_params)

    def forward(self, params: torch.Tensor) -> torch.Tensor:
        out = self.renderer(params)
        return out if self.channels == list(range(out.shape[1])) else out[:, self.channels]


def channels_for(inputs: str, decoder_inputs: str = "both") -> list[int]:
    """Channels of a ``decoder_inputs`` decoder that images of ``inputs`` hold.

    >>> channels_for("depth"), channels_for("both"), channels_for("depth", "depth")
    ([1], [0, 1], [0])
    """
    for name in (inputs, decoder_inputs):
        if name not in CHANNELS:
            raise ValueError(f"inputs must be one of {sorted(CHANNELS)}, got {name!r}")
    missing = [c for c in CHANNELS[inputs] if c not in CHANNELS[decoder_inputs]]
    if missing:
        raise ValueError(f"a decoder of {decoder_inputs!r} images cannot render {missing}; use a 'both' decoder")
    return [CHANNELS[decoder_inputs].index(c) for c in CHANNELS[inputs]]


class Autoencoder(nn.Module):
    """Encoder (trainable) -> frozen learned renderer: images (B, C, H, W) -> (parameters (B, D), images).

    Args:
        encoder: images -> (B, E) normalised parameters (E ≤ D, the first columns).
        decoder: (B, D) -> (B, C', H, W); frozen here (no gradients, always eval mode).
        channels: the decoder's channels that match the images (default: all).

    ``forward(images, given)``: ``given`` (B, D − E) completes the decoder's input (the
    rendering parameters when the encoder does not predict them).
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, channels: Sequence[int] | None = None):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder
        self.decoder.requires_grad_(False)
        self.decoder.eval()
        self.channels = list(channels) if channels is not None else None
        self.n_encoded = int(getattr(encoder, "n_outputs", 0)) or None
        self.n_params = int(decoder.n_params)

    @property
    def renderer(self) -> nn.Module:
        """The frozen decoder restricted to the images' channels: (B, D) -> (B, C, H, W)."""
        return SelectChannels(self.decoder, self.channels) if self.channels is not None else self.decoder

    def train(self, mode: bool = True) -> Autoencoder:
        super().train(mode)
        self.decoder.eval()  # its batch-norm statistics stay those it was trained with
        return self

    def decoder_input(self, encoded: torch.Tensor, given: torch.Tensor | None = None) -> torch.Tensor:
        """The decoder's input (B, D): the encoder's output, then ``given`` columns."""
        n_missing = self.n_params - encoded.shape[1]
        if n_missing == 0:
            return encoded
        if given is None or given.shape != (len(encoded), n_missing):
            got = None if given is None else tuple(given.shape)
            raise ValueError(f"the encoder predicts {encoded.shape[1]} of the decoder's {self.n_params} inputs; "
                             f"given must be (B, {n_missing}) (the rendering parameters), got {got}")
        return torch.cat([encoded, given.to(encoded.dtype)], 1)

    def forward(self, images: torch.Tensor, given: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(encoded parameters (B, E), reconstructed images (B, C, H, W))."""
        encoded = self.encoder(images)
        return encoded, self.renderer(self.decoder_input(encoded, given))


def autoencoder_loss(inputs: str, *, param_weight: float = 1.0, background_weight: float = 1.0,
                     metric: torch.Tensor | None = None):
    """Loss for :func:`radarface.train.fit` on (images, targets (B, D)): image loss + ``param_weight`` · parameter loss.

    The parameter loss covers the encoder's E columns: their mean squared error, or with
    ``metric`` (K, K) the encoder's vertex-weighted error of the K face coefficients
    (:func:`radarface.models.encoder.parameter_error`). Columns E..D of the targets are
    passed to the decoder (``given``). Logs ``image``, ``param``.
    """
    from radarface.models.encoder import parameter_error

    depth = depth_channels(inputs)
    if not param_weight >= 0:
        raise ValueError(f"param_weight must be >= 0, got {param_weight}")
    error = parameter_error(0 if metric is None else int(metric.shape[0]), metric)

    def loss_fn(model: Autoencoder, batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, dict[str, float]]:
        images, targets = batch[0], batch[1]
        encoded = model.encoder(images)
        n = encoded.shape[1]
        recon = model.renderer(model.decoder_input(encoded, targets[:, n:] if n < targets.shape[1] else None))
        img = image_loss(recon, images, depth_channels=depth, background_weight=background_weight)
        param = error(encoded, targets[:, :n])
        return img + param_weight * param, {"image": float(img.detach()), "param": float(param.detach())}

    return loss_fn


def autoencoder_data(cfg: dict[str, Any], inputs: str) -> dict[str, RadarFaceDataset]:
    """Train, val and test splits for ``inputs``; targets with the rendering parameters (the decoder's input)."""
    from radarface.models.decoder import decoder_data

    return decoder_data(cfg, inputs)


def autoencoder_run_name(cfg: dict[str, Any], inputs: str, dataset_path: str | Path, encoder_checkpoint: str,
                         decoder_checkpoint: str) -> str:
    """Checkpoint name ``autoencoder_<inputs>_<hash8>`` over its settings and the two networks it starts from."""
    from radarface.train import run_name

    keys = ("autoencoder_epochs", "autoencoder_batch", "autoencoder_lr", "autoencoder_select", "param_loss_weight",
            "decoder_background_weight", "encoder_loss", "seed")
    return run_name(f"autoencoder_{inputs}", dataset=Path(dataset_path).name, encoder=Path(encoder_checkpoint).name,
                    decoder=Path(decoder_checkpoint).name, **{k: cfg[k] for k in keys})


def fit_autoencoder(cfg: dict[str, Any], encoder: nn.Module, decoder: nn.Module, data: dict[str, RadarFaceDataset], *,
                    encoder_checkpoint: str | Path, decoder_checkpoint: str | Path, decoder_inputs: str = "both",
                    progress: bool = True, **fit_options: Any) -> tuple[Autoencoder, FitResult]:
    """Copies of the trained ``encoder`` and ``decoder`` joined and trained (or reused) as an :class:`Autoencoder`.

    Schedule from ``cfg``: ``autoencoder_epochs``, ``autoencoder_batch``, ``autoencoder_lr``,
    ``autoencoder_select`` (a history key whose best epoch is kept, or None), ``param_loss_weight``
    (λ), ``decoder_background_weight``, ``seed``, ``train_threads``; the parameter loss is the
    encoder's (``encoder_loss``: plain, or vertex-weighted).
    The checkpoint name (:func:`autoencoder_run_name`) includes the two checkpoints it
    starts from. ``encoder`` and ``decoder`` themselves are not changed.
    """
    from radarface import train
    from radarface.models.encoder import face_metric

    train_ds = data["train"]
    model = Autoencoder(copy.deepcopy(encoder), copy.deepcopy(decoder), channels_for(train_ds.inputs, decoder_inputs))
    name = autoencoder_run_name(cfg, train_ds.inputs, train_ds.path, str(encoder_checkpoint), str(decoder_checkpoint))
    loss = autoencoder_loss(train_ds.inputs, param_weight=float(cfg["param_loss_weight"]),
                            background_weight=float(cfg["decoder_background_weight"]), metric=face_metric(cfg))
    fit_options.setdefault("select", cfg["autoencoder_select"])
    result = train.fit(model, loss, train_ds, data.get("val"), epochs=int(cfg["autoencoder_epochs"]),
                       batch_size=int(cfg["autoencoder_batch"]), lr=cfg["autoencoder_lr"],
                       checkpoint=train.checkpoint_path(name), seed=int(cfg["seed"]),
                       threads=int(cfg["train_threads"]) or None, progress=progress, **fit_options)
    return model.eval(), result


# --------------------------------------------------------------- evaluation
#: Row names of :func:`evaluate_pipeline`, in table order (after the two baselines).
METHODS: tuple[str, ...] = ("encoder", "autoencoder", "autoencoder + refined parameters (a)",
                            "autoencoder + fine-tuned encoder (b)", "autoencoder + (a), blended")
#: The row of (a) blended with its start (``tta_blend``; beyond the paper).
BLENDED: str = METHODS[4]


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


@dataclass
class TrainedNetworks:
    """Notebook 04's encoder and notebook 06's autoencoder for one input type, with their data splits."""

    encoder: nn.Module
    autoencoder: Autoencoder
    fits: dict[str, FitResult]
    data: dict[str, RadarFaceDataset]
    encoder_checkpoint: str


def trained_networks(cfg: dict[str, Any], inputs: str, decoder: nn.Module, *, decoder_checkpoint: str | Path,
                     decoder_inputs: str = "both", progress: bool = True) -> TrainedNetworks:
    """The profile's encoder and autoencoder for ``inputs``, loaded from their checkpoints (trained if missing)."""
    from radarface.models.encoder import encoder_data, encoder_run_name, fit_encoder

    encoder, enc_fit = fit_encoder(cfg, encoder_data(cfg, inputs), progress=progress)
    data = autoencoder_data(cfg, inputs)
    enc_name = encoder_run_name(cfg, inputs, data["train"].path)
    ae, ae_fit = fit_autoencoder(cfg, encoder, decoder, data, encoder_checkpoint=enc_name,
                                 decoder_checkpoint=decoder_checkpoint, decoder_inputs=decoder_inputs,
                                 progress=progress)
    return TrainedNetworks(encoder, ae, {"encoder": enc_fit, "autoencoder": ae_fit}, data, enc_name)


def predict_methods(cfg: dict[str, Any], inputs: str, nets: TrainedNetworks, images: torch.Tensor,
                    given: torch.Tensor, *, tracer=None) -> tuple[dict[str, np.ndarray], dict[str, dict], dict[str, float]]:
    """Normalised parameter vectors (N, D) of :data:`METHODS` for ``images``; refinement traces; seconds of (a), (b).

    ``given`` (N, R): the decoder inputs the encoder does not predict (rendering parameters),
    appended to every prediction. Test-time settings from ``cfg`` (``tta_*``); ``tracer`` as
    in :func:`radarface.refine.refine_parameters` (None: image loss only). :data:`BLENDED` is
    ``tta_blend`` × (a) + (1 − ``tta_blend``) × the autoencoder's prediction (:func:`radarface.refine.blend`).
    """
    from radarface import refine, train

    ae = nets.autoencoder
    given = given.to(torch.float32)
    full = lambda enc: np.concatenate([enc, given.double().numpy()], 1)  # noqa: E731
    preds = {"encoder": full(train.predict(nets.encoder, images).numpy()),
             "autoencoder": _prediction(ae, images, given)}
    refined = _test_time(cfg, inputs, ae, images, given, "a", float(cfg["tta_lr"]), int(cfg["tta_steps"]), tracer,
                         start=preds["autoencoder"])
    finetuned = _test_time(cfg, inputs, ae, images, given, "b", float(cfg["tta_encoder_lr"]), encoder_steps(cfg),
                           tracer)
    preds[METHODS[2]], preds[METHODS[3]] = refined.params.double().numpy(), finetuned.params.double().numpy()
    preds[BLENDED] = refine.blend(preds["autoencoder"], preds[METHODS[2]], float(cfg["tta_blend"]))
    return (preds, {METHODS[2]: refined.trace, METHODS[3]: finetuned.trace},
            {"a": refined.seconds, "b": finetuned.seconds})


#: Short names of the methods one capture set can be reconstructed with (:func:`predict_method`) -> rows of :data:`METHODS`.
METHOD_NAMES: dict[str, str] = {"encoder": METHODS[0], "autoencoder": METHODS[1], "refined": METHODS[2],
                                "blended": BLENDED}


def predict_method(cfg: dict[str, Any], inputs: str, method: str, encoder: nn.Module, autoencoder: Autoencoder,
                   images: torch.Tensor, given: torch.Tensor) -> np.ndarray:
    """Normalised parameter vectors (N, D) of one method of :data:`METHOD_NAMES` for ``images`` (N, C, H, W).

    ``encoder``: notebook 04's; ``autoencoder``: notebook 06's. ``given`` (N, R): the decoder
    inputs the encoders do not predict, appended to every prediction. ``refined`` is
    test-time refinement (a) from the autoencoder's prediction (settings ``tta_*`` of
    ``cfg``), ``blended`` mixes the two by ``tta_blend``, as in :func:`predict_methods`.
    """
    from radarface import refine, train

    if method not in METHOD_NAMES:
        raise ValueError(f"method must be one of {list(METHOD_NAMES)}, got {method!r}")
    given = given.to(torch.float32)
    if method == "encoder":
        return np.concatenate([train.predict(encoder, images).numpy(), given.double().numpy()], 1)
    start = _prediction(autoencoder, images, given)
    if method == "autoencoder":
        return start
    refined = _test_time(cfg, inputs, autoencoder, images, given, "a", float(cfg["tta_lr"]), int(cfg["tta_steps"]),
                         None, start=start).params.double().numpy()
    return refined if method == "refined" else refine.blend(start, refined, float(cfg["tta_blend"]))


def encoder_steps(cfg: dict[str, Any]) -> int:
    """Steps of test-time fine-tuning (b): ``tta_encoder_steps``, or ``tta_steps`` when that is None."""
    steps = cfg.get("tta_encoder_steps")
    return int(cfg["tta_steps"] if steps is None else steps)


def prior_mask(cfg: dict[str, Any], n_encoded: int) -> np.ndarray | None:
    """Boolean mask (n_encoded,) of the encoder's outputs in the test-time prior; None (all) when ``tta_prior_pose``."""
    if cfg["tta_prior_pose"]:
        return None
    return np.arange(n_encoded) < int(cfg["n_shape"]) + int(cfg["n_expression"])


def _test_time(cfg: dict[str, Any], inputs: str, ae: Autoencoder, images: torch.Tensor, given: torch.Tensor,
               method: str, lr: float, steps: int, tracer, *, start: np.ndarray | None = None):
    """Test-time refinement (a) from ``start`` (N, D) (default: the autoencoder's prediction) or (b) of a copy of its encoder."""
    from radarface import refine

    options = {"steps": steps, "lr": lr, "prior_weight": float(cfg["tta_prior_weight"]), "tracer": tracer,
               "depth_channels": depth_channels(inputs), "background_weight": float(cfg["decoder_background_weight"]),
               "depth_weight": float(cfg["tta_depth_weight"]), "lr_schedule": str(cfg["tta_lr_schedule"]),
               "prior": prior_mask(cfg, ae.n_encoded or ae.n_params),
               "seed": int(cfg["seed"]), "threads": int(cfg["train_threads"]) or None}
    if method == "b":
        batch = cfg["tta_encoder_batch"]
        return refine.finetune_encoder(copy.deepcopy(ae.encoder), ae.renderer, images,
                                       given=given if given.shape[1] else None,
                                       batch_size=None if batch is None else int(batch), **options)
    if start is None:
        start = _prediction(ae, images, given)
    free = np.arange(start.shape[1]) < start.shape[1] - given.shape[1]
    return refine.refine_parameters(ae.renderer, images, torch.as_tensor(start, dtype=torch.float32), free=free,
                                    prior_center=str(cfg["tta_prior_center"]), **options)


def _validation_images(cfg: dict[str, Any], inputs: str, decoder: nn.Module, decoder_checkpoint: str | Path,
                       n_images: int, progress: bool):
    """The profile's networks for ``inputs``, the validation split, its first ``n_images`` images and targets, E."""
    nets = trained_networks(cfg, inputs, decoder, decoder_checkpoint=decoder_checkpoint, progress=progress)
    val = nets.data["val"]
    images, true_t = val.tensors()
    return nets, val, images[:n_images], true_t[:n_images], nets.autoencoder.n_encoded or nets.autoencoder.n_params


def _prediction(ae: Autoencoder, images: torch.Tensor, given: torch.Tensor) -> np.ndarray:
    """The autoencoder's normalised prediction (N, D) for ``images``: its encoder's output, then ``given`` (N, R)."""
    from radarface import train

    return np.concatenate([train.predict(ae.encoder, images).numpy(), given.double().numpy()], 1)


def tune_refinement(cfg: dict[str, Any], inputs: str, decoder: nn.Module, face, *, decoder_checkpoint: str | Path,
                    lrs: Sequence[float], steps: int, method: str = "a", n_images: int = 200,
                    progress: bool = True) -> dict[float, dict[str, list[float]]]:
    """Traces (image loss, vertex mm per step) of test-time refinement ``method`` on validation images, per learning rate.

    For choosing ``tta_lr`` (a) / ``tta_encoder_lr`` (b) and ``tta_steps`` without looking at
    the test split: the first ``n_images`` validation images, starting from the profile's
    autoencoder (trained if missing). :func:`best_refinement` picks from the result.
    """
    from radarface import refine

    if method not in ("a", "b"):
        raise ValueError(f"method must be 'a' (parameters) or 'b' (encoder weights), got {method!r}")
    if not lrs or any(not float(lr) > 0 for lr in lrs) or int(steps) < 1 or int(n_images) < 1:
        raise ValueError(f"need learning rates > 0, steps >= 1 and n_images >= 1; got {lrs}, {steps}, {n_images}")
    nets, val, images, true_t, n_enc = _validation_images(cfg, inputs, decoder, decoder_checkpoint, n_images, progress)
    tracer = refine.vertex_tracer(face, true_t.numpy().astype(np.float64), val.denormalise)
    return {float(lr): _test_time(cfg, inputs, nets.autoencoder, images, true_t[:, n_enc:], method, float(lr),
                                  int(steps), tracer).trace
            for lr in progress_bars.bar(lrs, desc=f"test-time ({method}) learning rates", disable=not progress)}


def tune_blend(cfg: dict[str, Any], inputs: str, decoder: nn.Module, face, *, decoder_checkpoint: str | Path,
               weights: Sequence[float], n_images: int = 200, progress: bool = True) -> dict[float, float]:
    """Vertex distance (mm) of (a) blended with its start at each of ``weights``, on the first ``n_images`` validation images.

    For choosing ``tta_blend`` without the test split: (a) runs once with the profile's
    settings from the profile's autoencoder (trained if missing); weight 1 is (a) itself,
    0 the autoencoder's prediction.
    """
    if not weights or any(not 0.0 <= float(w) <= 1.0 for w in weights) or int(n_images) < 1:
        raise ValueError(f"need weights in [0, 1] and n_images >= 1; got {weights}, {n_images}")
    nets, val, images, true_t, n_enc = _validation_images(cfg, inputs, decoder, decoder_checkpoint, n_images, progress)
    start = _prediction(nets.autoencoder, images, true_t[:, n_enc:])
    refined = _test_time(cfg, inputs, nets.autoencoder, images, true_t[:, n_enc:], "a", float(cfg["tta_lr"]),
                         int(cfg["tta_steps"]), None, start=start).params.double().numpy()
    return blend_curve(face, true_t.numpy().astype(np.float64), start, refined, val.denormalise, weights)


def blend_curve(face, true: np.ndarray, start: np.ndarray, refined: np.ndarray,
                denormalise: Callable[[np.ndarray], dict[str, np.ndarray]], weights: Sequence[float]
                ) -> dict[float, float]:
    """Vertex distance (mm) of :func:`radarface.refine.blend` (``start``, ``refined``) per weight; vectors (N, D) normalised."""
    from radarface import metrics, refine

    true_params = denormalise(true)
    return {float(w): metrics.vertex_distance(face, true_params, denormalise(refine.blend(start, refined, float(w))))
            for w in weights}


def best_refinement(traces: dict[float, dict[str, list[float]]]) -> tuple[float, int, float]:
    """(learning rate, step, vertex mm) with the smallest traced vertex distance in :func:`tune_refinement`'s ``traces``."""
    best = None
    for lr, trace in traces.items():
        if "vertex_mm" not in trace:
            raise ValueError("the traces carry no vertex distance; run the refinement with a tracer")
        i = int(np.argmin(trace["vertex_mm"]))
        if best is None or trace["vertex_mm"][i] < best[2]:
            best = (float(lr), int(trace["step"][i]), float(trace["vertex_mm"][i]))
    if best is None:
        raise ValueError("no traces given")
    return best


def evaluate_pipeline(cfg: dict[str, Any], inputs: str, decoder: nn.Module, face, *, decoder_checkpoint: str | Path,
                      decoder_inputs: str = "both", progress: bool = True, write: bool = True) -> PipelineResult:
    """Encoder (notebook 04's, trained if missing), autoencoder, test-time (a) and (b) for ``inputs``; test metrics.

    Rows (:func:`radarface.metrics.evaluate`): ``mean face``, ``random`` and :data:`METHODS`.
    Test-time refinement: ``tta_steps`` Adam steps, ``tta_lr`` (a) / ``tta_encoder_lr`` (b),
    ``tta_prior_weight``, both starting from the autoencoder; the vertex distance is traced
    per step. With ``write``, results go to ``runs/<profile>/results/autoencoder_<inputs>.json``.
    """
    from radarface import metrics, refine, train

    nets = trained_networks(cfg, inputs, decoder, decoder_checkpoint=decoder_checkpoint,
                            decoder_inputs=decoder_inputs, progress=progress)
    ae, ae_fit, test = nets.autoencoder, nets.fits["autoencoder"], nets.data["test"]
    images, true_t = test.tensors()
    true = true_t.numpy().astype(np.float64)
    n_enc = ae.n_encoded or ae.n_params
    preds, traces, seconds = predict_methods(cfg, inputs, nets, images, true_t[:, n_enc:],
                                             tracer=refine.vertex_tracer(face, true, test.denormalise))
    slices = {g: test.slices[g] for g in metrics.GROUPS}
    rows = metrics.evaluate_with_baselines(face, true, preds["encoder"], slices, test.denormalise,
                                           rng=np.random.default_rng(cfg["seed"]), name="encoder")
    rows.update({name: metrics.evaluate(face, true, preds[name], slices, test.denormalise) for name in METHODS[1:]})
    result = PipelineResult(inputs, nets.encoder, ae, nets.fits, test, images, true, preds, traces, rows)
    if write:
        result.results_path = metrics.write_results(
            {"profile": cfg["profile"], "inputs": inputs, "rows": rows, "traces": result.traces,
             "settings": {k: cfg[k] for k in cfg if k.startswith(("autoencoder_", "decoder_", "tta_", "encoder_"))},
             "checkpoints": {"encoder": nets.encoder_checkpoint, "decoder": Path(decoder_checkpoint).name,
                             "autoencoder": ae_fit.checkpoint.name if ae_fit.checkpoint else None},
             "history": ae_fit.history, "tta_seconds": seconds},
            cfg["profile"], f"autoencoder_{inputs}")
    return result


# ------------------------------------------------------ the paper's table
INPUT_LABELS: dict[str, str] = {"amplitude": "amplitude", "depth": "depth", "both": "amp + depth"}
#: The paper's results on synthetic validation data (DESIGN §1): method, input, shape err, expr err,
#: total err, vertex distance (mm). Its total counts pose errors in units of the pose limits.
PAPER_RESULTS: tuple[tuple[str, str, float, float, float, float], ...] = (
    ("baseline: mean face", "–", 0.991, 1.000, 0.808, 4.42),
    ("baseline: random", "–", 2.012, 2.059, 1.648, 6.28),
    ("encoder", "amplitude", 0.840, 0.921, 0.655, 3.47),
    ("encoder", "depth", 0.740, 0.910, 0.608, 2.77),
    ("encoder", "amp + depth", 0.735, 0.885, 0.598, 2.82),
    ("autoencoder", "amplitude", 0.770, 0.815, 0.594, 3.29),
    ("autoencoder", "depth", 0.634, 0.850, 0.544, 2.56),
    ("autoencoder", "amp + depth", 0.640, 0.820, 0.539, 2.61),
)
TABLE_COLUMNS: dict[str, str] = {"shape": "shape err", "expression": "expr err", "total": "total err",
                                 "vertex_mm": "vertex mm", "ratio": "÷ mean face"}
_BASELINES = {"mean face": "baseline: mean face", "random": "baseline: random"}


def comparison_table(ours: dict[str, dict[str, dict[str, float]]]) -> list[dict[str, Any]]:
    """The paper's rows and ours side by side: one dict per (method, input) with ``paper_<col>`` and ``ours_<col>``.

    ``ours``: inputs ("amplitude", "depth", "both") -> rows of :func:`evaluate_pipeline`.
    Columns: ``shape``, ``expression``, ``total`` (ours: ``total_paper``, the paper's pose
    convention), ``vertex_mm`` and ``ratio`` (vertex distance ÷ the same source's mean-face
    baseline, which compares across face models). A missing value is None. Order: the two
    baselines, then per method of :data:`METHODS` the three input types.
    """
    if not ours:
        raise ValueError("ours is empty: evaluate at least one input type (evaluate_pipeline)")
    unknown = sorted(set(ours) - set(INPUT_LABELS))
    if unknown:
        raise ValueError(f"unknown input type(s) {unknown}; known: {list(INPUT_LABELS)}")
    paper = {(m, i): dict(zip(("shape", "expression", "total", "vertex_mm"), v)) for m, i, *v in PAPER_RESULTS}
    ours_rows: dict[tuple[str, str], dict[str, float]] = {}
    for inputs, rows in ours.items():
        for name, row in rows.items():
            key = (_BASELINES[name], "–") if name in _BASELINES else (name, INPUT_LABELS[inputs])
            ours_rows.setdefault(key, {"shape": row["shape"], "expression": row["expression"],
                                       "total": row["total_paper"], "vertex_mm": row["vertex_mm"]})
    order = [(b, "–") for b in _BASELINES.values()] + [(m, INPUT_LABELS[i]) for m in METHODS for i in INPUT_LABELS]
    out = []
    for source, rows in (("paper", paper), ("ours", ours_rows)):
        ref = rows.get(("baseline: mean face", "–"), {}).get("vertex_mm")
        for row in rows.values():
            row["ratio"] = row["vertex_mm"] / ref if ref else None
    for key in order:
        if key in paper or key in ours_rows:
            entry: dict[str, Any] = {"method": key[0], "input": key[1]}
            for col in TABLE_COLUMNS:
                entry[f"paper_{col}"] = paper.get(key, {}).get(col)
                entry[f"ours_{col}"] = ours_rows.get(key, {}).get(col)
            out.append(entry)
    return out


def format_comparison(table: list[dict[str, Any]], *, digits: int = 2) -> str:
    """Markdown of :func:`comparison_table`: each column as paper | ours; "–" where a source has no row."""
    cell = lambda v: "–" if v is None else f"{v:.{digits}f}"  # noqa: E731
    header = ["method", "input"] + [f"{label} {src}" for label in TABLE_COLUMNS.values() for src in ("paper", "ours")]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in table:
        cells = [row["method"], row["input"]]
        cells += [cell(row[f"{src}_{col}"]) for col in TABLE_COLUMNS for src in ("paper", "ours")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_comparison(table: list[dict[str, Any]], profile: str, **extra: Any) -> Path:
    """Write :func:`comparison_table` (and ``extra`` entries) to ``runs_dir(profile)/results/table.json``."""
    from radarface.metrics import write_results

    return write_results({"profile": profile, "columns": TABLE_COLUMNS, "rows": table, **extra}, profile, "table")

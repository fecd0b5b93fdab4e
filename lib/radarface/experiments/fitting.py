"""Training the paper's three networks on the profile's dataset, each with its typed settings and checkpoint.

- Data: :func:`encoder_data` (images -> parameters), :func:`decoder_data` (parameters with
  the rendering parameters -> images; also the autoencoder's).
- Encoder (notebook 04): :func:`build_encoder`, :func:`encoder_loss`, :func:`fit_encoder`;
  :func:`profile_encoder` resolves what a profile's encoder needs (face model, learned
  renderer) and trains it.
- Learned renderer (notebook 05): :func:`build_decoder`, :func:`fit_decoder`.
- Autoencoder (notebook 06): :func:`fit_autoencoder` trains an
  :class:`~radarface.models.Autoencoder` built by the caller; :func:`trained_networks`
  gives a profile's encoder and autoencoder for one input type.
- Notebook 07's domain gap: :func:`finetune_augmented`.

Every run goes through :func:`radarface.train.fit` with a checkpoint named by its
settings (:mod:`radarface.experiments.settings`): a finished run is loaded, an interrupted
one resumes.
"""

from __future__ import annotations

import copy
import os
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn

from radarface import dataset, metrics, train
from radarface import progress as progress_bars
from radarface.augment import augmented_loss
from radarface.dataset import DatasetSettings, RadarFaceDataset
from radarface.experiments.settings import AutoencoderSettings, EncoderSettings, GapSettings, RendererSettings
from radarface.facemodel import MorphableModel, load_model
from radarface.losses import LossFn, autoencoder_loss, decoder_loss, parameter_loss, rendered_loss
from radarface.models.autoencoder import Autoencoder, SelectChannels, channels_for
from radarface.models.decoder import LearnedRenderer
from radarface.models.encoder import Encoder, EncoderEnsemble, bfloat16_native
from radarface.runtime import process_context, process_map, resolve_workers
from radarface.train import FitResult

#: The learned renderer's input type: one renderer of amplitude and depth serves every encoder.
DECODER_INPUTS: str = "both"


# ------------------------------------------------------------------ data
def encoder_data(cfg: dict[str, Any], inputs: str) -> dict[str, RadarFaceDataset]:
    """Train, val and test splits of the profile's dataset (generated if missing) for ``inputs``.

    Targets include the rendering parameters when ``cfg["encoder_render"]`` is true.
    """
    path = dataset.ensure(DatasetSettings.from_profile(cfg))
    return {split: RadarFaceDataset(path, inputs, split, include_render=bool(cfg["encoder_render"]))
            for split in ("train", "val", "test")}


def decoder_data(cfg: dict[str, Any], inputs: str = DECODER_INPUTS) -> dict[str, RadarFaceDataset]:
    """Train, val and test splits of the profile's dataset (generated if missing), targets with rendering parameters.

    The learned renderer's data, and the autoencoder's (its decoder takes the rendering parameters).
    """
    path = dataset.ensure(DatasetSettings.from_profile(cfg))
    return {split: RadarFaceDataset(path, inputs, split, include_render=True) for split in ("train", "val", "test")}


# ------------------------------------------------------------------ encoder
def face_metric(kind: str, face: MorphableModel | None) -> torch.Tensor | None:
    """The parameter loss's metric: None for ``"parameters"`` (the paper's), the face's vertex metric for ``"vertices"``."""
    if kind == "parameters":
        return None
    if face is None:
        raise ValueError(f"the {kind!r} parameter loss weighs coefficients by the face model's vertices; pass face=")
    return torch.as_tensor(metrics.vertex_metric(face))


def build_encoder(settings: EncoderSettings, in_channels: int, slices: dict[str, slice], *, image_size: int,
                  fields: tuple[str, ...] = ()) -> Encoder:
    """The encoder of ``settings`` for targets laid out as ``slices``, weights seeded ``settings.weights_seed``.

    ``fields``: the image channels' names; with ``settings.center_depth`` the one named
    ``depth`` is centred for the shape and expression networks.
    """
    sizes = {name: cols.stop - cols.start for name, cols in slices.items()}
    center = tuple(fields).index("depth") if settings.center_depth and "depth" in fields else None
    with train.seeded(settings.weights_seed):
        return Encoder(in_channels, int(image_size), sizes["shape"], sizes["expression"], sizes.get("pose", 6),
                       sizes.get("render", 0), backbone=settings.backbone, center_depth=center,
                       precision=settings.precision)


def encoder_loss(settings: EncoderSettings, slices: dict[str, slice], channels: tuple[str, ...], *,
                 metric: torch.Tensor | None = None, renderer: nn.Module | None = None) -> LossFn:
    """The encoder's training loss: :func:`~radarface.losses.parameter_loss` with ``metric``, randomised by
    ``settings.augment`` while training, with ``settings.rendered`` extra samples per sample drawn by
    ``renderer`` (needed when that share is > 0)."""
    loss = parameter_loss(slices, metric)
    if settings.augment is not None:
        loss = augmented_loss(loss, settings.augment, channels)
    if settings.rendered:
        if renderer is None:
            raise ValueError(f"encoder_rendered = {settings.rendered} needs the learned renderer (notebook 05) to "
                             f"draw samples; pass renderer=")
        loss = rendered_loss(loss, renderer, settings.rendered, n_shape=slices["shape"].stop - slices["shape"].start,
                             n_expression=slices["expression"].stop - slices["expression"].start,
                             n_targets=max(cols.stop for cols in slices.values()))
    return loss


def fit_encoder(settings: EncoderSettings, data: dict[str, RadarFaceDataset], *, metric: torch.Tensor | None = None,
                renderer: nn.Module | None = None, renderer_name: str | None = None, progress: bool = True,
                **fit_options: Any) -> tuple[Encoder | EncoderEnsemble, FitResult]:
    """Build the encoder of ``settings`` and train it (or resume / reuse its checkpoint) on :func:`encoder_data` splits.

    ``metric``: the parameter loss's (:func:`face_metric`); ``renderer`` and its run name
    ``renderer_name``: the learned renderer drawing ``settings.rendered`` extra samples.
    Checkpoint: ``data/checkpoints/`` ``settings.run_name(...)`` ``.pt``. Returns the encoder
    (eval mode) and its :class:`~radarface.train.FitResult`. With ``settings.ensemble`` = k > 1:
    an :class:`~radarface.models.EncoderEnsemble` of k encoders trained one after the other
    on the same data (each checkpointed on its own), and the first member's result with
    every member's in ``members`` (seconds and epochs summed).
    """
    if settings.ensemble > 1:
        runs = [fit_encoder(member, data, metric=metric, renderer=renderer, renderer_name=renderer_name,
                            progress=progress, **fit_options) for member in settings.members()]
        fits = [fit for _, fit in runs]
        result = replace(fits[0], members=fits, seconds=sum(f.seconds for f in fits),
                         trained=sum(f.trained for f in fits))
        return EncoderEnsemble([model for model, _ in runs]).eval(), result
    train_ds = data["train"]
    model = build_encoder(settings, train_ds.channels, train_ds.slices, image_size=train_ds.image_shape[0],
                          fields=tuple(train_ds.fields))
    name = settings.run_name(train_ds.inputs, train_ds.path, renderer_name)
    loss = encoder_loss(settings, train_ds.slices, train_ds.fields, metric=metric, renderer=renderer)
    if settings.precision == "bfloat16" and not bfloat16_native() and not train.finished(train.checkpoint_path(name),
                                                                                          settings.epochs):
        warnings.warn("encoder_precision = 'bfloat16', but this CPU has no bfloat16 units (AMX or AVX-512 BF16): "
                      "training will be slower than in float32. For speed here, set encoder_precision = 'float32' "
                      "(a different run, with results that differ slightly)", stacklevel=2)
    result = train.fit(model, loss, train_ds, data.get("val"), epochs=settings.epochs, batch_size=settings.batch,
                       lr=settings.lr, checkpoint=train.checkpoint_path(name), seed=settings.weights_seed,
                       threads=settings.threads, weight_decay=settings.weight_decay, select=settings.select,
                       optimizer=settings.optimizer, progress=progress, **fit_options)
    return model.eval(), result


def profile_encoder(cfg: dict[str, Any], data: dict[str, RadarFaceDataset], *, progress: bool = True,
                    **fit_options: Any) -> tuple[Encoder | EncoderEnsemble, FitResult, str]:
    """The profile's encoder for ``data`` (trained if missing), its result and run name.

    Resolves what the settings need: the face model for a ``"vertices"`` loss, the learned
    renderer (notebook 05's, trained first if missing) for ``encoder_rendered`` > 0.
    ``fit_options`` go to :func:`radarface.train.fit` (e.g. ``on_batch_end``).
    """
    settings = EncoderSettings.from_profile(cfg)
    inputs, path = data["train"].inputs, data["train"].path
    face = None if settings.loss == "parameters" else load_model(cfg["model"], cfg["n_shape"], cfg["n_expression"])
    renderer, renderer_name = None, None
    if settings.rendered:
        decoder, decoder_fit = fit_decoder(RendererSettings.from_profile(cfg), decoder_data(cfg), progress=progress)
        renderer, renderer_name = SelectChannels(decoder, channels_for(inputs)), decoder_fit.checkpoint.stem
    model, result = fit_encoder(settings, data, metric=face_metric(settings.loss, face), renderer=renderer,
                                renderer_name=renderer_name, progress=progress, **fit_options)
    return model, result, settings.run_name(inputs, path, renderer_name)


def profile_encoders(cfg: dict[str, Any], inputs: Sequence[str], *, progress: bool = True) -> list[str]:
    """Train the profile's encoders for several input types side by side, one torch thread each; the types trained.

    Two small networks on two cores finish sooner side by side than one after the other with
    two threads each (``benchmarks/concurrency.py``). Each run is the one :func:`profile_encoder`
    makes alone with ``train_threads`` = 1 (the thread count is not part of a run name), so the
    later calls reuse its checkpoint. Input types whose encoders are finished are skipped;
    ``cfg["workers"]`` processes at most (0 = one per core).
    """
    path = dataset.ensure(DatasetSettings.from_profile(cfg))
    settings = EncoderSettings.from_profile(cfg)
    missing = [i for i in inputs if not all(train.finished(train.checkpoint_path(name), settings.epochs)
                                            for role, (name, _) in profile_run_names(cfg, i, path).items()
                                            if role.startswith("encoder"))]
    if not missing:
        return []
    n_train = len(RadarFaceDataset(path, missing[0], "train"))
    steps = settings.ensemble * settings.epochs * -(-n_train // settings.batch)
    workers = min(resolve_workers(int(cfg["workers"])), len(missing))
    with process_context().Manager() as manager, progress_bars.bar(
            total=steps * len(missing), unit="batch", mininterval=2.0, desc=f"encoders {', '.join(missing)}",
            disable=not progress) as bar:
        done = manager.Queue()

        def follow() -> None:
            """Move the bar by what the workers put (1 per batch) until the None put at the end."""
            for n in iter(done.get, None):
                bar.update(n)

        follower = threading.Thread(target=follow, daemon=True)
        follower.start()
        try:
            # Workers may fork from a server started earlier: give them this process's data, runs and stage files.
            own = {k: v for k, v in os.environ.items() if k.startswith("RADARFACE_")}
            list(process_map(partial(_train_profile_encoder, dict(cfg, train_threads=1), own, done), missing, workers))
        finally:
            done.put(None)
            follower.join()
    return missing


def _train_profile_encoder(cfg: dict[str, Any], environ: dict[str, str], done: Any, inputs: str) -> str:
    """Worker of :func:`profile_encoders`: train the profile's encoder for ``inputs`` with the ``RADARFACE_*``
    variables ``environ``, put 1 on ``done`` per batch."""
    for key in [k for k in os.environ if k.startswith("RADARFACE_")]:
        del os.environ[key]
    os.environ.update(environ)
    _, _, name = profile_encoder(cfg, encoder_data(cfg, inputs), progress=False,
                                 on_batch_end=lambda *_: done.put(1))
    return name


def profile_run_names(cfg: dict[str, Any], inputs: str, dataset_path: str | Path) -> dict[str, tuple[str, int]]:
    """Checkpoint names and epochs of a profile's networks for ``inputs``: decoder, encoder (each member), autoencoder."""
    renderer = RendererSettings.from_profile(cfg)
    encoder = EncoderSettings.from_profile(cfg)
    autoencoder = AutoencoderSettings.from_profile(cfg)
    decoder_name = renderer.run_name(DECODER_INPUTS, dataset_path)
    drawn_by = decoder_name if encoder.rendered else None
    out = {"decoder": (decoder_name, renderer.epochs)}
    for i, member in enumerate(encoder.members()):
        out[f"encoder member {i}"] = (member.run_name(inputs, dataset_path, drawn_by), encoder.epochs)
    encoder_name = encoder.run_name(inputs, dataset_path, drawn_by)  # an ensemble's: no file of its own
    out["autoencoder"] = (autoencoder.run_name(inputs, dataset_path, encoder_name, f"{decoder_name}.pt"),
                          autoencoder.epochs)
    return out


def validation_loss(encoder: nn.Module, split: RadarFaceDataset, metric: torch.Tensor | None = None) -> float:
    """The encoder's parameter loss (std²; no drawn samples, no augmentation) on ``split``: training's ``val_loss``.

    For an :class:`~radarface.models.EncoderEnsemble` it is the loss of the averaged prediction.
    """
    return float(train.evaluate_loss(encoder, parameter_loss(split.slices, metric), split)["loss"])


def member_rows(face: MorphableModel, encoder: nn.Module, split: RadarFaceDataset) -> dict[str, dict[str, float]]:
    """Results rows (:func:`radarface.metrics.evaluate`; errors in std², distances in mm) of each member and of the mean.

    Rows ``member 0`` ... and ``ensemble`` for an :class:`~radarface.models.EncoderEnsemble`
    on ``split`` (what averaging buys over each encoder alone); empty for a single encoder.
    """
    if not isinstance(encoder, EncoderEnsemble):
        return {}
    images, true = split.tensors()
    models = {f"member {i}": member for i, member in enumerate(encoder.members)} | {"ensemble": encoder}
    return {name: metrics.evaluate(face, true.numpy(), train.predict(model, images).numpy(), split.slices,
                                   split.denormalise)
            for name, model in models.items()}


# ------------------------------------------------------------------ learned renderer
def build_decoder(settings: RendererSettings, n_params: int, out_channels: int, *, image_size: int) -> LearnedRenderer:
    """The learned renderer of ``settings``, weights seeded ``settings.seed``."""
    with train.seeded(settings.seed):
        return LearnedRenderer(n_params, out_channels, int(image_size), backbone=settings.backbone)


def fit_decoder(settings: RendererSettings, data: dict[str, RadarFaceDataset], *, progress: bool = True,
                **fit_options: Any) -> tuple[LearnedRenderer, FitResult]:
    """Build the learned renderer of ``settings`` and train it (or resume / reuse its checkpoint) on :func:`decoder_data`.

    Loss :func:`~radarface.losses.decoder_loss` with ``settings.background_weight``. Returns
    the decoder (eval mode) and its :class:`~radarface.train.FitResult`.
    """
    train_ds = data["train"]
    if not train_ds.normaliser.include_render:
        raise ValueError("the decoder's targets must include the rendering parameters; use decoder_data(cfg, inputs)")
    model = build_decoder(settings, train_ds.normaliser.dim, train_ds.channels, image_size=train_ds.image_shape[0])
    checkpoint = train.checkpoint_path(settings.run_name(train_ds.inputs, train_ds.path))
    result = train.fit(model, decoder_loss(train_ds.inputs, background_weight=settings.background_weight), train_ds,
                       data.get("val"), epochs=settings.epochs, batch_size=settings.batch, lr=settings.lr,
                       checkpoint=checkpoint, seed=settings.seed, threads=settings.threads, progress=progress,
                       **fit_options)
    return model.eval(), result


# ------------------------------------------------------------------ autoencoder
def fit_autoencoder(settings: AutoencoderSettings, autoencoder: Autoencoder, data: dict[str, RadarFaceDataset], *,
                    encoder_checkpoint: str | Path, decoder_checkpoint: str | Path,
                    metric: torch.Tensor | None = None, progress: bool = True, **fit_options: Any) -> FitResult:
    """Train ``autoencoder``'s encoder in place (or load its checkpoint) on :func:`decoder_data` splits.

    Loss :func:`~radarface.losses.autoencoder_loss` (L_img + λ·L_param with
    ``settings.param_weight`` and the parameter ``metric``). The run's name covers the two
    checkpoints it starts from. The autoencoder is left in eval mode.
    """
    train_ds = data["train"]
    name = settings.run_name(train_ds.inputs, train_ds.path, encoder_checkpoint, decoder_checkpoint)
    loss = autoencoder_loss(train_ds.inputs, param_weight=settings.param_weight,
                            background_weight=settings.background_weight, metric=metric)
    fit_options.setdefault("select", settings.select)
    result = train.fit(autoencoder, loss, train_ds, data.get("val"), epochs=settings.epochs,
                       batch_size=settings.batch, lr=settings.lr, checkpoint=train.checkpoint_path(name),
                       seed=settings.seed, threads=settings.threads, progress=progress, **fit_options)
    autoencoder.eval()
    return result


@dataclass
class TrainedNetworks:
    """Notebook 04's encoder and notebook 06's autoencoder for one input type, with their data splits."""

    encoder: nn.Module
    autoencoder: Autoencoder
    fits: dict[str, FitResult]
    data: dict[str, RadarFaceDataset]
    encoder_checkpoint: str


def trained_networks(cfg: dict[str, Any], inputs: str, decoder: nn.Module, *, decoder_checkpoint: str | Path,
                     decoder_inputs: str = DECODER_INPUTS, progress: bool = True) -> TrainedNetworks:
    """The profile's encoder and autoencoder for ``inputs``, loaded from their checkpoints (trained if missing).

    The autoencoder starts from copies of the encoder and of ``decoder`` (neither is changed).
    """
    encoder, enc_fit, enc_name = profile_encoder(cfg, encoder_data(cfg, inputs), progress=progress)
    data = decoder_data(cfg, inputs)
    settings = AutoencoderSettings.from_profile(cfg)
    autoencoder = Autoencoder(copy.deepcopy(encoder), copy.deepcopy(decoder), channels_for(inputs, decoder_inputs))
    face = None if settings.parameter_loss == "parameters" else load_model(cfg["model"], cfg["n_shape"],
                                                                            cfg["n_expression"])
    ae_fit = fit_autoencoder(settings, autoencoder, data, encoder_checkpoint=enc_name,
                             decoder_checkpoint=decoder_checkpoint, metric=face_metric(settings.parameter_loss, face),
                             progress=progress)
    return TrainedNetworks(encoder, autoencoder, {"encoder": enc_fit, "autoencoder": ae_fit}, data, enc_name)


# ------------------------------------------------------------------ domain gap (notebook 07)
def finetune_augmented(settings: GapSettings, encoder: nn.Module, data: dict[str, RadarFaceDataset], *,
                       augmented: bool, base_checkpoint: str, progress: bool = True) -> tuple[nn.Module, FitResult]:
    """A copy of the trained ``encoder``, trained ``settings.epochs`` more at ``settings.lr``, with ``settings.augment``
    when ``augmented`` (else the control: the same epochs without it).

    Checkpointed under :meth:`GapSettings.run_name`, keyed by ``base_checkpoint`` (the encoder's run name).
    """
    train_ds = data["train"]
    model = copy.deepcopy(encoder).train()
    loss = parameter_loss(train_ds.slices)
    if augmented:
        loss = augmented_loss(loss, settings.augment, train_ds.fields)
    name = settings.run_name(train_ds.inputs, base_checkpoint, augmented=augmented)
    result = train.fit(model, loss, train_ds, data.get("val"), epochs=settings.epochs, batch_size=settings.batch,
                       lr=settings.lr, checkpoint=train.checkpoint_path(name), seed=settings.seed + 1,
                       threads=settings.threads, progress=progress)
    return model.eval(), result

"""The supervised encoder (paper §1 point 3): radar image(s) to normalised face parameters.

Three networks side by side, as in the paper: one for the shape coefficients, one for the
expression coefficients (outputs ``3·tanh``, so within ±3 standard deviations) and one
for the pose (and the rendering parameters when they are predicted too, unbounded). The
output is the dataset's normalised target vector, same column layout
(:attr:`radarface.dataset.RadarFaceDataset.slices`): shape, expression, pose[, render].

Backbones (``backbone``):

- ``"resnet50"`` (profile ``paper``): two torchvision ResNet-50 and a torchvision AlexNet,
  no pretrained weights, stems adapted to the image size (:mod:`.backbones`).
- ``"resnet18"``: the same with ResNet-18 and AlexNet at full width.
- ``"resnet18-narrow"`` (profile ``cpu``): ResNet-18 at a quarter width (stages 16–128
  wide) and an AlexNet at a quarter width without dropout: about a minute per epoch of
  8,000 images of 2 × 64 × 64 px on 2 CPU cores (half width took about 2.5 times as long).
- ``"tiny"`` (profile ``smoke``): three small CNNs.
- ``"plain"`` (beyond the paper): ONE plain CNN (:func:`.backbones.plain_cnn`) with one
  linear head for all targets, unbounded; ``"plain-average"`` the same with a global
  average pool instead of the flattened map; ``"tiny-shared"`` one tiny CNN.

``center_depth`` (beyond the paper): the shape and expression networks see the depth
channel with the face's mean depth removed and the relief scaled to about unit size
(:func:`centred_depth`), so a face's distance (±50 mm of pose, a fifth of the depth
window) does not sit on top of the millimetres that shape and expression change; the pose
network sees the raw images (a shared network sees both).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from radarface.models import backbones

if TYPE_CHECKING:
    from radarface.augment import Augment
    from radarface.dataset import RadarFaceDataset
    from radarface.train import FitResult

#: Output bound of the shape and expression heads, in standard deviations.
COEFFICIENT_BOUND: float = 3.0

#: backbone name -> (factory for the shape and expression networks, factory for the pose network);
#: each factory is ``(in_channels, n_out, image_size) -> nn.Module``.
BACKBONES: dict[str, tuple[Callable[..., nn.Module], Callable[..., nn.Module]]] = {
    "resnet50": (partial(backbones.resnet, depth=50), partial(backbones.alexnet, width=1.0, dropout=0.5)),
    "resnet18": (partial(backbones.resnet, depth=18, width=64), partial(backbones.alexnet, width=1.0, dropout=0.5)),
    "resnet18-narrow": (partial(backbones.resnet, depth=18, width=16),
                        partial(backbones.alexnet, width=0.25, dropout=0.0)),
    "tiny": (partial(backbones.tiny_cnn, width=8), partial(backbones.tiny_cnn, width=8)),
}
#: backbone name -> factory of ONE network predicting every target (beyond the paper: one trunk,
#: one linear head, outputs unbounded); ``(in_channels, n_out, image_size) -> nn.Module``.
SHARED_BACKBONES: dict[str, Callable[..., nn.Module]] = {
    "plain": partial(backbones.plain_cnn, width=32, blocks=4),
    "plain-average": partial(backbones.plain_cnn, width=32, blocks=4, pool="average"),
    "tiny-shared": partial(backbones.tiny_cnn, width=8),
}


class Encoder(nn.Module):
    """Radar images (B, C, H, W) in [0, 1] -> normalised targets (B, Ks + Ke + n_pose + n_render).

    Args:
        in_channels: 1 (amplitude or depth) or 2 (both, amplitude first).
        image_size: H = W in px; adapts the backbones' stems (see :mod:`.backbones`).
        n_shape, n_expression: coefficient counts Ks, Ke (outputs ``3·tanh``).
        n_pose: pose outputs (6: yaw, pitch, roll, tx, ty, tz, normalised).
        n_render: rendering-parameter outputs (0 = not predicted).
        backbone: a key of :data:`BACKBONES`.
        center_depth: index of the depth channel to centre for the shape and expression
            networks (:func:`centred_depth`), or None.

    >>> enc = Encoder(2, 32, 10, 7, backbone="tiny")
    >>> enc(torch.zeros(3, 2, 32, 32)).shape
    torch.Size([3, 23])
    """

    def __init__(self, in_channels: int, image_size: int, n_shape: int, n_expression: int, n_pose: int = 6,
                 n_render: int = 0, backbone: str = "resnet50", center_depth: int | None = None):
        super().__init__()
        if center_depth is not None and not (isinstance(center_depth, int) and 0 <= center_depth < in_channels):
            raise ValueError(f"center_depth must be a channel index in [0, {in_channels}) or None, got {center_depth!r}")
        self.center_depth = center_depth
        if backbone not in BACKBONES and backbone not in SHARED_BACKBONES:
            raise ValueError(f"backbone must be one of {sorted(BACKBONES) + sorted(SHARED_BACKBONES)}, got {backbone!r}")
        for name, value in (("n_shape", n_shape), ("n_expression", n_expression), ("n_pose", n_pose),
                            ("n_render", n_render)):
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
        if n_shape + n_expression + n_pose + n_render == 0:
            raise ValueError("the encoder needs at least one output; all counts are 0")
        self.in_channels, self.image_size, self.backbone = in_channels, image_size, backbone
        self.sizes = {"shape": n_shape, "expression": n_expression, "pose": n_pose, "render": n_render}
        if backbone in SHARED_BACKBONES:
            # one network; with centring it sees the raw channels and the centred depth beside them
            extra = 0 if center_depth is None else 1
            self.heads = nn.ModuleDict({"all": SHARED_BACKBONES[backbone](in_channels + extra, self.n_outputs,
                                                                          image_size)})
            return
        coefficient_net, pose_net = BACKBONES[backbone]
        heads = {"shape": coefficient_net, "expression": coefficient_net, "pose": pose_net}
        counts = {"shape": n_shape, "expression": n_expression, "pose": n_pose + n_render}
        self.heads = nn.ModuleDict({name: heads[name](in_channels, counts[name], image_size)
                                    for name in heads if counts[name] > 0})

    @property
    def slices(self) -> dict[str, slice]:
        """Columns of each group (shape, expression, pose[, render]) in the output."""
        out, start = {}, 0
        for name, size in self.sizes.items():
            if size or name != "render":
                out[name] = slice(start, start + size)
                start += size
        return out

    @property
    def n_outputs(self) -> int:
        """Length D of the output vector."""
        return sum(self.sizes.values())

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Normalised targets (B, D) from images (B, C, H, W)."""
        if images.ndim != 4 or images.shape[1] != self.in_channels:
            raise ValueError(f"images must be (B, {self.in_channels}, H, W), got {tuple(images.shape)}")
        if "all" in self.heads:
            if self.center_depth is not None:
                images = torch.cat([images, centred_depth(images, self.center_depth)[:, self.center_depth:
                                                                                     self.center_depth + 1]], dim=1)
            return self.heads["all"](images)
        parts = []
        face_images = images if self.center_depth is None else centred_depth(images, self.center_depth)
        for name in ("shape", "expression"):
            if name in self.heads:
                parts.append(COEFFICIENT_BOUND * torch.tanh(self.heads[name](face_images)))
        if "pose" in self.heads:
            parts.append(self.heads["pose"](images))
        return torch.cat(parts, dim=1)

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, image_size={self.image_size}, backbone={self.backbone!r}, "
                f"sizes={self.sizes}, center_depth={self.center_depth}")


class EncoderEnsemble(nn.Module):
    """Several encoders of one output layout (trained from different seeds): images -> their mean prediction (B, D).

    Averaging encoders whose errors are partly independent lowers the error of the mean
    below each member's (the bounded shape and expression outputs stay within ±3).

    >>> ens = EncoderEnsemble([Encoder(1, 32, 10, 7, backbone="tiny") for _ in range(2)])
    >>> ens(torch.zeros(3, 1, 32, 32)).shape, ens.n_outputs
    (torch.Size([3, 23]), 23)
    """

    def __init__(self, members: list[Encoder]):
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one encoder")
        layouts = {(m.in_channels, m.n_outputs) for m in members}
        if len(layouts) != 1:
            raise ValueError(f"ensemble members must share input channels and outputs, got {sorted(layouts)}")
        self.members = nn.ModuleList(members)

    @property
    def in_channels(self) -> int:
        """Image channels C the members read."""
        return self.members[0].in_channels

    @property
    def slices(self) -> dict[str, slice]:
        """Columns of each group in the output (the members')."""
        return self.members[0].slices

    @property
    def n_outputs(self) -> int:
        """Length D of the output vector."""
        return self.members[0].n_outputs

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """The members' mean normalised targets (B, D) from images (B, C, H, W)."""
        return torch.stack([member(images) for member in self.members]).mean(dim=0)


#: Factor on the centred depth (:func:`centred_depth`): a face's relief, about 0.11 of the depth
#: window (standard deviation over its pixels in the cpu dataset), becomes about 0.9.
DEPTH_RELIEF_SCALE: float = 8.0


def centred_depth(images: torch.Tensor, channel: int, scale: float = DEPTH_RELIEF_SCALE) -> torch.Tensor:
    """``images`` (B, C, H, W) with depth channel ``channel`` replaced by each face's depth minus its mean, × ``scale``.

    Background pixels (depth 0) stay 0, so the face's mean sits at the background's level and
    the relief, not the mask's edge, is what the channel shows.

    >>> images = torch.zeros(1, 1, 2, 2); images[0, 0, 0] = torch.tensor([0.5, 0.75])
    >>> centred_depth(images, 0, scale=4.0)[0, 0].tolist()
    [[-0.5, 0.5], [0.0, 0.0]]
    """
    depth = images[:, channel]
    face = depth > 0
    mean = (depth * face).sum(dim=(1, 2)) / face.sum(dim=(1, 2)).clamp(min=1)
    centred = torch.where(face, (depth - mean[:, None, None]) * scale, torch.zeros_like(depth))
    return torch.cat([images[:, :channel], centred[:, None], images[:, channel + 1:]], dim=1)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


LossFn = Callable[[nn.Module, tuple[torch.Tensor, ...]], tuple[torch.Tensor, dict[str, float]]]


def parameter_loss(slices: dict[str, slice], metric: torch.Tensor | None = None) -> LossFn:
    """The encoder's loss for :func:`radarface.train.fit`: the paper's L2 on the normalised targets.

    ``slices`` (group -> columns) name the per-group squared errors logged beside the loss.
    ``metric`` (K, K), K = shape + expression columns: the face coefficients' error ``d``
    counts as ``dᵀ M d / mean(diag M)`` instead of ``|d|²``. With
    :func:`radarface.metrics.vertex_metric` that is the mean squared vertex distance over
    the face region (rescaled to std² units), so coefficients count by how far they move
    the face; None (the paper's) is the identity.
    """
    k = slices["shape"].stop - slices["shape"].start + slices["expression"].stop - slices["expression"].start
    error = parameter_error(k, metric)

    def loss_fn(model: nn.Module, batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, dict[str, float]]:
        images, targets = batch[0], batch[1]
        pred = model(images)
        if pred.shape != targets.shape:
            raise ValueError(f"encoder output {tuple(pred.shape)} does not match targets {tuple(targets.shape)}; "
                             "build the encoder with the dataset's group sizes (n_render, include_render)")
        squared = (pred - targets).detach() ** 2
        logs = {name: float(squared[:, cols].mean()) for name, cols in slices.items() if cols.stop > cols.start}
        return error(pred, targets), logs

    return loss_fn


def parameter_error(k: int, metric: Any = None) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``error(pred, targets)`` (B, D) -> mean squared error (std²), the first ``k`` columns weighted by ``metric``.

    With ``metric`` (k, k) the face coefficients' error ``d`` counts as ``dᵀ M d / mean(diag M)``
    (see :func:`parameter_loss`); None is the plain mean squared error.
    """
    if metric is not None:
        metric = torch.as_tensor(metric, dtype=torch.float32)
        if metric.shape != (k, k):
            raise ValueError(f"metric must be ({k}, {k}) for {k} shape + expression columns, got {tuple(metric.shape)}")
        metric = metric / metric.diagonal().mean()

    def error(pred: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        diff = pred - targets
        if metric is None:
            return (diff**2).mean()
        face = ((diff[:, :k] @ metric) * diff[:, :k]).sum(dim=1)
        return (face + (diff[:, k:] ** 2).sum(dim=1)).mean() / diff.shape[1]

    return error


def face_metric(cfg: dict[str, Any]) -> torch.Tensor | None:
    """The metric of the profile's ``encoder_loss``: the face model's vertex metric for "vertices", None for "parameters"."""
    kind = cfg.get("encoder_loss", "parameters")
    if kind not in ENCODER_LOSSES:
        raise ValueError(f"encoder_loss must be one of {ENCODER_LOSSES}, got {kind!r}")
    if kind == "parameters":
        return None
    from radarface.facemodel import load_model
    from radarface.metrics import vertex_metric

    return torch.as_tensor(vertex_metric(load_model(cfg["model"], cfg["n_shape"], cfg["n_expression"])))


#: ``encoder_loss`` settings: the paper's parameter L2, or the same with the face coefficients
#: weighted by their vertex displacement (:func:`parameter_loss` with a metric).
ENCODER_LOSSES: tuple[str, ...] = ("parameters", "vertices")


def encoder_loss(cfg: dict[str, Any], slices: dict[str, slice], channels: tuple[str, ...], *,
                 renderer: nn.Module | None = None) -> LossFn:
    """The training loss a profile asks for: ``encoder_loss`` ("parameters" or "vertices", the latter
    with the face model's :func:`~radarface.metrics.vertex_metric`), randomised by ``encoder_augment``
    (an :class:`~radarface.augment.Augment` dict, True for its defaults, None or False for none)
    while training, with ``encoder_rendered`` extra samples per sample drawn by ``renderer``
    (:mod:`radarface.models.rendered`; needed when that share is > 0)."""
    from radarface.augment import Augment, augmented_loss
    from radarface.models.rendered import rendered_loss

    loss = parameter_loss(slices, face_metric(cfg))
    augment = cfg.get("encoder_augment")
    if augment not in (None, False):
        loss = augmented_loss(loss, Augment.from_config({} if augment is True else augment), channels)
    share = rendered_share(cfg)
    if share:
        if renderer is None:
            raise ValueError(f"encoder_rendered = {share} needs the learned renderer (notebook 05) to draw samples")
        n_targets = max(cols.stop for cols in slices.values())
        loss = rendered_loss(loss, renderer, share, n_shape=slices["shape"].stop - slices["shape"].start,
                             n_expression=slices["expression"].stop - slices["expression"].start,
                             n_targets=n_targets)
    return loss


def rendered_share(cfg: dict[str, Any]) -> float:
    """The profile's ``encoder_rendered``: extra decoder-drawn samples per dataset sample (0 = none, the paper's)."""
    share = cfg.get("encoder_rendered") or 0.0
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0.0 <= float(share) <= 10.0:
        raise ValueError(f"encoder_rendered must be a number in [0, 10] (extra rendered samples per dataset "
                         f"sample), got {share!r}")
    return float(share)


def ensemble_size(cfg: dict[str, Any]) -> int:
    """The profile's ``encoder_ensemble``: how many encoders (weights seeded ``seed``, ``seed + 1``, ...) are averaged."""
    size = cfg.get("encoder_ensemble", 1)
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 10:
        raise ValueError(f"encoder_ensemble must be an integer in [1, 10] (encoders averaged), got {size!r}")
    return size


def member_config(cfg: dict[str, Any], index: int) -> dict[str, Any]:
    """The settings of ensemble member ``index``: the profile's, as a single encoder trained from seed ``seed + index``.

    Only the encoder's seed moves (:func:`encoder_seed`); the dataset and the learned
    renderer stay those of ``seed``, so every member learns from the same data.
    """
    return dict(cfg, encoder_member=int(index), encoder_ensemble=1)


def encoder_seed(cfg: dict[str, Any]) -> int:
    """The seed of the encoder's weights and training order: ``seed`` + its ensemble member index (0 alone)."""
    return int(cfg["seed"]) + int(cfg.get("encoder_member", 0))


def build_encoder(cfg: dict[str, Any], in_channels: int, slices: dict[str, slice], *,
                  image_size: int | None = None, fields: tuple[str, ...] | None = None) -> Encoder:
    """The encoder of a resolved profile ``cfg`` for targets laid out as ``slices``, seeded by :func:`encoder_seed`.

    ``fields``: the image channels' names; with ``cfg["encoder_center_depth"]`` the one named
    ``depth`` is centred for the shape and expression networks.
    """
    from radarface.train import seeded

    sizes = {name: cols.stop - cols.start for name, cols in slices.items()}
    center = None
    if cfg.get("encoder_center_depth") and fields is not None and "depth" in fields:
        center = tuple(fields).index("depth")
    with seeded(encoder_seed(cfg)):
        return Encoder(in_channels, int(image_size or cfg["image_size"]), sizes["shape"], sizes["expression"],
                       sizes.get("pose", 6), sizes.get("render", 0), backbone=cfg["encoder_backbone"],
                       center_depth=center)


def validation_loss(cfg: dict[str, Any], encoder: nn.Module, split: RadarFaceDataset) -> float:
    """The profile's encoder loss (``encoder_loss``; no drawn samples, no augmentation) of ``encoder`` on ``split``, std².

    What training logs as ``val_loss`` for a single encoder; for an :class:`EncoderEnsemble`
    it is the loss of the averaged prediction.
    """
    from radarface.train import evaluate_loss

    return float(evaluate_loss(encoder, parameter_loss(split.slices, face_metric(cfg)), split)["loss"])


def member_rows(face: Any, encoder: nn.Module, split: RadarFaceDataset) -> dict[str, dict[str, float]]:
    """Results rows (:func:`radarface.metrics.evaluate`; errors in std², distances in mm) of each member and of the mean.

    Rows ``member 0`` ... and ``ensemble`` for an :class:`EncoderEnsemble` on ``split``
    (what averaging buys over each encoder alone); empty for a single encoder.
    """
    from radarface import metrics
    from radarface.train import predict

    if not isinstance(encoder, EncoderEnsemble):
        return {}
    images, true = split.tensors()
    models = {f"member {i}": member for i, member in enumerate(encoder.members)} | {"ensemble": encoder}
    return {name: metrics.evaluate(face, true.numpy(), predict(model, images).numpy(), split.slices, split.denormalise)
            for name, model in models.items()}


def encoder_data(cfg: dict[str, Any], inputs: str) -> dict[str, RadarFaceDataset]:
    """Train, val and test splits of the profile's dataset (generated if missing) for ``inputs``.

    Targets include the rendering parameters when ``cfg["encoder_render"]`` is true.
    """
    from radarface import dataset

    path = dataset.ensure(cfg)
    return {split: dataset.RadarFaceDataset(path, inputs, split, include_render=bool(cfg["encoder_render"]))
            for split in ("train", "val", "test")}


def encoder_run_name(cfg: dict[str, Any], inputs: str, dataset_path: str | Path) -> str:
    """Checkpoint name ``encoder_<inputs>_<hash8>``, the hash over every setting that changes the trained weights.

    An ensemble (``encoder_ensemble`` > 1) is named ``encoder_<inputs>_ensemble<k>_<hash8>``
    over its members' names; each member has its own checkpoint.
    """
    from radarface.train import run_name

    size = ensemble_size(cfg)
    if size > 1:
        members = [encoder_run_name(member_config(cfg, i), inputs, dataset_path) for i in range(size)]
        return run_name(f"encoder_{inputs}_ensemble{size}", members=members)
    keys = ("encoder_backbone", "encoder_epochs", "encoder_batch", "encoder_lr", "encoder_render", "encoder_loss",
            "encoder_augment", "encoder_weight_decay", "encoder_select", "encoder_optimizer", "seed")
    if cfg.get("encoder_center_depth") and inputs != "amplitude":
        keys += ("encoder_center_depth",)
    parts = {k: cfg[k] for k in keys}
    if "encoder_center_depth" in parts:  # the centring's form: checkpoints of the earlier form (mean 0.5) are not reused
        parts["encoder_center_depth"] = f"mean 0, x{DEPTH_RELIEF_SCALE:g}"
    if cfg.get("encoder_member"):
        parts["member"] = int(cfg["encoder_member"])
    parts["encoder_augment"] = _augment_settings(cfg.get("encoder_augment"))
    if rendered_share(cfg):
        from radarface.models.decoder import decoder_run_name

        parts["encoder_rendered"] = rendered_share(cfg)
        parts["renderer"] = decoder_run_name(cfg, "both", dataset_path)
    return run_name(f"encoder_{inputs}", dataset=Path(dataset_path).name, **parts)


def _augment_settings(augment: Any) -> dict[str, float] | None:
    """``encoder_augment`` spelt one way per behaviour (None; the full Augment dict) so equal settings share a checkpoint."""
    from radarface.augment import Augment

    if augment is None or augment is False:
        return None
    return Augment.from_config({} if augment is True else augment).as_dict()


def fit_encoder(cfg: dict[str, Any], data: dict[str, RadarFaceDataset], *, progress: bool = True,
                **fit_options: Any) -> tuple[Encoder | EncoderEnsemble, FitResult]:
    """Build the profile's encoder and train it (or resume / reuse its checkpoint) on :func:`encoder_data` splits.

    Schedule from ``cfg``: ``encoder_epochs``, ``encoder_batch``, ``encoder_lr`` (a number or
    ``(start, end)`` decaying linearly over 75 % of the epochs), ``encoder_weight_decay``,
    ``seed``, ``train_threads`` (0 = all cores); loss from :func:`encoder_loss`;
    ``encoder_select`` (a history key such as ``"val_loss"``, or None) keeps the best
    epoch's weights; ``encoder_rendered`` > 0 trains (or loads) the learned renderer first.
    Checkpoint: ``data/checkpoints/`` :func:`encoder_run_name` ``.pt``.
    Returns the trained encoder (eval mode) and the :class:`~radarface.train.FitResult`.
    With ``encoder_ensemble`` = k > 1: an :class:`EncoderEnsemble` of k encoders trained one
    after the other on the same data (:func:`member_config`: weights and batch order seeded
    ``seed`` ... ``seed + k - 1``, each checkpointed on its own), and the
    first member's result with every member's in ``members`` (seconds and epochs summed).
    """
    from radarface import train

    size = ensemble_size(cfg)
    if size > 1:
        runs = [fit_encoder(member_config(cfg, i), data, progress=progress, **fit_options) for i in range(size)]
        fits = [fit for _, fit in runs]
        result = replace(fits[0], members=fits, seconds=sum(f.seconds for f in fits),
                         trained=sum(f.trained for f in fits))
        return EncoderEnsemble([model for model, _ in runs]).eval(), result
    train_ds = data["train"]
    model = build_encoder(cfg, train_ds.channels, train_ds.slices, image_size=train_ds.image_shape[0],
                          fields=tuple(train_ds.fields))
    checkpoint = train.checkpoint_path(encoder_run_name(cfg, train_ds.inputs, train_ds.path))
    loss = encoder_loss(cfg, train_ds.slices, train_ds.fields, renderer=_renderer(cfg, train_ds.inputs, progress))
    result = train.fit(model, loss, train_ds, data.get("val"),
                       epochs=int(cfg["encoder_epochs"]), batch_size=int(cfg["encoder_batch"]), lr=cfg["encoder_lr"],
                       checkpoint=checkpoint, seed=encoder_seed(cfg), threads=int(cfg["train_threads"]) or None,
                       weight_decay=float(cfg["encoder_weight_decay"]), select=cfg["encoder_select"],
                       optimizer=cfg["encoder_optimizer"],
                       progress=progress, **fit_options)
    return model.eval(), result


def _renderer(cfg: dict[str, Any], inputs: str, progress: bool) -> nn.Module | None:
    """The profile's learned renderer (trained if missing) drawing ``inputs`` channels, if ``encoder_rendered`` asks for it."""
    if not rendered_share(cfg):
        return None
    from radarface.models.autoencoder import SelectChannels, channels_for
    from radarface.models.decoder import decoder_data, fit_decoder

    decoder, _ = fit_decoder(cfg, decoder_data(cfg, "both"), progress=progress)
    return SelectChannels(decoder, channels_for(inputs))


def finetune_augmented(cfg: dict[str, Any], encoder: Encoder, data: dict[str, RadarFaceDataset], *,
                       augment: Augment | None, base_checkpoint: str, progress: bool = True
                       ) -> tuple[Encoder, FitResult]:
    """A copy of the trained ``encoder``, trained ``gap_epochs`` more at ``gap_lr`` with ``augment`` (None: without).

    The run without augmentation is the control: the same extra epochs, so a difference
    between the two is the augmentation's, not the longer training's. Checkpointed under a
    name keyed by ``base_checkpoint`` (the encoder's run name) and every setting.
    """
    import copy

    from radarface import train
    from radarface.augment import augmented_loss

    train_ds = data["train"]
    model = copy.deepcopy(encoder).train()
    loss = parameter_loss(train_ds.slices)
    if augment is not None:
        loss = augmented_loss(loss, augment, train_ds.fields)
    name = train.run_name(f"encoder_{train_ds.inputs}_{'augmented' if augment else 'control'}", base=base_checkpoint,
                          epochs=int(cfg["gap_epochs"]), lr=cfg["gap_lr"], seed=int(cfg["seed"]),
                          augment=augment.as_dict() if augment else None)
    result = train.fit(model, loss, train_ds, data.get("val"), epochs=int(cfg["gap_epochs"]),
                       batch_size=int(cfg["encoder_batch"]), lr=cfg["gap_lr"], checkpoint=train.checkpoint_path(name),
                       seed=int(cfg["seed"]) + 1, threads=int(cfg["train_threads"]) or None, progress=progress)
    return model.eval(), result

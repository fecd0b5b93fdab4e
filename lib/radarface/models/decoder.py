"""The learned renderer (paper §1 point 4): normalised parameters to radar images.

A fully connected layer maps the dataset's normalised target vector (shape, expression,
pose, rendering parameters; :attr:`radarface.dataset.RadarFaceDataset.slices` with
``include_render=True``) to a small feature map; residual stages mirroring the encoder's
backbone, run in reverse with ×2 bilinear upsampling between them, grow it to the image
size; a sigmoid keeps the output in [0, 1] like the dataset's images.

Backbones (``backbone``), as for the encoder:

- ``"resnet50"`` (profile ``paper``): torchvision ``Bottleneck`` blocks, stages 2048,
  1024, 512, 256 wide with 3, 6, 4, 3 blocks (ResNet-50's stages reversed).
- ``"resnet18"`` / ``"resnet18-narrow"`` (profile ``cpu``): ``BasicBlock`` s, two per
  stage, 512–64 or 128–16 wide.
- ``"tiny"`` (profile ``smoke``): three upsampling convolutions.

Sizes. The start map is ``image_size / (8·stem)`` px wide, where ``stem`` is the encoder
stem's reduction (:func:`radarface.models.backbones.stem_stride`: 1 up to 45 px, 2 up to
90 px, else 4), so a 32 or 64 px image starts from 4×4, as the encoder's last map. After
the three upsamplings, a mirrored stem upsamples by ``stem`` and two 3×3 convolutions
give the output channels. Sizes that are not a multiple of ``8·stem`` are resized
bilinearly at the end.

Image loss (:func:`image_loss`). Squared error per pixel, averaged per image and
channel with weights, then over channels and images. Amplitude pixels weigh 1: the
amplitude falls continuously to 0 at the dynamic-range floor, so its background is
information (where the face is not) and plain L2 is the paper's loss. Depth pixels are 0
wherever the amplitude is below the floor and jump to 0.3–0.8 on the face: about two
thirds of the pixels of a 32–64 px image are background, and an unweighted L2 spends
most of the decoder's capacity and of the test-time gradient on the silhouette's edge
rather than on the surface. Depth background pixels (target = 0) therefore weigh
``background_weight`` (profile key ``decoder_background_weight``, 0.1: the background
then holds ~15 % of the depth channel's weight, so the silhouette still counts); 1 gives
the paper's plain L2. Normalising by the weights keeps the loss of a constant error
equal to that error squared whatever the mask.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck, conv1x1, conv3x3

from radarface.models.backbones import stem_stride
from radarface.runtime import torch_threads

if TYPE_CHECKING:
    from radarface.dataset import RadarFaceDataset
    from radarface.facemodel import MorphableModel
    from radarface.radar import RadarConfig
    from radarface.train import FitResult

#: backbone -> (block kind, stage widths from the start map outwards, blocks per stage, stem width)
DECODER_BACKBONES: dict[str, tuple[str, tuple[int, ...], tuple[int, ...], int]] = {
    "resnet50": ("bottleneck", (2048, 1024, 512, 256), (3, 6, 4, 3), 64),
    "resnet18": ("basic", (512, 256, 128, 64), (2, 2, 2, 2), 64),
    "resnet18-narrow": ("basic", (128, 64, 32, 16), (2, 2, 2, 2), 16),
    "tiny": ("plain", (32, 16, 8), (1, 1, 1), 8),
}
#: Output channels per input type, amplitude first (the dataset's order).
CHANNELS: dict[str, tuple[str, ...]] = {"amplitude": ("amplitude",), "depth": ("depth",),
                                        "both": ("amplitude", "depth")}


def depth_channels(inputs: str) -> tuple[int, ...]:
    """Indices of the depth channels in images of ``inputs`` ("amplitude", "depth", "both").

    >>> depth_channels("both"), depth_channels("amplitude")
    ((1,), ())
    """
    if inputs not in CHANNELS:
        raise ValueError(f"inputs must be one of {sorted(CHANNELS)}, got {inputs!r}")
    return tuple(i for i, name in enumerate(CHANNELS[inputs]) if name == "depth")


# ------------------------------------------------------------------ the loss
def image_loss(pred: torch.Tensor, target: torch.Tensor, *, depth_channels: Sequence[int] = (),
               background_weight: float = 1.0, depth_weight: float = 1.0, reduction: str = "mean") -> torch.Tensor:
    """Weighted mean squared error of images (B, C, H, W) in [0, 1]; scalar, or (B,) for ``reduction="none"``.

    Each image and channel: ``Σ w·(pred − target)² / Σ w`` with ``w = 1``, except the
    background pixels (``target == 0``) of ``depth_channels``, which weigh
    ``background_weight`` (see the module docstring); then the mean over channels, the
    ``depth_channels`` weighing ``depth_weight`` against 1 for the others (and the mean
    over images for ``"mean"``).

    >>> two = torch.zeros(1, 2, 2, 2); two[:, 1] = 0.5  # error 0 in amplitude, 0.25 in depth
    >>> float(image_loss(torch.zeros_like(two), two, depth_channels=(1,), depth_weight=1 / 3))
    0.0625

    >>> t = torch.zeros(1, 1, 2, 2); t[..., 0, 0] = 0.5
    >>> float(image_loss(torch.zeros_like(t), t))
    0.0625
    >>> float(image_loss(torch.zeros_like(t), t, depth_channels=(0,), background_weight=0.0))
    0.25
    """
    if pred.shape != target.shape or pred.ndim != 4:
        raise ValueError(f"pred and target must both be (B, C, H, W), got {tuple(pred.shape)} and "
                         f"{tuple(target.shape)}")
    if not background_weight >= 0 or not depth_weight >= 0:
        raise ValueError(f"background_weight and depth_weight must be >= 0, got {background_weight}, {depth_weight}")
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    bad = [c for c in depth_channels if not 0 <= c < pred.shape[1]]
    if bad:
        raise ValueError(f"depth_channels {list(depth_channels)} outside the {pred.shape[1]} channels")
    squared = (pred - target) ** 2
    if depth_channels and background_weight != 1.0:
        is_depth = torch.zeros(pred.shape[1], dtype=torch.bool, device=pred.device)
        is_depth[list(depth_channels)] = True
        background = (target <= 0) & is_depth[None, :, None, None]
        weight = torch.where(background, torch.as_tensor(background_weight, dtype=pred.dtype), 1.0)
        per_channel = (weight * squared).sum((2, 3)) / weight.sum((2, 3)).clamp_min(1e-12)
    else:
        per_channel = squared.mean((2, 3))
    if depth_weight != 1.0 and 0 < len(set(depth_channels)) < pred.shape[1]:  # depth-only images: no say
        weights = torch.ones(pred.shape[1], dtype=pred.dtype, device=pred.device)
        weights[list(depth_channels)] = depth_weight
        per_image = (per_channel * weights).sum(1) / weights.sum()
    else:
        per_image = per_channel.mean(1)
    return per_image.mean() if reduction == "mean" else per_image


class ImageLoss(nn.Module):
    """:func:`image_loss` as a module (options fixed at construction)."""

    def __init__(self, *, depth_channels: Sequence[int] = (), background_weight: float = 1.0):
        super().__init__()
        self.depth_channels, self.background_weight = tuple(depth_channels), float(background_weight)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return image_loss(pred, target, depth_channels=self.depth_channels,
                          background_weight=self.background_weight)


# --------------------------------------------------------------- the network
def _block(kind: str, inplanes: int, width: int) -> nn.Module:
    """One residual block from ``inplanes`` to ``width`` channels at the same size (projection if they differ)."""
    if kind == "plain":
        return nn.Sequential(conv3x3(inplanes, width), nn.BatchNorm2d(width), nn.ReLU(inplace=True))
    shortcut = None if inplanes == width else nn.Sequential(conv1x1(inplanes, width), nn.BatchNorm2d(width))
    if kind == "bottleneck":
        block = Bottleneck(inplanes, width // Bottleneck.expansion, downsample=shortcut)
        nn.init.zeros_(block.bn3.weight)  # each block starts as the identity: deep stacks train stably
    else:
        block = BasicBlock(inplanes, width, downsample=shortcut)
        nn.init.zeros_(block.bn2.weight)
    return block


def _upsample(factor: int) -> nn.Module:
    # bilinear + convolution rather than transposed convolutions: no checkerboard patterns
    return nn.Upsample(scale_factor=factor, mode="bilinear", align_corners=False) if factor > 1 else nn.Identity()


class LearnedRenderer(nn.Module):
    """Normalised parameter vectors (B, n_params) -> images (B, out_channels, H, W) in [0, 1].

    Args:
        n_params: length D of the input vector (the dataset's targets with the rendering
            parameters: Ks + Ke + 6 + 4).
        out_channels: 1 (amplitude or depth) or 2 (amplitude, depth).
        image_size: H = W in px (≥ 16).
        backbone: a key of :data:`DECODER_BACKBONES` (see the module docstring).

    >>> dec = LearnedRenderer(27, 2, 32, backbone="tiny")
    >>> dec(torch.zeros(3, 27)).shape
    torch.Size([3, 2, 32, 32])
    """

    def __init__(self, n_params: int, out_channels: int, image_size: int, backbone: str = "resnet50"):
        super().__init__()
        if backbone not in DECODER_BACKBONES:
            raise ValueError(f"backbone must be one of {sorted(DECODER_BACKBONES)}, got {backbone!r}")
        if not isinstance(n_params, int) or n_params < 1:
            raise ValueError(f"n_params must be a positive integer, got {n_params!r}")
        if out_channels not in (1, 2):
            raise ValueError(f"out_channels must be 1 (amplitude or depth) or 2 (both), got {out_channels!r}")
        kind, widths, blocks, stem_width = DECODER_BACKBONES[backbone]
        stem = stem_stride(image_size)  # also checks the size
        stem = 1 if kind == "plain" else stem
        ups = len(widths) - 1 if kind != "plain" else len(widths)
        self.start_size = max(1, round(image_size / (stem * 2 ** ups)))
        self.n_params, self.out_channels, self.image_size, self.backbone = n_params, out_channels, image_size, backbone
        self.fc = nn.Linear(n_params, widths[0] * self.start_size ** 2)
        self.fc_norm = nn.BatchNorm2d(widths[0])
        stages: list[nn.Module] = []
        inplanes = widths[0]
        for i, (width, count) in enumerate(zip(widths, blocks)):
            layers = [_upsample(2 if (i > 0 or kind == "plain") else 1)]
            layers += [_block(kind, inplanes if j == 0 else width, width) for j in range(count)]
            stages.append(nn.Sequential(*layers))
            inplanes = width
        self.stages = nn.Sequential(*stages)
        head: list[nn.Module] = [_upsample(stem)]
        if kind != "plain":  # the stem mirrored: back to the stem's width, then to the images
            head += [conv3x3(inplanes, stem_width), nn.BatchNorm2d(stem_width), nn.ReLU(inplace=True)]
            inplanes = stem_width
        head.append(nn.Conv2d(inplanes, out_channels, 3, padding=1))
        self.head = nn.Sequential(*head)
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d) and m is not self.head[-1]:
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, params: torch.Tensor) -> torch.Tensor:
        """Images (B, C, H, W) in [0, 1] from normalised parameter vectors (B, n_params)."""
        if params.ndim != 2 or params.shape[1] != self.n_params:
            raise ValueError(f"params must be (B, {self.n_params}), got {tuple(params.shape)}")
        x = self.fc(params).view(len(params), -1, self.start_size, self.start_size)
        x = self.head(self.stages(F.relu(self.fc_norm(x))))
        if x.shape[-1] != self.image_size:
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False)
        return torch.sigmoid(x)

    def extra_repr(self) -> str:
        return (f"n_params={self.n_params}, out_channels={self.out_channels}, image_size={self.image_size}, "
                f"backbone={self.backbone!r}, start={self.start_size}x{self.start_size}")


# ------------------------------------------------------------ training
LossFn = Callable[[nn.Module, tuple[torch.Tensor, ...]], tuple[torch.Tensor, dict[str, float]]]


def decoder_loss(inputs: str, *, background_weight: float = 1.0) -> LossFn:
    """Loss for :func:`radarface.train.fit` on batches (images, targets): :func:`image_loss` of ``model(targets)``.

    Logs the plain mean squared error of each channel (``amplitude``, ``depth``) beside it.
    """
    depth = depth_channels(inputs)  # also checks ``inputs``
    names = CHANNELS[inputs]

    def loss_fn(model: nn.Module, batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, dict[str, float]]:
        images, targets = batch[0], batch[1]
        pred = model(targets)
        if pred.shape != images.shape:
            raise ValueError(f"decoder output {tuple(pred.shape)} does not match images {tuple(images.shape)}")
        loss = image_loss(pred, images, depth_channels=depth, background_weight=background_weight)
        squared = ((pred - images) ** 2).detach()
        return loss, {name: float(squared[:, c].mean()) for c, name in enumerate(names)}

    return loss_fn


def build_decoder(cfg: dict[str, Any], n_params: int, out_channels: int, *,
                  image_size: int | None = None) -> LearnedRenderer:
    """The learned renderer of a resolved profile ``cfg`` (``decoder_backbone``), seeded by ``cfg["seed"]``."""
    from radarface.train import seeded

    with seeded(cfg["seed"]):
        return LearnedRenderer(n_params, out_channels, int(image_size or cfg["image_size"]),
                               backbone=cfg["decoder_backbone"])


def decoder_data(cfg: dict[str, Any], inputs: str = "both") -> dict[str, RadarFaceDataset]:
    """Train, val and test splits of the profile's dataset (generated if missing), targets with rendering parameters."""
    from radarface import dataset

    path = dataset.ensure(cfg)
    return {split: dataset.RadarFaceDataset(path, inputs, split, include_render=True)
            for split in ("train", "val", "test")}


def decoder_run_name(cfg: dict[str, Any], inputs: str, dataset_path: str | Path) -> str:
    """Checkpoint name ``decoder_<inputs>_<hash8>``, the hash over every setting that changes the weights."""
    from radarface.train import run_name

    keys = ("decoder_backbone", "decoder_epochs", "decoder_batch", "decoder_lr", "decoder_background_weight", "seed")
    return run_name(f"decoder_{inputs}", dataset=Path(dataset_path).name, **{k: cfg[k] for k in keys})


def fit_decoder(cfg: dict[str, Any], data: dict[str, RadarFaceDataset], *, progress: bool = True,
                **fit_options: Any) -> tuple[LearnedRenderer, FitResult]:
    """Build the profile's learned renderer and train it (or resume / reuse its checkpoint) on :func:`decoder_data`.

    Schedule from ``cfg``: ``decoder_epochs``, ``decoder_batch``, ``decoder_lr``, ``seed``,
    ``train_threads``; loss :func:`decoder_loss` with ``decoder_background_weight``.
    Checkpoint: ``data/checkpoints/`` :func:`decoder_run_name` ``.pt``. Returns the
    decoder (eval mode) and the :class:`~radarface.train.FitResult`.
    """
    from radarface import train

    train_ds = data["train"]
    if not train_ds.normaliser.include_render:
        raise ValueError("the decoder's targets must include the rendering parameters; use decoder_data(cfg, inputs)")
    model = build_decoder(cfg, train_ds.normaliser.dim, train_ds.channels, image_size=train_ds.image_shape[0])
    checkpoint = train.checkpoint_path(decoder_run_name(cfg, train_ds.inputs, train_ds.path))
    result = train.fit(model, decoder_loss(train_ds.inputs, background_weight=float(cfg["decoder_background_weight"])),
                       train_ds, data.get("val"), epochs=int(cfg["decoder_epochs"]),
                       batch_size=int(cfg["decoder_batch"]), lr=cfg["decoder_lr"], checkpoint=checkpoint,
                       seed=int(cfg["seed"]), threads=int(cfg["train_threads"]) or None, progress=progress,
                       **fit_options)
    return model.eval(), result


# -------------------------------------------------- against the physics renderer
RenderFn = Callable[[np.ndarray], np.ndarray]


def decoder_render_fn(decoder: nn.Module, *, batch_size: int = 256) -> RenderFn:
    """``(B, D) normalised vectors -> (B, C, H, W) images`` (numpy float32) by the decoder, eval mode, no gradients."""
    from radarface.train import predict

    return lambda vectors: predict(decoder, torch.as_tensor(np.asarray(vectors), dtype=torch.float32),
                                   batch_size=batch_size).numpy()


def physics_render_fn(face: MorphableModel, config: RadarConfig, ds: RadarFaceDataset, *, seed: int = 0,
                      index: int = 0, nthreads: int = 1) -> RenderFn:
    """``(B, D) normalised vectors -> (B, C, H, W) images`` by the fast physics renderer (``ds``'s channels).

    Every image uses the renderer streams of sample ``index`` of a dataset seeded
    ``seed`` (:func:`radarface.dataset.render_sample`), so two vectors differ only by
    their parameters, not by the diffuse phases or the noise.
    """
    from radarface.dataset import render_sample

    def render_fn(vectors: np.ndarray) -> np.ndarray:
        params = ds.denormalise(np.atleast_2d(np.asarray(vectors, dtype=np.float64)))
        out = []
        for b in range(len(params["shape"])):
            one = {k: v[b] for k, v in params.items()}
            image = render_sample(one, face, config, seed=seed, index=index, nthreads=nthreads)
            out.append(np.stack([getattr(image, name) for name in ds.fields]))
        return np.stack(out).astype(np.float32)

    return render_fn


def sensitivity(render_fn: RenderFn, base: np.ndarray, *, step: float = 1.0) -> np.ndarray:
    """Central differences ``(I(base + step·e_i) − I(base − step·e_i)) / (2·step)``: (D, C, H, W) per unit of parameter i.

    ``base``: a normalised vector (D,); ``render_fn`` as :func:`decoder_render_fn` or
    :func:`physics_render_fn`.
    """
    base = np.asarray(base, dtype=np.float64)
    if base.ndim != 1 or not step > 0:
        raise ValueError(f"base must be a vector (D,) and step > 0, got shape {base.shape}, step {step}")
    shifts = np.eye(len(base)) * step
    images = render_fn(np.concatenate([base + shifts, base - shifts]))
    return (images[: len(base)] - images[len(base):]) / (2 * step)


def sensitivity_summary(decoder_maps: np.ndarray, physics_maps: np.ndarray) -> dict[str, np.ndarray]:
    """Per parameter (D,): RMS over pixels of each sensitivity map and the correlation of the two maps."""
    if decoder_maps.shape != physics_maps.shape:
        raise ValueError(f"maps differ in shape: {decoder_maps.shape} vs {physics_maps.shape}")
    flat_d, flat_p = decoder_maps.reshape(len(decoder_maps), -1), physics_maps.reshape(len(physics_maps), -1)
    dc, pc = flat_d - flat_d.mean(1, keepdims=True), flat_p - flat_p.mean(1, keepdims=True)
    denom = np.linalg.norm(dc, axis=1) * np.linalg.norm(pc, axis=1)
    corr = np.where(denom > 0, (dc * pc).sum(1) / np.where(denom > 0, denom, 1), np.nan)
    return {"decoder_rms": np.sqrt((flat_d ** 2).mean(1)), "physics_rms": np.sqrt((flat_p ** 2).mean(1)),
            "correlation": corr}


def time_learned_renderer(decoder: nn.Module, vectors: torch.Tensor, *, batch_size: int = 1, repeats: int = 3,
                          threads: int = 1) -> float:
    """Seconds per image of ``decoder`` on ``vectors`` (N, D) in batches of ``batch_size`` (best of ``repeats``)."""
    from radarface.train import predict

    with torch_threads(threads):
        predict(decoder, vectors[:batch_size], batch_size=batch_size)  # warm-up
        best = math.inf
        for _ in range(repeats):
            start = time.perf_counter()
            predict(decoder, vectors, batch_size=batch_size)
            best = min(best, time.perf_counter() - start)
    return best / len(vectors)


def time_physics_renderer(face: MorphableModel, config: RadarConfig, params: dict[str, np.ndarray], *,
                          reference_fraction: int | None = None) -> dict[str, float]:
    """Seconds per face of the fast renderer (one core) on faces ``params`` (B rows), and of the exact reference.

    With ``reference_fraction`` k, the exact reference (the signal synthesis and the
    back-projection of :func:`radarface.radar.render_reference`) runs once, on the first
    face, with the full ``n_tx × n_rx`` array and every frequency but on every k-th
    scatterer and every k-th voxel, and is scaled by k: its cost is linear in both, as
    ``benchmarks/render.py`` measures it. (Scaling a reduced array by its channel count
    instead overstates the time: part of the work grows only with the antenna count;
    measured at the smoke profile, stride 8 scaled to 508 s and stride 4 to 233 s.)
    Returns ``fast_s`` and, with k, ``reference_s`` (full face, extrapolated) and
    ``reference_measured_s`` (the part run).
    """
    from radarface import radar
    from radarface.radar.reference import backproject, synthesize_signal
    from radarface.radar.scatter import surface_scene

    def face_args(b: int) -> tuple[np.ndarray, dict[str, Any]]:
        render_params = radar.render_params_from_vector(np.asarray(params["render"][b], dtype=np.float64))
        return face.vertices(params["shape"][b], params["expression"][b]), render_params

    def fast(b: int) -> float:
        vertices, render_params = face_args(b)
        start = time.perf_counter()
        radar.render(vertices, face.triangles, config, pose=params["pose"][b], render_params=render_params,
                     rng=np.random.default_rng(b), nthreads=1)
        return time.perf_counter() - start

    fast(0)  # warm-up (plans, caches)
    out = {"fast_s": float(np.mean([fast(b) for b in range(len(params["shape"]))]))}
    if reference_fraction:
        k = int(reference_fraction)
        vertices, render_params = face_args(0)
        start = time.perf_counter()
        scene = surface_scene(vertices, face.triangles, config, pose=params["pose"][0],
                              material=render_params["material"], rng=np.random.default_rng(0))
        grid = radar.ImageGrid.from_config(config)
        voxels = grid.voxels(grid.roi(scene.positions, config.roi_margin_mm))
        tx, rx = radar.antennas(config, render_params["aperture_mm"])
        fixed = time.perf_counter() - start
        with torch_threads(1):
            start = time.perf_counter()
            signal = synthesize_signal(scene.subset(slice(None, None, k)), config, tx, rx)
            backproject(signal, config, tx, rx, voxels[::k])
            part = time.perf_counter() - start
        out.update(reference_s=fixed + k * part, reference_measured_s=fixed + part)
    return out

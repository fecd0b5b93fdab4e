"""Typed settings of each stage, built from a profile; each names its own runs.

One frozen dataclass per stage: :class:`EncoderSettings` (paper §1 point 3),
:class:`RendererSettings` (point 4), :class:`AutoencoderSettings` (point 5),
:class:`RefinementSettings` (test-time analysis by synthesis) and :class:`GapSettings`
(notebook 07's domain-gap fine-tuning); the synthetic dataset has
:class:`radarface.dataset.DatasetSettings`, the surrogate measurements
:class:`radarface.measurements.SurrogateSettings`. ``from_profile(cfg)`` reads a resolved
profile (:func:`radarface.profiles.resolve`); the fields' defaults are the paper's.

Run names. A checkpoint is named ``<stage>_<inputs>_<hash8>``, the hash over every field of
the settings (:func:`run_name`) and the inputs the run starts from (dataset file, networks),
so two runs share a checkpoint only when all their settings agree. Fields that change how
fast a run goes but not its weights (``threads``) are marked :data:`SPEED_ONLY` and left out.

>>> from radarface import profiles
>>> s = RendererSettings.from_profile(profiles.resolve("smoke"))
>>> s.backbone, s.epochs, s.background_weight
('tiny', 20, 0.1)
>>> s.run_name("both", "data.h5") == replace(s, threads=4).run_name("both", "data.h5")
True
>>> s.run_name("both", "data.h5") == replace(s, epochs=21).run_name("both", "data.h5")
False
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from radarface.augment import Augment
from radarface.models.encoder import BACKBONES, DEPTH_RELIEF_SCALE, PRECISIONS, SHARED_BACKBONES
from radarface.models.decoder import DECODER_BACKBONES
from radarface.physics_fit import DEPTH_PIXELS, KEEP
from radarface.radar.differentiable import SPECKLE
from radarface.refine import LR_SCHEDULES, PRIOR_CENTERS
from radarface.train import OPTIMIZERS, schedule_from
from radarface.train import run_name as hashed_name

#: Field metadata of settings that change how fast a run goes, not its result; left out of run names.
SPEED_ONLY: dict[str, bool] = {"names_run": False}
#: Field metadata of settings added after runs were named: they name a run only when not at their
#: default, so the runs made before they existed keep their names (and checkpoints).
NAMES_IF_SET: dict[str, str] = {"names_run": "if-set"}
#: ``EncoderSettings.loss`` values: the paper's L2 on the parameters, or the face coefficients weighted
#: by how far they move the face (:func:`radarface.losses.parameter_loss` with a vertex metric).
ENCODER_LOSSES: tuple[str, ...] = ("parameters", "vertices")


def run_name(prefix: str, settings: Any, **inputs: Any) -> str:
    """``<prefix>_<hash8>`` over every field of ``settings`` (but :data:`SPEED_ONLY` ones) and ``inputs``."""
    named = {f.name: getattr(settings, f.name) for f in fields(settings)
             if f.metadata.get("names_run", True) is True
             or (f.metadata.get("names_run") == "if-set" and getattr(settings, f.name) != f.default)}
    return hashed_name(prefix, settings={k: _plain(v) for k, v in named.items()}, **inputs)


def _plain(value: Any) -> Any:
    """A field value as JSON-ready data (dataclasses as dicts of their fields, tuples as lists)."""
    if hasattr(value, "__dataclass_fields__"):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


def _threads(cfg: dict[str, Any]) -> int | None:
    """The profile's ``train_threads`` (0 = all cores) as a thread count or None (all cores)."""
    return int(cfg["train_threads"]) or None


def _lr(value: Any) -> float | tuple:
    """A profile's learning rate (a number or a schedule given as a list or tuple) as a number or a tuple."""
    return tuple(value) if isinstance(value, list) else value


def _augment(value: Any, key: str) -> Augment | None:
    """An :class:`Augment` from a profile value: None / False (none), True (defaults) or a dict of its fields."""
    if value is None or value is False:
        return None
    if value is True:
        return Augment()
    if not isinstance(value, dict):
        raise ValueError(f"{key} must be None, True or a dict of radarface.augment.Augment fields, got {value!r}")
    return Augment.from_config(value)


def _check_choice(name: str, value: Any, choices: Any) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")


def _check_count(name: str, value: Any, low: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


@dataclass(frozen=True)
class EncoderSettings:
    """How the encoder is trained (paper §1 point 3; defaults are the paper's).

    ``lr``: a number, ``(start, end)`` (linear over 75 % of the epochs) or
    ``("one-cycle", peak)``. ``loss``: one of :data:`ENCODER_LOSSES`. ``augment``: image
    randomisation while training, or None. ``select``: a history key whose best epoch is
    kept (None: the last). ``center_depth``: the shape and expression networks see each
    face's depth minus its mean. ``predict_render``: also predict the rendering parameters.
    ``rendered``: extra samples per dataset sample drawn by the learned renderer (0 = none).
    ``ensemble``: encoders from seeds ``seed``, ``seed + 1``, ... averaged; ``member``: which
    one these settings train (its weights and batch order are seeded ``seed + member``).
    ``precision``: the network's arithmetic, one of :data:`radarface.models.encoder.PRECISIONS`.
    """

    backbone: str = "resnet50"
    epochs: int = 200
    batch: int = 50
    lr: float | tuple = (0.01, 0.001)
    optimizer: str = "adam"
    weight_decay: float = 0.0
    loss: str = "parameters"
    augment: Augment | None = None
    select: str | None = None
    center_depth: bool = False
    predict_render: bool = False
    rendered: float = 0.0
    ensemble: int = 1
    member: int = 0
    seed: int = 0
    threads: int | None = field(default=None, metadata=SPEED_ONLY)
    precision: str = field(default="float32", metadata=NAMES_IF_SET)

    def __post_init__(self) -> None:
        _check_choice("encoder_backbone", self.backbone, set(BACKBONES) | set(SHARED_BACKBONES))
        _check_choice("encoder_precision", self.precision, PRECISIONS)
        _check_choice("encoder_optimizer", self.optimizer, OPTIMIZERS)
        _check_choice("encoder_loss", self.loss, ENCODER_LOSSES)
        _check_count("encoder_epochs", self.epochs)
        _check_count("encoder_batch", self.batch)
        schedule_from(self.lr)  # checks the learning rate
        share = self.rendered
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0.0 <= float(share) <= 10.0:
            raise ValueError(f"encoder_rendered must be a number in [0, 10] (extra rendered samples per dataset "
                             f"sample), got {share!r}")
        if isinstance(self.ensemble, bool) or not isinstance(self.ensemble, int) or not 1 <= self.ensemble <= 10:
            raise ValueError(f"encoder_ensemble must be an integer in [1, 10] (encoders averaged), got "
                             f"{self.ensemble!r}")
        _check_count("member", self.member, 0)

    @classmethod
    def from_profile(cls, cfg: dict[str, Any]) -> EncoderSettings:
        """The encoder settings of a resolved profile (keys ``encoder_*``, ``seed``, ``train_threads``)."""
        return cls(backbone=cfg["encoder_backbone"], epochs=int(cfg["encoder_epochs"]), batch=int(cfg["encoder_batch"]),
                   lr=_lr(cfg["encoder_lr"]),
                   optimizer=cfg["encoder_optimizer"], weight_decay=float(cfg["encoder_weight_decay"]),
                   loss=cfg["encoder_loss"], augment=_augment(cfg["encoder_augment"], "encoder_augment"),
                   select=cfg["encoder_select"], center_depth=bool(cfg["encoder_center_depth"]),
                   predict_render=bool(cfg["encoder_render"]), rendered=float(cfg["encoder_rendered"] or 0.0),
                   ensemble=cfg["encoder_ensemble"], seed=int(cfg["seed"]), threads=_threads(cfg),
                   precision=cfg["encoder_precision"])

    @property
    def weights_seed(self) -> int:
        """The seed of this encoder's initial weights and batch order: ``seed + member``."""
        return self.seed + self.member

    def members(self) -> list[EncoderSettings]:
        """The settings of each ensemble member: one encoder each, seeded ``seed + i`` (itself when ``ensemble`` is 1)."""
        if self.ensemble == 1:
            return [self]
        return [replace(self, member=i, ensemble=1) for i in range(self.ensemble)]

    def run_name(self, inputs: str, dataset_path: str | Path, renderer: str | None = None) -> str:
        """Checkpoint name ``encoder_<inputs>_<hash8>``; an ensemble's ``encoder_<inputs>_ensemble<k>_<hash8>``.

        ``renderer``: the run name of the learned renderer that draws the extra samples
        (needed when ``rendered`` > 0). An ensemble's name covers its members' names.
        """
        if self.rendered and renderer is None:
            raise ValueError(f"encoder_rendered = {self.rendered} names the learned renderer that draws the samples; "
                             "pass renderer=<its run name>")
        if self.ensemble > 1:
            members = [m.run_name(inputs, dataset_path, renderer) for m in self.members()]
            return hashed_name(f"encoder_{inputs}_ensemble{self.ensemble}", members=members)
        # the centring's form is code, not a setting: its scale names the run so that checkpoints
        # trained with another form (mean 0.5, unscaled) are not reused
        form = {"depth_relief_scale": DEPTH_RELIEF_SCALE} if self.center_depth else {}
        return run_name(f"encoder_{inputs}", self, dataset=Path(dataset_path).name,
                        renderer=renderer if self.rendered else None, **form)


@dataclass(frozen=True)
class RendererSettings:
    """How the learned renderer is trained (paper §1 point 4; defaults are the paper's).

    ``background_weight``: weight of the depth image's background pixels in the image loss
    (1 = the paper's plain L2; :func:`radarface.losses.image_loss`).
    """

    backbone: str = "resnet50"
    epochs: int = 300
    batch: int = 150
    lr: float | tuple = 0.001
    background_weight: float = 1.0
    seed: int = 0
    threads: int | None = field(default=None, metadata=SPEED_ONLY)

    def __post_init__(self) -> None:
        _check_choice("decoder_backbone", self.backbone, DECODER_BACKBONES)
        _check_count("decoder_epochs", self.epochs)
        _check_count("decoder_batch", self.batch)
        schedule_from(self.lr)
        if not self.background_weight >= 0:
            raise ValueError(f"decoder_background_weight must be >= 0, got {self.background_weight!r}")

    @classmethod
    def from_profile(cls, cfg: dict[str, Any]) -> RendererSettings:
        """The learned renderer's settings of a resolved profile (keys ``decoder_*``, ``seed``, ``train_threads``)."""
        return cls(backbone=cfg["decoder_backbone"], epochs=int(cfg["decoder_epochs"]), batch=int(cfg["decoder_batch"]),
                   lr=_lr(cfg["decoder_lr"]), background_weight=float(cfg["decoder_background_weight"]),
                   seed=int(cfg["seed"]), threads=_threads(cfg))

    def run_name(self, inputs: str, dataset_path: str | Path) -> str:
        """Checkpoint name ``decoder_<inputs>_<hash8>``."""
        return run_name(f"decoder_{inputs}", self, dataset=Path(dataset_path).name)


@dataclass(frozen=True)
class AutoencoderSettings:
    """How the model-based autoencoder is trained (paper §1 point 5; defaults are the paper's).

    ``param_weight``: λ in ``L_img + λ·L_param``. ``parameter_loss``: the encoder's loss kind
    (:data:`ENCODER_LOSSES`) used as L_param. ``background_weight``: as the learned
    renderer's. ``select``: a history key whose best epoch is kept (None: the last).
    """

    epochs: int = 300
    batch: int = 50
    lr: float | tuple = 0.001
    param_weight: float = 1.0
    parameter_loss: str = "parameters"
    background_weight: float = 1.0
    select: str | None = None
    seed: int = 0
    threads: int | None = field(default=None, metadata=SPEED_ONLY)

    def __post_init__(self) -> None:
        _check_count("autoencoder_epochs", self.epochs)
        _check_count("autoencoder_batch", self.batch)
        _check_choice("encoder_loss", self.parameter_loss, ENCODER_LOSSES)
        schedule_from(self.lr)
        if not self.param_weight >= 0 or not self.background_weight >= 0:
            raise ValueError(f"param_loss_weight and decoder_background_weight must be >= 0, got "
                             f"{self.param_weight!r}, {self.background_weight!r}")

    @classmethod
    def from_profile(cls, cfg: dict[str, Any]) -> AutoencoderSettings:
        """The autoencoder's settings of a resolved profile (``autoencoder_*``, ``param_loss_weight``, ...)."""
        return cls(epochs=int(cfg["autoencoder_epochs"]), batch=int(cfg["autoencoder_batch"]),
                   lr=_lr(cfg["autoencoder_lr"]), param_weight=float(cfg["param_loss_weight"]),
                   parameter_loss=cfg["encoder_loss"], background_weight=float(cfg["decoder_background_weight"]),
                   select=cfg["autoencoder_select"], seed=int(cfg["seed"]), threads=_threads(cfg))

    def run_name(self, inputs: str, dataset_path: str | Path, encoder_checkpoint: str | Path,
                 decoder_checkpoint: str | Path) -> str:
        """Checkpoint name ``autoencoder_<inputs>_<hash8>``, over its settings and the two networks it starts from."""
        return run_name(f"autoencoder_{inputs}", self, dataset=Path(dataset_path).name,
                        encoder=Path(encoder_checkpoint).name, decoder=Path(decoder_checkpoint).name)


@dataclass(frozen=True)
class RefinementSettings:
    """Test-time analysis by synthesis (:mod:`radarface.refine`): (a) on the parameters, (b) on the encoder's weights.

    ``steps``, ``lr``: Adam steps and learning rate of (a); ``encoder_steps``,
    ``encoder_lr``, ``encoder_batch`` (None: all images per step) of (b).
    ``prior_weight``: weight of the N(0, 1) prior (0: the paper's image loss alone);
    ``prior_center``: ``"zero"`` or ``"start"`` (a); ``prior_pose``: False leaves the pose
    out of the prior. ``depth_weight``: the depth channel's weight against amplitude;
    ``background_weight``: as the learned renderer's image loss. ``lr_schedule``:
    ``"constant"`` or ``"cosine"``. ``blend``: the blended row's weight of (a) (beyond the paper).
    """

    steps: int = 200
    lr: float = 0.01
    encoder_steps: int = 200
    encoder_lr: float = 1e-4
    encoder_batch: int | None = None
    prior_weight: float = 0.0
    prior_center: str = "zero"
    prior_pose: bool = True
    depth_weight: float = 1.0
    background_weight: float = 1.0
    lr_schedule: str = "constant"
    blend: float = 0.5
    seed: int = 0
    threads: int | None = field(default=None, metadata=SPEED_ONLY)

    def __post_init__(self) -> None:
        _check_count("tta_steps", self.steps, 0)
        _check_count("tta_encoder_steps", self.encoder_steps, 0)
        if self.encoder_batch is not None:
            _check_count("tta_encoder_batch", self.encoder_batch)
        _check_choice("tta_prior_center", self.prior_center, PRIOR_CENTERS)
        _check_choice("tta_lr_schedule", self.lr_schedule, LR_SCHEDULES)
        if not 0.0 <= self.blend <= 1.0:
            raise ValueError(f"tta_blend must be in [0, 1] (1 = the refined parameters), got {self.blend!r}")

    @classmethod
    def from_profile(cls, cfg: dict[str, Any]) -> RefinementSettings:
        """The test-time settings of a resolved profile (keys ``tta_*``, ``decoder_background_weight``, ...).

        ``tta_encoder_steps`` None means ``tta_steps``.
        """
        steps = cfg["tta_encoder_steps"]
        batch = cfg["tta_encoder_batch"]
        return cls(steps=int(cfg["tta_steps"]), lr=float(cfg["tta_lr"]),
                   encoder_steps=int(cfg["tta_steps"] if steps is None else steps),
                   encoder_lr=float(cfg["tta_encoder_lr"]), encoder_batch=None if batch is None else int(batch),
                   prior_weight=float(cfg["tta_prior_weight"]), prior_center=cfg["tta_prior_center"],
                   prior_pose=bool(cfg["tta_prior_pose"]), depth_weight=float(cfg["tta_depth_weight"]),
                   background_weight=float(cfg["decoder_background_weight"]), lr_schedule=cfg["tta_lr_schedule"],
                   blend=float(cfg["tta_blend"]), seed=int(cfg["seed"]), threads=_threads(cfg))


@dataclass(frozen=True)
class GapSettings:
    """Notebook 07's remedy for the domain gap: the trained encoder, ``epochs`` more at ``lr`` with ``augment``.

    The control run trains the same epochs without ``augment`` (:func:`run_name` with
    ``augmented=False``), so a difference between the two is the randomisation's.
    """

    epochs: int = 10
    lr: float | tuple = 1e-4
    batch: int = 50
    augment: Augment | None = field(default_factory=Augment)
    seed: int = 0
    threads: int | None = field(default=None, metadata=SPEED_ONLY)

    @classmethod
    def from_profile(cls, cfg: dict[str, Any]) -> GapSettings:
        """The gap settings of a resolved profile (``gap_*``; batch ``encoder_batch``; ``seed``, ``train_threads``)."""
        return cls(epochs=int(cfg["gap_epochs"]), lr=_lr(cfg["gap_lr"]), batch=int(cfg["encoder_batch"]),
                   augment=_augment(cfg["gap_augment"] or True, "gap_augment"), seed=int(cfg["seed"]),
                   threads=_threads(cfg))

    def run_name(self, inputs: str, base_checkpoint: str, *, augmented: bool) -> str:
        """Checkpoint name ``encoder_<inputs>_augmented_<hash8>`` (or ``_control_``) over the settings and the base run."""
        settings = self if augmented else replace(self, augment=None)
        return run_name(f"encoder_{inputs}_{'augmented' if augmented else 'control'}", settings, base=base_checkpoint)


@dataclass(frozen=True)
class PhysicsSettings:
    """Method (c), analysis by synthesis through the physics renderer (:mod:`radarface.physics_fit`).

    ``steps``, ``lr``: Adam on the normalised parameters from a network's estimate;
    ``prior_weight``: the N(0, 1) prior of (a); ``depth_weight``: depth against amplitude;
    ``depth_pixels``: ``"target"`` compares depth on the target's foreground only, ``"all"`` as (a);
    ``keep``: the ``"best"`` step by objective or the ``"last"``; ``spacing_mm``: the scatterer
    lattice of the fitting renderer; ``material``: its diffuse share (None: the radar's; ``"fit"``:
    fitted per image from the best share of a grid at the start, which needs an expected ``speckle``);
    ``speckle``: that share as one fixed ``"draw"`` of phases, its ``"expected"`` power, or each
    voxel's mean dB over its draws (``"expected-db"``); ``level``: the rendered image's level in dB
    against the target's, 0 (None) or ``"fit"``ted per image (:meth:`~radarface.radar.differentiable.PhysicsRenderer.images`);
    ``depth_scale_mm``: depth errors count as squared below about this many mm and grow linearly
    above (pseudo-Huber; None: squared throughout, as (a));
    ``test_images``: how many images of the synthetic test split (c) is evaluated on;
    ``workers``: processes fitting images side by side, one thread each (0 = all cores; 1 = in
    this process with ``threads`` threads).
    """

    steps: int = 100
    lr: float = 0.05
    prior_weight: float = 1e-3
    depth_weight: float = 1.0
    depth_pixels: str = "target"
    keep: str = "best"
    spacing_mm: float = 2.0
    material: float | str | None = None
    speckle: str = "draw"
    level: str | None = None
    test_images: int = 200
    depth_scale_mm: float | None = field(default=None, metadata=NAMES_IF_SET)
    threads: int | None = field(default=1, metadata=SPEED_ONLY)
    workers: int = field(default=1, metadata=SPEED_ONLY)

    def __post_init__(self) -> None:
        _check_count("physics_steps", self.steps, 0)
        _check_count("physics_test_images", self.test_images, 0)
        _check_count("workers", self.workers, 0)
        _check_choice("physics_depth_pixels", self.depth_pixels, DEPTH_PIXELS)
        _check_choice("physics_keep", self.keep, KEEP)
        _check_choice("physics_speckle", self.speckle, SPECKLE)
        if self.level not in (None, "fit"):
            raise ValueError(f"physics_level must be None (0 dB) or 'fit', got {self.level!r}")
        for name in ("lr", "spacing_mm"):
            if not getattr(self, name) > 0:
                raise ValueError(f"physics_{name} must be > 0, got {getattr(self, name)!r}")
        if not self.prior_weight >= 0 or not self.depth_weight >= 0:
            raise ValueError(f"physics_prior_weight and physics_depth_weight must be >= 0, got "
                             f"{self.prior_weight!r}, {self.depth_weight!r}")
        if self.depth_scale_mm is not None and not (isinstance(self.depth_scale_mm, (int, float))
                                                    and self.depth_scale_mm > 0):
            raise ValueError(f"physics_depth_scale_mm must be None or a length > 0 in mm, got {self.depth_scale_mm!r}")
        if self.material == "fit":
            if self.speckle == "draw":
                raise ValueError("physics_material = 'fit' needs physics_speckle = 'expected' or 'expected-db' (one "
                                 "fixed speckle draw is not a smooth function of the diffuse share), got "
                                 f"{self.speckle!r}")
        elif self.material is not None and not (isinstance(self.material, (int, float))
                                                and 0.0 <= self.material <= 1.0):
            raise ValueError(f"physics_material must be None, 'fit' or in [0, 1], got {self.material!r}")

    @classmethod
    def from_profile(cls, cfg: dict[str, Any]) -> PhysicsSettings:
        """The method (c) settings of a resolved profile (keys ``physics_*``)."""
        material = cfg["physics_material"]
        return cls(steps=int(cfg["physics_steps"]), lr=float(cfg["physics_lr"]),
                   prior_weight=float(cfg["physics_prior_weight"]), depth_weight=float(cfg["physics_depth_weight"]),
                   depth_pixels=cfg["physics_depth_pixels"], keep=cfg["physics_keep"],
                   spacing_mm=float(cfg["physics_spacing_mm"]), material=material if material in (None, "fit") else float(material),
                   speckle=cfg["physics_speckle"], level=cfg["physics_level"], test_images=int(cfg["physics_test_images"]),
                   depth_scale_mm=cfg["physics_depth_scale_mm"],
                   threads=int(cfg["train_threads"]) or 1, workers=int(cfg["workers"]))

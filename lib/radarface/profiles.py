"""Run profiles: one name expands into every size a notebook or job needs.

``_COMMON`` holds the paper's values (DESIGN §1); a profile overrides what it must.
``smoke``: the whole suite in minutes on 2 CPU cores (CI, nbval), builtin face model so
outputs are identical everywhere. ``cpu``: meaningful results on a 2-core machine within
hours, with the choices beyond the paper that make them (measured in docs/tuning.md).
``paper``: the paper's sizes and schedules, for a GPU.

The stages read their settings through typed objects built from a resolved profile
(:mod:`radarface.experiments.settings`), which document each setting.

A profile is only a set of defaults: :func:`resolve` lets any single value be overridden,
and a value of ``None`` means "take the profile's".

>>> cfg = resolve("smoke", image_size=48)
>>> cfg["image_size"], cfg["model"]
(48, 'builtin')
"""

from __future__ import annotations

import copy
import os
from typing import Any

_COMMON: dict[str, Any] = {
    "seed": 0,
    "n_shape": 10,
    "n_expression": 7,
    "image_size": 64,
    "n_freq": 64,
    "workers": 0,  # 0 = all cores
    "dataset_dtype": "float16",
    # encoder (paper §1 point 3): Adam, lr 0.01 -> 0.001 linearly over 75 % of epochs
    "encoder_backbone": "resnet50",
    "encoder_epochs": 200,
    "encoder_batch": 50,
    "encoder_lr": (0.01, 0.001),
    "encoder_render": False,  # also predict the rendering parameters (pose network)
    # options beyond the paper, off here (radarface.experiments.settings.EncoderSettings): the
    # loss "parameters" (the paper's L2) or "vertices"; image randomisation while training (an
    # Augment dict, or None); weight decay; a history key whose best epoch is kept (None: the last)
    "encoder_loss": "parameters",
    "encoder_augment": None,
    "encoder_weight_decay": 0.0,
    "encoder_optimizer": "adam",  # or "adamw" (decoupled weight decay; beyond the paper)
    "encoder_select": None,
    "encoder_center_depth": False,  # shape/expression networks see each face's depth minus its mean
    # extra training samples per dataset sample drawn by the learned renderer
    # (radarface.losses.rendered_loss); 0 = none (the paper)
    "encoder_rendered": 0.0,
    # encoders seeded seed, seed + 1, ... whose predictions are averaged; 1 = one (the paper)
    "encoder_ensemble": 1,
    # the encoder's arithmetic: "float32" (the paper) or "bfloat16" mixed precision
    "encoder_precision": "float32",
    "train_threads": 0,  # torch CPU threads while training; 0 = all cores
    # learned renderer (point 4)
    "decoder_backbone": "resnet50",
    "decoder_epochs": 300,
    "decoder_batch": 150,
    "decoder_lr": 0.001,
    # weight of the depth image's background pixels in the image loss: 1, the paper's plain L2
    # (radarface.losses.image_loss)
    "decoder_background_weight": 1.0,
    # autoencoder (point 5)
    "autoencoder_epochs": 300,
    "autoencoder_batch": 50,
    "autoencoder_lr": 0.001,
    "autoencoder_select": None,  # a history key (e.g. "val_param") whose best epoch is kept; None: the last
    "param_loss_weight": 1.0,  # λ; the parameter loss is the encoder's (encoder_loss)
    # test-time analysis by synthesis (radarface.refine): Adam on the parameters (a) or on the
    # encoder's weights (b); the paper gives no step count or learning rate
    "tta_steps": 200,
    "tta_lr": 0.01,
    "tta_encoder_lr": 1e-4,
    "tta_encoder_batch": None,  # (b): images per step; None = all (every step on the full objective)
    "tta_encoder_steps": None,  # (b): Adam steps; None = tta_steps
    # weight of the depth channel against amplitude in the test-time image loss of both channels
    # (1 = the plain mean over channels, as in training)
    "tta_depth_weight": 1.0,
    # weight of a Gaussian prior on the normalised parameters: 0, the paper's image loss alone
    "tta_prior_weight": 0.0,
    "tta_prior_center": "zero",  # (a): "zero" (N(0, 1)) or "start" (N(encoder's estimate, 1))
    "tta_prior_pose": True,  # False: the prior covers shape and expression only; the images fix the pose
    "tta_lr_schedule": "constant",  # or "cosine": tta_lr / tta_encoder_lr down to 0 over the steps
    # the blended row: tta_blend × (a)'s parameters + (1 − tta_blend) × the autoencoder's (beyond
    # the paper; 0.5 is the plain mean of the two estimates)
    "tta_blend": 0.5,
    # closing the domain gap (notebook 07): the trained encoder, gap_epochs more at gap_lr with
    # image randomisation (radarface.augment.Augment fields; {} = its defaults) and without
    "gap_epochs": 10,
    "gap_lr": 1e-4,
    "gap_augment": {},
    # method (c), beyond the paper: analysis by synthesis through the physics renderer
    # (radarface.physics_fit), from the encoder's estimate; the measurements are in docs/tuning.md
    "physics_steps": 100,
    "physics_lr": 0.05,
    "physics_prior_weight": 1e-3,
    "physics_depth_weight": 1.0,
    "physics_depth_pixels": "target",  # depth compared on the target's foreground only; "all": as (a)
    "physics_keep": "best",  # the step with the lowest objective; "last"
    "physics_spacing_mm": 2.0,  # scatterer lattice of the fitting renderer
    "physics_material": "fit",  # its diffuse share: fitted per image; None: the radar's; or a number
    "physics_speckle": "expected",  # that share's mean power; "draw": one fixed draw of its phases
    "physics_level": None,  # the rendered images' level against the target's: 0 dB; "fit": fitted per image
    "physics_depth_scale_mm": None,  # depth errors above about this (mm) count linearly; None: squared
    "physics_test_images": 200,
}

PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {
        "model": "builtin",
        "image_size": 32,
        "n_freq": 32,
        "n_samples": 48,
        "workers": 2,
        "dataset_dtype": "float32",
        "encoder_backbone": "tiny",
        "encoder_epochs": 4,
        "encoder_batch": 16,
        "train_threads": 1,  # results independent of the machine's core count
        "decoder_backbone": "tiny",
        "decoder_epochs": 20,  # ~3 s: enough for the curves to fall
        "decoder_batch": 16,
        "autoencoder_epochs": 2,
        "autoencoder_batch": 16,
        "tta_steps": 5,
        "gap_epochs": 1,
        # as the cpu profile, so that the suite runs the code paths the cpu results use
        "decoder_background_weight": 0.1,
        "tta_prior_weight": 1e-3,
        "physics_steps": 3,
        "physics_spacing_mm": 4.0,
        "physics_test_images": 2,
    },
    "cpu": {
        # choices beyond the paper for a 2-core machine; the measurements behind each are in
        # docs/tuning.md ("Settings of the cpu profile")
        "model": "auto",
        "n_samples": 10_000,
        # one plain network for all targets (two convolutions per block, 32 channels wide) in
        # bfloat16 mixed precision, AdamW with a one-cycle schedule, light image noise
        "encoder_backbone": "vgg-average",
        "encoder_precision": "bfloat16",
        "encoder_epochs": 12,
        "encoder_batch": 32,
        "encoder_lr": ("one-cycle", 0.024),
        "encoder_optimizer": "adamw",
        "encoder_weight_decay": 0.01,
        "encoder_loss": "parameters",
        "encoder_select": "val_loss",
        "encoder_center_depth": True,
        "encoder_augment": {"p": 1.0, "clutter_max": 0.0, "clutter_level": 0.0, "amplitude_std": 0.02,
                            "depth_std": 0.005},
        "decoder_backbone": "resnet18-narrow",
        "decoder_epochs": 10,
        "decoder_lr": ("one-cycle", 0.02),
        "decoder_batch": 64,
        "decoder_background_weight": 0.1,
        "autoencoder_epochs": 1,
        "autoencoder_lr": 1e-4,
        "autoencoder_select": "val_param",
        "param_loss_weight": 0.01,
        "autoencoder_batch": 64,
        "tta_blend": 0.65,
        "tta_steps": 30,
        "tta_lr": 0.003,
        "tta_prior_weight": 5e-4,
        "tta_depth_weight": 0.3,
        "tta_encoder_batch": 64,
        "tta_encoder_steps": 100,
        "gap_epochs": 3,
        "physics_steps": 30,
        "physics_depth_weight": 0.3,
        "physics_depth_scale_mm": 2.0,
        "physics_test_images": 10,  # per capture set and of the synthetic test split: about 40 s each
    },
    "paper": {
        "model": "auto",
        "n_samples": 10_000,
        "n_freq": 128,
    },
}

# real-data / surrogate measurements (radarface.measurements)
# Surrogate files: 4 unseen subjects x 5 expressions x surrogate_poses, rendered by the exact
# MIMO renderer with every surrogate_antenna_stride-th antenna per edge (1 = full 94 x 94 array).
_COMMON.update({
    "surrogate_seed": 7,  # identities drawn from streams tagged apart from every dataset's
    "surrogate_poses": 2,
    "surrogate_antenna_stride": 2,
    "surrogate_n_freq": 32,  # unambiguous range 465 mm > the 240 mm depth window; half the cost of 64
    "surrogate_blanket": False,  # True: a thin weakly reflecting sheet in front of the face
})
PROFILES["smoke"].update({"surrogate_poses": 1, "surrogate_antenna_stride": 16})
PROFILES["paper"].update({"surrogate_antenna_stride": 1})


def names() -> list[str]:
    """The available profile names."""
    return list(PROFILES)


def resolve(profile: str = "smoke", **overrides: Any) -> dict[str, Any]:
    """All settings (dict) of ``profile`` with non-None ``overrides`` applied on top."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {names()}")
    cfg = copy.deepcopy(_COMMON)
    cfg.update(copy.deepcopy(PROFILES[profile]))
    unknown = sorted(k for k in overrides if k not in cfg)
    if unknown:
        raise ValueError(f"unknown setting(s) {unknown} for profile {profile!r}; known: {sorted(cfg)}")
    for name, value in overrides.items():
        if value is not None:
            check_type(name, value, cfg[name])
    cfg.update({k: v for k, v in overrides.items() if v is not None})
    cfg["profile"] = profile
    return cfg


def check_type(name: str, value: Any, default: Any) -> None:
    """Refuse an override whose type does not fit the setting's default (an integer setting refuses 2.5 or "abc").

    >>> check_type("encoder_epochs", 2.5, 20)
    Traceback (most recent call last):
    ...
    ValueError: setting 'encoder_epochs' takes a whole number (like its default 20), got 2.5 (float); pass it as a notebook parameter, -p or --set with the right type
    """
    if default is None:
        return  # optional settings take whatever their consumer accepts (and check there)
    kinds = {bool: ("True or False", lambda v: isinstance(v, bool)),
             int: ("a whole number", lambda v: isinstance(v, int) and not isinstance(v, bool)),
             float: ("a number", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)),
             str: ("a text or path", lambda v: isinstance(v, (str, os.PathLike))),
             tuple: ("a list", lambda v: isinstance(v, (tuple, list))),
             list: ("a list", lambda v: isinstance(v, (tuple, list))),
             dict: ("a dict", lambda v: isinstance(v, dict))}
    kind = type(default)
    if kind not in kinds:
        return
    label, ok = kinds[kind]
    if name.endswith("_lr"):  # a learning rate is a number or a schedule: (start, end), ("one-cycle", peak)
        label = "a number or a schedule list"
        ok = (lambda v: kinds[float][1](v) or kinds[tuple][1](v))
    if ok(value):
        return
    raise ValueError(f"setting {name!r} takes {label} (like its default {default!r}), got {value!r} "
                     f"({type(value).__name__}); pass it as a notebook parameter, -p or --set with the right type")

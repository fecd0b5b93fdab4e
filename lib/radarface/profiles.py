"""Run profiles: one name expands into every size a notebook or job needs.

``smoke``: the whole suite in minutes on 2 CPU cores (CI, nbval), builtin face model so
outputs are identical everywhere. ``cpu``: meaningful results on a 2-core machine within
hours. ``paper``: the paper's sizes and schedules, for a GPU.

A profile is only a set of defaults: :func:`resolve` lets any single value be overridden,
and a value of ``None`` means "take the profile's".

>>> cfg = resolve("smoke", image_size=48)
>>> cfg["image_size"], cfg["model"]
(48, 'builtin')
"""

from __future__ import annotations

import copy
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
    # beyond the paper (radarface.models.encoder_loss): "parameters" (the paper's L2) or "vertices"
    # (face coefficients weighted by how far they move the face); image randomisation while
    # training (an Augment dict, or None); Adam's weight decay; a history key whose best epoch
    # is kept (None: the last epoch's weights, as the paper)
    "encoder_loss": "parameters",
    "encoder_augment": None,
    "encoder_weight_decay": 0.0,
    "encoder_optimizer": "adam",  # or "adamw" (decoupled weight decay; beyond the paper)
    "encoder_select": None,
    "encoder_center_depth": False,  # shape/expression networks see each face's depth minus its mean
    # extra training samples per dataset sample, drawn from the sampling prior and rendered by the
    # learned renderer (radarface.models.rendered); 0 = none (the paper)
    "encoder_rendered": 0.0,
    # encoders whose weights and batch order are seeded seed, seed + 1, ... (same data, same
    # learned renderer), their predictions averaged (radarface.models.EncoderEnsemble); 1 = a
    # single encoder (the paper)
    "encoder_ensemble": 1,
    "train_threads": 0,  # torch CPU threads while training; 0 = all cores
    # learned renderer (point 4)
    "decoder_backbone": "resnet50",
    "decoder_epochs": 300,
    "decoder_batch": 150,
    "decoder_lr": 0.001,
    # weight of the depth image's background pixels in the image loss (1 = the paper's plain L2;
    # see radarface.models.decoder)
    "decoder_background_weight": 0.1,
    # autoencoder (point 5)
    "autoencoder_epochs": 300,
    "autoencoder_batch": 50,
    "autoencoder_lr": 0.001,
    "autoencoder_select": None,  # a history key (e.g. "val_param") whose best epoch is kept; None: the last
    "param_loss_weight": 1.0,  # λ; the parameter loss is the encoder's (encoder_loss)
    "tta_steps": 200,
    # test-time analysis by synthesis (radarface.refine): Adam on the parameters (a) or on the
    # encoder's weights (b), with a Gaussian prior on the normalised parameters
    "tta_lr": 0.01,
    "tta_encoder_lr": 1e-4,
    "tta_encoder_batch": None,  # (b): images per step; None = all (every step on the full objective)
    "tta_encoder_steps": None,  # (b): Adam steps; None = tta_steps
    # weight of the depth channel against amplitude in the test-time image loss of both channels
    # (1 = the plain mean over channels, as in training)
    "tta_depth_weight": 1.0,
    "tta_prior_weight": 1e-3,
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
    },
    "cpu": {
        "model": "auto",
        "n_samples": 10_000,
        "encoder_backbone": "resnet18-narrow",
        # 30 epochs with the paper's parameter loss (amplitude, 2026-11): validation error of
        # shape lowest at epoch 4 (0.80 std²) and 0.88 at epoch 23, while the training loss kept
        # falling; test vertex distance 4.17 mm = 0.74 × the mean face (depth: 5.49 mm, 0.97 ×).
        # Now 20 epochs, the best epoch kept, the loss weighted by vertex displacement and the
        # depth centred (notebook 04), measured 2026-12-02 with 1 thread each: amplitude 4.16 mm
        # (0.74 ×, best epoch 15), depth 4.55 mm (0.81 ×, best epoch 16). The networks still
        # overfit (training loss 0.10 against 0.43 on validation at epoch 15).
        # One extra sample per dataset sample drawn by the learned renderer (encoder_rendered,
        # measured 2026-12-02, both channels, 2 threads, 2,443 s): validation loss 0.237 against
        # 0.334, test vertex distance 3.26 mm against 3.94 (0.58 × against 0.70 × the mean face).
        # Amplitude and depth (1 thread each, side by side, ~4,950 s each): 3.29 mm against 4.16
        # (0.58 ×), 4.27 mm against 4.55 (0.76 ×).
        # Two extra samples per sample were no better (validation loss 0.261 against 0.262 at
        # epoch 11 of 20, 164 s per epoch against 122; stopped there).
        "encoder_rendered": 1.0,
        # Two encoders from seeds 0 and 1, their predictions averaged (measured 2026-12-02, both
        # channels, trained side by side with 1 thread each, 2,112 and 2,118 s): test vertex
        # distance 3.22 and 3.39 mm alone, 3.03 mm averaged (0.54 × the mean face); validation
        # 3.27, 3.38 -> 3.05 mm. Amplitude 3.33, 3.32 -> 3.07 mm (0.55 ×); depth 4.12, 4.14 ->
        # 3.78 mm (0.67 ×).
        "encoder_ensemble": 2,
        "encoder_epochs": 20,
        "encoder_loss": "vertices",
        "encoder_select": "val_loss",
        "encoder_center_depth": True,
        "encoder_batch": 64,
        # The paper's 0.01 start stalls the narrow networks: trained 5 epochs on 3,000 depth
        # images, the pose head's validation error stayed at 1.0 std² for 4 epochs (0.71
        # after 5), against 0.47 when starting at 0.001.
        "encoder_lr": (1e-3, 1e-4),
        "decoder_backbone": "resnet18-narrow",
        # 30 epochs at a constant 0.001: validation image loss 0.0089 at epoch 30, still falling
        # slowly. 40 epochs at 0.001 -> 0.0001 over the first 30 (measured 2026-12-02, 2,114 s for
        # epochs 12-40) ended no better: 0.0091 (amplitude 0.0072, depth 0.0202), flat from epoch 30.
        "decoder_epochs": 30,
        "decoder_batch": 64,
        # The autoencoder starts from the encoder's best epoch and continues at the encoder's
        # final learning rate, keeping the epoch with the lowest validation parameter loss (the
        # encoder's vertex-weighted one). Measured 2026-12-02 on both channels (encoder's best
        # validation loss 0.3340): validation parameter loss after epochs 1, 2 was 0.3377,
        # 0.3433 with λ = 1; 0.3341, 0.3420 with λ = 0.01; 0.3373, 0.3455 with λ = 0.001. The
        # image term is ~0.01 against ~0.3 for the parameters, so λ = 1 leaves it no say;
        # after one epoch the encoder only overfits further.
        "autoencoder_epochs": 2,
        "autoencoder_lr": 1e-4,
        "autoencoder_select": "val_param",
        "param_loss_weight": 0.01,
        "autoencoder_batch": 64,
        # Test-time settings chosen on validation images (python -m radarface.refine tune, both
        # channels, 2026-12-02). (a) on 200 images, vertex distance from 3.865 mm: lr 0.01 ->
        # 2.988 mm after 150 steps, 0.03 -> 2.947 (step 126), 0.1 -> 2.944 (step 73); at lr 0.1,
        # 75 steps, prior weight 0 / 0.001 / 0.002 / 0.01 / 0.03 gave a best of 3.156 / 2.944 /
        # 3.174 / 3.621 / 3.726 mm. (b) on 1,000 images in batches of 64, from 3.913 mm: lr 1e-4
        # -> 3.698 mm at step 96 and still falling; 3e-4 -> 3.746; 1e-3 diverges (15.8).
        # Then (2026-12-02, (a), lr 0.1, 200 validation images): the depth channel's weight in the
        # image loss of both channels, prior 0.001: 1 -> 2.944 mm, 0.5 -> 2.883, 0.3 -> 2.874,
        # 0.1 -> 2.908; at 0.3, prior 0.0003 / 0.0005 / 0.0015 -> 2.883 / 2.831 (step 83) / 2.975.
        # Amplitude, 100 steps: prior 0.0005 -> 2.927 (still falling), 0.001 -> 2.939. (a) started
        # from (b)'s prediction instead of the autoencoder's ends where it does (2.978 against
        # 2.954 mm on 300 images), and through the 40-epoch decoder it is worse (3.005 against 2.874).
        # No better than 2.831 at depth weight 0.3, prior 0.0005, 100 steps (2026-12-02): the prior
        # without the pose (tta_prior_pose=False) 2.844; a cosine learning rate 2.853; both 2.858;
        # the prior centred on the start (tta_prior_center='start') at weight 0.002 2.942.
        # The blended row (tta_blend), measured 2026-12-02 on the first 200 validation images
        # (python -m radarface.refine blend --profile cpu --inputs X): vertex distance at weights
        # 0 / 0.5 / 0.6 / 0.65 / 0.7 / 0.8 / 1 of (a): both channels 3.270 / 2.689 / 2.657 / 2.653 /
        # 2.657 / 2.690 / 2.847 mm; amplitude 3.343 / 2.799 / 2.763 / 2.756 / 2.756 / 2.778 / 2.911;
        # depth 4.015 / 3.478 / 3.470 / 3.479 / 3.497 / 3.562 / 3.797.
        "tta_blend": 0.65,
        "tta_steps": 90,
        "tta_lr": 0.1,
        "tta_prior_weight": 5e-4,
        "tta_depth_weight": 0.3,
        "tta_encoder_batch": 64,
        "tta_encoder_steps": 200,
        "gap_epochs": 3,
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
    cfg.update({k: v for k, v in overrides.items() if v is not None})
    cfg["profile"] = profile
    return cfg

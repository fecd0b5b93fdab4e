# %% [markdown]
# # 04 · The supervised encoder
#
# The paper's first network reads a radar image and predicts the face model's
# parameters directly. It is trained on the synthetic dataset of notebook 03 with an L2
# loss on the (normalised) parameters: two ResNet-50 for the 10 shape and 7 expression
# coefficients, whose outputs are `3·tanh` so they stay within ±3σ, and an AlexNet for
# the pose; Adam, learning rate 0.01 → 0.001 linearly over the first 75 % of 200 epochs,
# batch 50 (paper §1 point 3, our `paper` profile).
#
# Here: train (or resume, or reuse) the encoder for one input type — the `inputs`
# parameter: `amplitude`, `depth` or `both` — then compare it on the test split with
# two baselines, the **mean face** (predict zeros) and **random** draws from N(0, 1):
# parameter errors (mean squared error per coefficient in standard deviations) and the
# mean vertex distance in mm over the face region. The `cpu` profile trains one plain
# CNN for all targets (below) on 2 CPU cores; `smoke` trains three tiny CNNs for a few
# seconds and only checks that everything runs.
# Run all three input types with
# `python -m radarface.run --profile cpu --only 04 --sweep inputs=amplitude,depth,both`.
#
# Beyond the paper, as profile settings (the `paper` profile keeps the paper's choices):
# `encoder_backbone = "vgg-average"` replaces the three networks by ONE plain CNN
# (four blocks of two 3 × 3 convolutions, 32 to 256 channels, a global average pool, one
# linear layer for every target, outputs unbounded; `"vgg-average-w24"` is the same network 24
# channels wide, `"plain-average"` has one convolution per block), trained with AdamW on a
# one-cycle schedule (`encoder_lr = ("one-cycle", peak)`, `encoder_optimizer = "adamw"`) and
# light image noise
# (`encoder_augment`); in the measurements of `docs/tuning.md` it learned the face better,
# in less time, than the paper's three networks at the sizes a CPU can train. The second
# convolution per block is what made the difference there: each block then sees 5 × 5
# pixels of its input, with a nonlinearity in between, before halving it, whereas a wider
# network with one convolution per block, a flattened head or more epochs bought much less
# for their cost (`docs/tuning.md`, "Encoder: width, the blocks and the head").
# `encoder_loss = "vertices"` weights each face coefficient's squared error by how far
# its mode moves the face (`radarface.metrics.vertex_metric`: the loss is then the mean
# squared vertex distance, rescaled, plus the pose error), so the network spends its
# capacity on the modes that matter; `encoder_select = "val_loss"` keeps the weights of
# the epoch with the lowest validation loss; `encoder_center_depth` shows the shape and
# expression networks each face's depth relative to its mean (the pose network keeps the
# raw image); `encoder_augment` and `encoder_weight_decay` regularise; `encoder_rendered`
# adds to every training batch extra faces drawn fresh from the sampling prior and
# rendered by the learned renderer of notebook 05 (trained first if missing), so the
# encoder sees more faces than the dataset holds (`radarface.losses.rendered_loss`);
# `encoder_ensemble` trains that many encoders from consecutive seeds and averages their
# predictions (`radarface.models.EncoderEnsemble`); `encoder_precision = "bfloat16"` computes
# the network in bfloat16 with float32 weights (torch's automatic mixed precision): on a CPU
# with bfloat16 matrix units a training step then costs about 40 %, at the same accuracy
# in the measurements of `docs/tuning.md`, which is what pays for the 32 channels and 12 epochs. The `cpu` profile's choices are in
# `radarface/profiles.py`, the measurements behind them in `docs/tuning.md`.

# %% tags=["parameters"]
profile = "smoke"  # smoke | cpu | paper
inputs = "both"  # amplitude | depth | both
backbone = None  # None: the profile's; or "tiny", "plain", "plain-average", "vgg-average", "vgg-average-w24",
#   "resnet18-narrow", "resnet18", "resnet50"
epochs = None
batch = None
seed = None
model = None  # face model: None for the profile's; or "builtin", "ict", "auto", a path to a BFM 2019 .h5
threads = None  # torch threads while training; None: the profile setting; 0: all cores
loss = None  # None: the profile's; "parameters" (the paper's L2) or "vertices"
select = None  # None: the profile's; a history key such as "val_loss" whose best epoch is kept
augment = None  # None: the profile's; False: none; True (defaults) or a dict of radarface.augment.Augment settings
weight_decay = None
center_depth = None  # None: the profile's; True: shape/expression networks see depth minus the face's mean
rendered = None  # None: the profile's; extra decoder-rendered samples per dataset sample (0: none)
ensemble = None  # None: the profile's; encoders (seeds seed, seed + 1, ...) whose predictions are averaged
precision = None  # None: the profile's; "float32" or "bfloat16" (mixed precision)

# %%
import matplotlib.pyplot as plt
import numpy as np

from radarface import dataset, facemodel, metrics, profiles
from radarface.experiments.fitting import encoder_data, member_rows, profile_encoder
from radarface.experiments.renderers import parameter_visibility
from radarface.models import count_parameters
from radarface.plots import save
from radarface.plots.results import (plot_cosine_matrix, plot_metric_bars, plot_pred_vs_true, plot_reconstructions,
                                     plot_visibility)
from radarface.plots.training import plot_history
from radarface.radar import RadarConfig
from radarface.train import predict

# %%
cfg = profiles.resolve(profile, encoder_backbone=backbone, encoder_epochs=epochs, encoder_batch=batch, seed=seed,
                       train_threads=threads, encoder_loss=loss, encoder_select=select,
                       encoder_weight_decay=weight_decay, encoder_augment=augment, encoder_center_depth=center_depth,
                       encoder_rendered=rendered, encoder_ensemble=ensemble, encoder_precision=precision,
                       model=model)
face = facemodel.load_model(cfg["model"], cfg["n_shape"], cfg["n_expression"])

# %% [markdown]
# ## Data
# The profile's dataset (generated by notebook 03, or here if it is missing), split
# 80/10/10 by a seeded permutation. Targets are normalised: shape and expression in
# standard deviations as they are, pose angles and translations divided by their
# standard deviations.

# %%
# NBVAL_CHECK_OUTPUT
data = encoder_data(cfg, inputs)
# the file name carries a hash of the face model's bytes, which differs between machines' maths
# libraries in the last bits: it is printed with the training, not in this checked cell
print(f"{profile} dataset: images {data['train'].channels} × {data['train'].image_shape}")
print({split: len(ds) for split, ds in data.items()}, "target groups:", list(data["train"].slices))

# %% [markdown]
# ## Training
# The run is checkpointed after every epoch in `data/checkpoints/`, under a name keyed by
# every setting that changes the weights. Interrupt it (Ctrl-C, a crash, a killed
# kernel) and run the cell again: it resumes after the last finished epoch and ends with
# the same weights as an uninterrupted run. A finished run is loaded, not retrained.

# %%
encoder, fit, _ = profile_encoder(cfg, data)
print(f"dataset {data['train'].path.name}")
print(f"backbone {cfg['encoder_backbone']}: {count_parameters(encoder) / 1e6:.2f} M parameters, "
      f"{len(fit.history['epoch'])} epochs, batch {cfg['encoder_batch']}, {fit.threads} threads")
for member in fit.members or [fit]:
    print(member.describe())
print(f"loss: {cfg['encoder_loss']}; kept epoch: {cfg['encoder_select'] or 'the last'}")
if fit.members:
    print(f"an ensemble of {len(fit.members)} encoders (seeds {cfg['seed']}…{cfg['seed'] + len(fit.members) - 1}), "
          "their predictions averaged")
if cfg["encoder_rendered"]:
    print(f"plus {cfg['encoder_rendered']:g} decoder-rendered samples per dataset sample in every training batch")

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), constrained_layout=True)
member = " (first member of the ensemble)" if fit.members else ""
plot_history(fit.history, ax=axes[0], title="parameter loss (all targets)" + member)
plot_history(fit.history, [f"val_{g}" for g in ("shape", "expression", "pose")], ax=axes[1],
             title="validation error per group" + member)
save(fig, f"04_learning_curves_{inputs}");

# %% [markdown]
# ## Test metrics next to the baselines
# `total` averages shape, expression and pose coefficients with pose in standard
# deviations (the mean face scores ≈ 1 everywhere); `total (paper)` counts pose errors in
# units of the pose limits, the paper's apparent convention (see `radarface.metrics`).
# The vertex distance is over the face region in the model frame (pose removed);
# `posed mm` applies each face's true and predicted pose. The last column is the ratio
# to the mean-face baseline, which compares across face models (paper: 0.63 for its best
# encoder, 0.58 for its best autoencoder).

# %%
# NBVAL_CHECK_OUTPUT
test = data["test"]
images, true = test.tensors()
pred = predict(encoder, images).numpy()
rows = metrics.evaluate_with_baselines(face, true.numpy(), pred, test.slices, test.denormalise,
                                       rng=np.random.default_rng(cfg["seed"]))
print(metrics.format_table(rows))

# %% [markdown]
# ## An ensemble's members against their average
# With `encoder_ensemble` > 1 each member was trained alone from its own seed (same data,
# same learned renderer); their errors are partly independent, so the averaged
# prediction is closer to the truth than either member.

# %%
# NBVAL_CHECK_OUTPUT
members = member_rows(face, encoder, test)
if members:
    print(metrics.format_table({"mean face": rows["mean face"], **members}))
else:
    print(f"a single encoder (encoder_ensemble = {cfg['encoder_ensemble']}): nothing to average")

# %%
fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), constrained_layout=True)
plot_metric_bars(rows, "vertex_mm", ax=axes[0], label="vertex distance (mm)")
plot_metric_bars(rows, "total", ax=axes[1], label="parameter error (std units)")
save(fig, f"04_metrics_{inputs}");

# %% [markdown]
# ## Predicted against true, per coefficient
# Normalised units; the grey line is a perfect prediction. The shape and expression
# outputs cannot leave ±3.

# %%
names = test.target_names[: pred.shape[1]]
axes = plot_pred_vs_true(true.numpy(), pred, names, ncols=6)
save(axes[0, 0].figure, f"04_pred_vs_true_{inputs}");

# %% [markdown]
# ## Cosine similarity of predicted and true coefficient vectors
# Entry (i, j): the angle between the predicted vector of test face i and the true
# vector of face j. A bright diagonal on a pale background means the encoder tells the
# faces apart; the mean face would give 0 everywhere.

# %%
# NBVAL_CHECK_OUTPUT
k = min(20, len(test))
matrices, cosine = {}, {}
for group in ("shape", "expression"):
    cols = test.slices[group]
    matrices[group] = metrics.cosine_similarity_matrix(pred[:k, cols], true.numpy()[:k, cols])
    cosine[group] = metrics.cosine_summary(matrices[group])
    print(f"{group}: mean cosine on the diagonal {cosine[group]['diagonal']:.2f}, "
          f"off it {cosine[group]['off_diagonal']:.2f} ({k} test faces)")

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), constrained_layout=True)
for ax, group in zip(axes, matrices):
    plot_cosine_matrix(matrices[group], ax=ax, title=f"{group}: predicted vs true")
save(fig, f"04_cosine_{inputs}");

# %% [markdown]
# ## Reconstructions
# The test faces with the smallest, the median and the largest vertex distance: true
# face, predicted face, and the per-vertex error (mm) drawn on the true face (face region
# only; the rim the metric leaves out is blank).

# %%
true_params, pred_params = test.denormalise(true.numpy()), test.denormalise(pred)
per_face = metrics.vertex_errors(face, true_params, pred_params)[:, face.face_mask].mean(axis=1)
order = np.argsort(per_face)
picks = [int(order[0]), int(order[len(order) // 2]), int(order[-1])]
axes = plot_reconstructions(face, true_params, pred_params, picks)
save(axes[0, 0].figure, f"04_reconstructions_{inputs}");

# %% [markdown]
# ## Results file
# The metrics go to `runs/<profile>/results/encoder_<inputs>.json`, which notebook 06
# and the batch runner's summary read.

# %%
results = {"profile": profile, "inputs": inputs, "backbone": cfg["encoder_backbone"], "rows": rows,
           "cosine": cosine, "epochs": cfg["encoder_epochs"], "batch": cfg["encoder_batch"],
           "seconds_per_epoch": float(np.mean(fit.history["seconds"])), "threads": fit.threads,
           "dataset": test.path.name, "checkpoint": fit.checkpoint.name, "history": fit.history,
           "loss": cfg["encoder_loss"], "select": cfg["encoder_select"], "best_epoch": fit.best_epoch,
           "augment": cfg["encoder_augment"], "weight_decay": cfg["encoder_weight_decay"],
           "ensemble": cfg["encoder_ensemble"], "members": members,
           "member_checkpoints": [m.checkpoint.name for m in fit.members or [fit]],
           "settings": {k: cfg[k] for k in cfg if k.startswith("encoder_")}}
print(metrics.write_results(results, profile, f"encoder_{inputs}"))

# %% [markdown]
# ## Input types side by side, and what each channel shows
# The paper's encoder does better on depth images than on amplitude images. The table
# gathers the results files of the input types run so far at this profile (the `cpu`
# sweep runs all three; the smoke run only shows the mechanics); the headline below says
# which input type did best in this run.
#
# To see what each channel offers, `parameter_visibility` asks the physics renderer how
# much each parameter changes each channel per standard deviation, against how much
# redrawing the rendering parameters, speckle and noise changes the same face's image:
# a signal-to-nuisance ratio on the pixels that show the face in every image (two test
# faces at the centre of the field of view; below 1: the parameter changes the image less
# than the nuisance does). These ratios describe the images, not an encoder: how much of a
# channel a trained network reads depends on the network and its training as much as on
# the physics, so the ordering of the input types is measured by the table, not predicted
# by the ratios.

# %%
names = [f"encoder_{i}" for i in ("amplitude", "depth", "both")]
print(metrics.format_table(metrics.input_comparison(metrics.read_results(profile, names))))

# %%
vis_data = dataset.RadarFaceDataset(test.path, "both", "test", include_render=True)
bases = vis_data.tensors()[1][:2].numpy()
bases[:, vis_data.slices["pose"]] = 0.0  # faces at the centre: the whole face stays in view
visibility = parameter_visibility(face, RadarConfig.from_profile(cfg), vis_data, bases, n_nuisance=4, seed=cfg["seed"])
for group in ("shape", "expression", "pose"):
    cols = vis_data.slices[group]
    print(f"{group:<11} median signal-to-nuisance: " + ", ".join(
        f"{name} {np.median(visibility[cols, c]):.2f}" for c, name in enumerate(vis_data.fields)))
ax = plot_visibility(visibility, vis_data.target_names[: len(visibility)], vis_data.fields)
save(ax.figure, "04_visibility");

# %% [markdown]
# ## Headline
# The encoder's vertex distance and parameter error on the test split against the mean
# face. At `cpu` and `paper` the encoder must beat the mean face on both and reach at
# most 0.8 × its vertex distance, about the level of the paper's weakest encoder (the one
# on amplitude images). The `smoke` profile trains for seconds on a few dozen images: its
# check is only that the predictions are finite and complete. The second cell ranks the
# input types whose results files this profile has so far.

# %%
# NBVAL_CHECK_OUTPUT
enc, base = rows["encoder"], rows["mean face"]
ratio = enc["vertex_mm"] / base["vertex_mm"]
print(f"encoder ({inputs}): vertex distance {enc['vertex_mm']:.2f} mm = {ratio:.2f} × the mean face's "
      f"{base['vertex_mm']:.2f} mm; parameter error {enc['total']:.2f} (mean face {base['total']:.2f})")
assert pred.shape == true.shape and np.isfinite(pred).all(), pred.shape
assert all(np.isfinite(float(v)) for row in rows.values() for v in row.values()), rows
if profile != "smoke":
    assert enc["vertex_mm"] < base["vertex_mm"] and enc["total"] < base["total"] and ratio <= 0.8, rows

# %%
files = metrics.read_results(profile, [f"encoder_{i}" for i in ("amplitude", "depth", "both")])
comparison = metrics.input_comparison(files)
ranked = sorted((row["vertex_mm"], name) for name, row in comparison.items() if name != "mean face")
print("input types by vertex distance (this profile's results files): "
      + " < ".join(f"{name} {mm:.2f} mm" for mm, name in ranked))

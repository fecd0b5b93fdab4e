# %% [markdown]
# # 05 · The learned renderer
#
# The paper's central idea: learn the radar renderer. The physics renderer of notebook 02
# cannot be differentiated and is slow (about two minutes per image for the paper's ray
# tracer); a network that maps parameters to images can. With it, the encoder can be
# trained on an image loss too (notebook 06), and the parameters of a new image can be
# refined without labels, by gradient descent on the image loss (analysis by synthesis).
#
# The **decoder** (`radarface.models.LearnedRenderer`) takes the dataset's normalised
# parameter vector (10 shape, 7 expression, 6 pose and 4 rendering parameters: dynamic
# range, material, aperture, SNR), maps it with one fully connected layer to a small
# feature map (4 × 4), and grows it to the image with the encoder's ResNet run in
# reverse: residual stages with ×2 bilinear upsampling between them (ResNet-50
# bottleneck blocks at the `paper` profile, a narrow ResNet-18 at `cpu`, three
# convolutions at `smoke`), then a sigmoid, since images are in [0, 1]. Trained with Adam,
# learning rate 0.001, on an L2 image loss (paper §1 point 4: 300 epochs, batch 150).
#
# **Loss.** Plain L2 on the amplitude image. On the depth image the background (depth 0
# wherever the amplitude is below the dynamic range) covers about two thirds of the
# pixels and ends in a jump at the face's outline; its pixels weigh
# `decoder_background_weight`, a profile setting: 1 is the paper's plain L2 (the `paper`
# profile); below 1 (0.1 at `cpu`) the decoder spends more of its effort on the surface
# than on the outline (see `radarface.losses`).

# %% tags=["parameters"]
profile = "smoke"  # smoke | cpu | paper
outputs = "both"  # images the decoder renders: amplitude | depth | both (notebook 06 uses "both")
backbone = None  # None: the profile's; or "tiny", "resnet18-narrow", "resnet18", "resnet50"
epochs = None
batch = None
lr = None
background_weight = None  # weight of depth background pixels in the loss; None: the profile's (cpu 0.1, paper 1)
seed = None
model = None  # face model: None for the profile's; or "builtin", "ict", "auto", a path to a BFM 2019 .h5
reference_fraction = 64  # timing: exact reference on 1/k of the scatterers and voxels, scaled by k

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch

from radarface import facemodel, metrics, profiles, radar
from radarface.experiments import renderers
from radarface.experiments.fitting import decoder_data, fit_decoder
from radarface.experiments.settings import RendererSettings
from radarface.losses import image_loss
from radarface.models import CHANNELS, count_parameters, depth_channels
from radarface.plots import save
from radarface.plots import decoder as dplots
from radarface.plots.training import plot_history

# %%
cfg = profiles.resolve(profile, decoder_backbone=backbone, decoder_epochs=epochs, decoder_batch=batch,
                       decoder_lr=lr, decoder_background_weight=background_weight, seed=seed,
                       model=model)
face = facemodel.load_model(cfg["model"], cfg["n_shape"], cfg["n_expression"])

# %% [markdown]
# ## Data
# The dataset of notebook 03 (generated here if missing), same 80/10/10 split as the
# encoder's. Here the roles swap: the normalised parameters, now with the rendering
# parameters, are the input; the images are the target.

# %%
# NBVAL_CHECK_OUTPUT
data = decoder_data(cfg, outputs)
train_ds, test = data["train"], data["test"]
# the file name carries a hash of the face model's bytes, which differs between machines' maths
# libraries in the last bits: it is printed with the training, not in this checked cell
print(f"{profile} dataset: images {train_ds.channels}×{train_ds.image_shape[0]}×{train_ds.image_shape[1]}, "
      f"{train_ds.normaliser.dim} parameters per image")
print({split: len(ds) for split, ds in data.items()}, "input columns:", train_ds.target_names[-6:], "...")
config = radar.RadarConfig.from_dict(train_ds.config)
depth = depth_channels(outputs)

# %% [markdown]
# ## Training
# Checkpointed after every epoch under a name keyed by every setting that changes the
# weights: an interrupted run resumes, a finished one is loaded.

# %%
decoder, fit = fit_decoder(RendererSettings.from_profile(cfg), data)
print(f"dataset {train_ds.path.name}")
print(f"backbone {cfg['decoder_backbone']}: {count_parameters(decoder) / 1e6:.2f} M parameters, "
      f"{len(fit.history['epoch'])} epochs, batch {cfg['decoder_batch']}, lr {cfg['decoder_lr']}, {fit.threads} threads")
print(f"trained {fit.trained} epochs now ({fit.seconds_per_epoch:.1f} s each), "
      f"reused {fit.resumed_from} from {fit.checkpoint.name}")

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), constrained_layout=True)
plot_history(fit.history, ax=axes[0], title="image loss (weighted)")
plot_history(fit.history, [f"val_{c}" for c in CHANNELS[outputs]], ax=axes[1],
             title="validation: plain mean squared error per image type")
save(fig, f"05_learning_curves_{outputs}");

# %% [markdown]
# ## Held-out parameters: decoder against the physics renderer
# The test split's images are the physics renderer's output for parameters the decoder
# never saw. Its images also hold the renderer's own random draws (the diffuse phases of
# the `material` term and the receiver noise), which no parameter describes: the decoder
# can at best learn their average. The reference point is the **mean training image**,
# the best a decoder that ignores its input could do.

# %%
# NBVAL_CHECK_OUTPUT
test_images, test_params = test.tensors()
decoded = torch.from_numpy(renderers.decoder_render_fn(decoder)(test_params.numpy()))
mean_image = train_ds.tensors()[0].mean(0, keepdim=True).expand_as(test_images)
losses = {name: float(image_loss(pred, test_images, depth_channels=depth, background_weight=cfg["decoder_background_weight"]))
          for name, pred in (("decoder", decoded), ("mean image", mean_image))}
rmse = {c: float(((decoded - test_images)[:, k] ** 2).mean().sqrt()) for k, c in enumerate(CHANNELS[outputs])}
print(f"test image loss: decoder {losses['decoder']:.3f}, mean training image {losses['mean image']:.3f}")
print("test RMSE per image type:", {c: round(v, 2) for c, v in rmse.items()})

# %%
order = np.argsort(image_loss(decoded, test_images, depth_channels=depth, reduction="none",
                             background_weight=cfg["decoder_background_weight"]).numpy())
picks = [int(order[0]), int(order[len(order) // 2]), int(order[-1])]  # best, median, worst
axes = dplots.plot_decoder_comparison(test_images[picks].numpy(), decoded[picks].numpy(), CHANNELS[outputs])
save(axes[0, 0].figure, f"05_decoder_vs_physics_{outputs}");

# %% [markdown]
# Per-pixel error over the whole test split: the mean absolute difference (decoder −
# physics) at each pixel. Errors gather where the images change fastest between faces:
# the outline (depth jumps to the background there) and the bright specular spots.

# %%
abs_err = (decoded - test_images).abs().mean(0).numpy()
fig, axes = plt.subplots(1, len(abs_err), figsize=(3.6 * len(abs_err), 3.2), constrained_layout=True, squeeze=False)
for ax, err, name in zip(axes[0], abs_err, CHANNELS[outputs]):
    fig.colorbar(ax.imshow(err, cmap="magma"), ax=ax, label="mean |error|")
    ax.set_title(f"{name}: mean |decoder − physics| over {len(test)} test images", fontsize=9)
save(fig, f"05_error_maps_{outputs}");

# %% [markdown]
# ## How the image responds to each parameter
# Central differences around the mean face at the mean pose and mid-range rendering
# parameters: ∂image/∂parameter per normalised unit (±1), by the decoder and by the
# physics renderer (one fixed draw of its random streams, so the difference is the
# parameter's alone). A decoder that has learned the physics has maps of the same size
# and pattern; one that ignores a parameter has a flat map. The physics maps also hold
# speckle: with the diffuse `material` term, moving the surface reshuffles the random
# phases, which the decoder can only learn on average, so even a good decoder's maps
# correlate well below 1 with single physics maps.

# %%
# NBVAL_CHECK_OUTPUT
base = np.zeros(test.normaliser.dim)
maps = {"decoder": renderers.sensitivity(renderers.decoder_render_fn(decoder), base),
        "physics": renderers.sensitivity(renderers.physics_render_fn(face, config, test, seed=cfg["seed"]), base)}
summary = renderers.sensitivity_summary(maps["decoder"], maps["physics"])
names = test.target_names
print(f"median correlation of the maps over the {len(names)} parameters: {np.nanmedian(summary['correlation']):.2f}")
print(f"median RMS sensitivity: decoder {np.median(summary['decoder_rms']):.3f}, "
      f"physics {np.median(summary['physics_rms']):.3f} per normalised unit")

# %%
show = [names.index(n) for n in ("shape_0", "shape_1", "expression_0", "yaw", "pitch", "tx", "tz",
                                 "dynamic_range_db", "aperture_mm")]
axes = dplots.plot_sensitivity_maps(maps["decoder"], maps["physics"], names, show, channel=0)
axes[0, 0].figure.suptitle(f"∂{CHANNELS[outputs][0]}/∂parameter (red: brighter)", fontsize=10)
save(axes[0, 0].figure, f"05_sensitivity_maps_{outputs}");

# %%
fig, ax = plt.subplots(figsize=(10, 3.6), constrained_layout=True)
dplots.plot_sensitivity_bars(summary, names, ax=ax)
save(fig, f"05_sensitivity_{outputs}");

# %% [markdown]
# ## Speed: learned renderer against the physics renderers
# Measured side by side in one cell, all on one CPU core: the learned renderer one image
# per call and in batches of 64; the fast physics renderer (`radar.render`, NUFFT); and
# the exact MIMO reference (`radar.render_reference`, full 94 × 94 array). The reference
# takes minutes per face, so it runs on every k-th scatterer and voxel with all channels
# and frequencies and is scaled by k, as `benchmarks/render.py` does (its cost is linear
# in both). The paper's own timings are printed beside these at the end. Timings depend
# on the machine and its load, so this cell's output is not regression-checked.

# %%
vectors = test_params[:8].repeat(8, 1)  # 64 parameter vectors
timing = {"learned, 1 per call": renderers.time_learned_renderer(decoder, vectors[:16], batch_size=1),
          "learned, batch of 64": renderers.time_learned_renderer(decoder, vectors, batch_size=64)}
physics = renderers.time_physics_renderer(face, config, test.denormalise(test_params[:3].numpy()),
                                    reference_fraction=reference_fraction)
timing.update({"physics, fast (NUFFT)": physics["fast_s"], "physics, exact reference": physics["reference_s"]})
for name, seconds in timing.items():
    print(f"{name:>26}: {seconds * 1e3:10.2f} ms per image")
speedup = {k: physics[k] / timing["learned, 1 per call"] for k in ("fast_s", "reference_s")}
print(f"learned renderer (one image per call) is {speedup['fast_s']:.0f}× faster than the fast physics renderer "
      f"and {speedup['reference_s']:.0f}× faster than the exact reference "
      f"(reference measured on 1/{reference_fraction}: {physics['reference_measured_s']:.1f} s)")

# %%
fig, ax = plt.subplots(figsize=(7, 2.6), constrained_layout=True)
dplots.plot_timings(timing, ax=ax)
save(fig, f"05_timing_{outputs}");

# %% [markdown]
# ## Results file
# Metrics, sensitivities and timings go to `runs/<profile>/results/decoder_<outputs>.json`.

# %%
results = {"profile": profile, "outputs": outputs, "backbone": cfg["decoder_backbone"], "test_loss": losses,
           "test_rmse": rmse, "sensitivity": {k: v for k, v in summary.items()}, "parameter_names": names,
           "timing_s": timing, "speedup": speedup, "reference_fraction": reference_fraction,
           "checkpoint": fit.checkpoint.name, "history": fit.history, "threads": fit.threads}
print(metrics.write_results(results, profile, f"decoder_{outputs}"))

# %% [markdown]
# ## Headline
# How well the learned renderer reproduces the physics renderer on held-out parameters,
# against the mean training image (a decoder that ignores its input), and its lowest
# validation loss. At `cpu` and `paper` it must explain at least half of the image loss the
# mean image leaves (ratio below 0.5) and reach a validation loss below 0.02 (the `cpu`
# profile's narrow ResNet-18 reaches about 0.009 in 30 epochs, `docs/tuning.md`; a run
# that diverged or a loss whose scale changed fails). The `smoke` profile trains on a few
# dozen images for seconds: its check is only that the images are finite and in range.

# %%
# NBVAL_CHECK_OUTPUT
ratio = losses["decoder"] / losses["mean image"]
best_val = float(np.min(fit.history["val_loss"]))
correlation = float(np.nanmedian(summary["correlation"]))
print(f"learned renderer ({outputs}): test image loss {losses['decoder']:.3f} = {ratio:.2f} × the mean "
      f"training image's; lowest validation loss {best_val:.3f}; sensitivity maps correlate with the physics "
      f"renderer's at {correlation:.2f} (median over parameters)")
assert decoded.shape == test_images.shape and torch.isfinite(decoded).all(), decoded.shape
assert 0.0 <= float(decoded.min()) and float(decoded.max()) <= 1.0 and np.isfinite(best_val)
if profile != "smoke":
    assert ratio < 0.5 and best_val < 0.02, (losses, best_val)

# %% [markdown]
# Speed, beside the paper's (its learned renderer against its ray tracer). Timings depend
# on the machine and its load, so this cell's output is not regression-checked; at `cpu` and
# `paper` the learned renderer must be at least 10 times faster than the fast physics
# renderer, one image per call.

# %%
from radarface import paper

print(f"speed-up over the fast physics renderer {speedup['fast_s']:.0f}×, over the exact reference "
      f"{speedup['reference_s']:.0f}×; the paper's: {paper.LEARNED_RENDERER_SPEEDUP:.0f}× "
      f"({paper.LEARNED_RENDERER_S_PER_IMAGE * 1e3:.0f} ms against {paper.PHYSICS_RENDERER_S_PER_IMAGE:.0f} s)")
assert all(np.isfinite(v) and v > 0 for v in speedup.values()), speedup
if profile != "smoke":
    assert speedup["fast_s"] > 10, timing

# %% [markdown]
# # 06 · The model-based autoencoder and test-time analysis by synthesis
#
# The paper's full model: the supervised **encoder** of notebook 04 followed by the
# **learned renderer** of notebook 05, kept frozen. The pair is an autoencoder whose code
# is the face model's parameters, so the encoder can now learn from the image too:
#
# loss = L_image(decoder(encoder(x)), x) + λ · L_param(encoder(x), p),  λ = 1,
#
# Adam, learning rate 0.001 (paper §1 point 5: 300 epochs, batch 50). The decoder also
# needs the four rendering parameters; our encoder does not predict them (profile key
# `encoder_render`), so they are passed in as known acquisition settings.
#
# At test time the parameters are refined further **without labels**, by gradient
# descent on the image loss through the frozen decoder (analysis by synthesis), in the
# two ways the paper's text allows (`radarface.refine`):
#
# - **(a)** optimise the parameter vector of each test image, starting from the
#   autoencoder's prediction;
# - **(b)** fine-tune the autoencoder's encoder on the unlabelled test images (every step
#   on all of them, or on minibatches: `tta_encoder_batch`).
#
# Both add a Gaussian prior on the normalised parameters (`tta_prior_weight`) and run a
# fixed number of steps (`tta_steps`); the image loss and the vertex distance are traced
# at every step. With both channels, `tta_depth_weight` sets the depth image's weight
# against the amplitude image's: the learned renderer misses depth about three times as
# much as amplitude (notebook 05), and a channel it explains worse should count less.
#
# Beyond the paper, one more row: **(a), blended**, the weighted mean
# `tta_blend` × (a)'s parameters + (1 − `tta_blend`) × the autoencoder's prediction
# (`radarface.refine.blend`). The refined parameters err where the learned renderer does,
# the autoencoder's where the encoder does; the two errors are partly independent, so a
# mix of the two estimates can beat both. The weight (profile key `tta_blend`) is chosen
# on validation images (`python -m radarface.refine blend`), never on the test split; the
# curve below shows every weight on the test split.
# Last, the paper's table and ours side by side, each with the ratio of the vertex
# distance to the mean-face baseline, which compares across face models.
#
# `inputs` picks the input type shown in detail; with `all_inputs` (default: every profile
# but `smoke`) the other two are evaluated as well, so the table has every row. Each input
# type reuses notebook 04's encoder checkpoint (or trains it, through the same call) and
# the one learned renderer of notebook 05 that renders amplitude and depth.

# %% tags=["parameters"]
profile = "smoke"  # smoke | cpu | paper
inputs = "both"  # amplitude | depth | both: shown in detail
all_inputs = None  # also evaluate the other two input types; None: all but at smoke
epochs = None  # autoencoder epochs; None: the profile's
batch = None
lr = None
param_weight = None  # λ; None: the profile's (1)
tta_steps = None
tta_lr = None  # (a): Adam on the parameters
tta_encoder_lr = None  # (b): Adam on the encoder's weights
tta_encoder_batch = None  # (b): images per step; None: the profile's
tta_encoder_steps = None  # (b): steps; None: the profile's
prior_weight = None
depth_weight = None  # weight of depth against amplitude in the test-time image loss; None: the profile's
seed = None
model = None  # face model: None for the profile's; or "builtin", "ict", "auto", a path to a BFM 2019 .h5

# %%
import matplotlib.pyplot as plt
import numpy as np

from radarface import facemodel, metrics, profiles
from radarface.models import autoencoder as ae
from radarface.models import decoder_data, encoder_data, evaluate_pipeline, fit_decoder
from radarface.models.encoder import validation_loss
from radarface.models.decoder import CHANNELS, decoder_render_fn
from radarface.plots import save
from radarface.plots import decoder as dplots
from radarface.plots.results import plot_reconstructions
from radarface.plots.training import plot_history

# %%
cfg = profiles.resolve(profile, autoencoder_epochs=epochs, autoencoder_batch=batch, autoencoder_lr=lr,
                       param_loss_weight=param_weight, tta_steps=tta_steps, tta_lr=tta_lr,
                       tta_encoder_lr=tta_encoder_lr, tta_encoder_batch=tta_encoder_batch,
                       tta_encoder_steps=tta_encoder_steps,
                       tta_prior_weight=prior_weight, tta_depth_weight=depth_weight, seed=seed, model=model)
face = facemodel.load_model(cfg["model"], cfg["n_shape"], cfg["n_expression"])
every = (profile != "smoke") if all_inputs is None else bool(all_inputs)
run_inputs = [inputs] + ([i for i in CHANNELS if i != inputs] if every else [])

# %% [markdown]
# ## The learned renderer
# Notebook 05's decoder of amplitude and depth (trained here if its checkpoint is missing).

# %%
decoder, decoder_fit = fit_decoder(cfg, decoder_data(cfg, "both"))
print(f"decoder {cfg['decoder_backbone']}: {len(decoder_fit.history['epoch'])} epochs, "
      f"final validation image loss {decoder_fit.history['val_loss'][-1]:.4f} ({decoder_fit.checkpoint.name})")

# %% [markdown]
# ## Encoder, autoencoder and test-time refinement for one input type
# `evaluate_pipeline` loads (or trains) the encoder, copies it into the autoencoder and
# trains that (checkpointed, keyed by its settings and the two networks it starts from),
# then evaluates the five methods on the test split.

# %%
result = evaluate_pipeline(cfg, inputs, decoder, face, decoder_checkpoint=decoder_fit.checkpoint)
fit = result.fits["autoencoder"]
print(f"autoencoder ({inputs}): {len(fit.history['epoch'])} epochs, batch {cfg['autoencoder_batch']}, "
      f"lr {cfg['autoencoder_lr']}, λ = {cfg['param_loss_weight']}; trained {fit.trained} now, reused "
      f"{fit.resumed_from} ({fit.checkpoint.name})")
print(f"test-time: (a) {cfg['tta_steps']} steps at lr {cfg['tta_lr']}; (b) {ae.encoder_steps(cfg)} steps at lr "
      f"{cfg['tta_encoder_lr']} on batches of {cfg['tta_encoder_batch'] or 'all'} images; "
      f"prior weight {cfg['tta_prior_weight']}, depth weight {cfg['tta_depth_weight']}; {len(result.test)} test images")

# %% [markdown]
# Does the image term teach the encoder anything? The autoencoder's parameter term is the
# encoder's own loss, so its validation value can be set against the one the encoder
# started from (dotted line). The image loss is a mean over pixels, about 0.01 once the
# decoder is trained, while the parameter loss is ~0.3: with the paper's λ = 1 the image
# term has next to no say, so the `cpu` profile sets λ = 0.01 (`profiles.py` lists what
# was measured).

# %%
enc_val = validation_loss(cfg, result.encoder, encoder_data(cfg, inputs)["val"])
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), constrained_layout=True)
plot_history(fit.history, ax=axes[0], title="autoencoder loss (image + λ·parameters)")
plot_history(fit.history, ["train_image", "val_image", "train_param", "val_param"], ax=axes[1],
             title="its two terms")
axes[1].axhline(enc_val, color="k", ls=":", lw=1, label="encoder, validation")
axes[1].legend(fontsize=8)
save(fig, f"06_learning_curves_{inputs}");

# %%
# NBVAL_CHECK_OUTPUT
print(f"validation parameter loss: encoder {enc_val:.4f}, "
      f"autoencoder {fit.held_value('val_param'):.4f} (epoch {fit.held_epoch} of {len(fit.history['epoch'])}), "
      f"λ = {cfg['param_loss_weight']}")

# %% [markdown]
# ## Test metrics of the five methods
# Same columns as notebook 04 (`total (paper)` counts pose errors in units of the pose
# limits, the paper's convention); the last column is the vertex distance ÷ the mean
# face's.

# %%
# NBVAL_CHECK_OUTPUT
print(metrics.format_table(result.rows))

# %% [markdown]
# ## Test-time analysis by synthesis, step by step
# Step 0 is the autoencoder's prediction. The image loss is what is minimised, so it
# falls; whether the faces improve too (the vertex distance, which uses the labels the
# refinement never sees) depends on how faithful the decoder is.

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), constrained_layout=True)
dplots.plot_refinement_traces(result.traces, "image_loss", ax=axes[0])
dplots.plot_refinement_traces(result.traces, "vertex_mm", ax=axes[1], reference=result.rows["encoder"]["vertex_mm"])
save(fig, f"06_refinement_traces_{inputs}");

# %%
# NBVAL_CHECK_OUTPUT
for name, trace in result.traces.items():
    print(f"{name}: image loss {trace['image_loss'][0]:.4f} -> {trace['image_loss'][-1]:.4f}, "
          f"vertex distance {trace['vertex_mm'][0]:.2f} -> {trace['vertex_mm'][-1]:.2f} mm "
          f"over {int(trace['step'][-1])} steps")

# %% [markdown]
# ## Blending (a) with its start
# The vertex distance on the test split for every weight of the refined parameters, from
# the autoencoder's prediction (0) to (a) alone (1); the dotted line is the profile's
# weight, chosen on validation images before this was drawn.

# %%
# NBVAL_CHECK_OUTPUT
curve = ae.blend_curve(face, result.true, result.predictions["autoencoder"], result.predictions[ae.METHODS[2]],
                       result.test.denormalise, np.linspace(0.0, 1.0, 11))
fig, ax = plt.subplots(figsize=(5.5, 3.4), constrained_layout=True)
dplots.plot_blend_curve(curve, cfg["tta_blend"], ax=ax)
save(fig, f"06_blend_{inputs}")
best = min(curve, key=curve.get)
print(f"test split: weight 0 {curve[0.0]:.2f} mm, weight 1 {curve[1.0]:.2f} mm, "
      f"profile's weight {cfg['tta_blend']:g} {result.rows[ae.BLENDED]['vertex_mm']:.2f} mm, "
      f"lowest {curve[best]:.2f} mm at {best:.1f}")

# %% [markdown]
# ## The other input types
# Only with `all_inputs` (not at `smoke`): the same pipeline for each, without the plots.

# %%
rows = {inputs: result.rows}
for other in run_inputs[1:]:
    rows[other] = evaluate_pipeline(cfg, other, decoder, face, decoder_checkpoint=decoder_fit.checkpoint).rows
    print(f"{other}: autoencoder vertex distance {rows[other]['autoencoder']['vertex_mm']:.2f} mm")
print("evaluated:", list(rows))

# %% [markdown]
# ## The paper's table and ours
# Every row of the paper's table (DESIGN §1) next to ours, "–" where one side has no such
# row (the paper reports no test-time variants separately; `smoke` evaluates one input
# type). Our face model is not BFM 2019, so compare the last pair of columns, the vertex
# distance relative to each side's own mean-face baseline (paper's best: 0.58). Written
# to `runs/<profile>/results/table.json`.

# %%
# NBVAL_CHECK_OUTPUT
table = ae.comparison_table(rows)
print(ae.format_comparison(table))
path = ae.write_comparison(table, profile, inputs=list(rows), ours_rows=rows,
                           settings={k: cfg[k] for k in cfg if k.startswith(("autoencoder_", "tta_", "decoder_"))})
print(path.relative_to(path.parents[2]))

# %%
fig, ax = plt.subplots(figsize=(8, 0.32 * len(table) + 1.2), constrained_layout=True)
dplots.plot_comparison_ratios(table, ax=ax)
save(fig, "06_results_table");

# %% [markdown]
# ## Reconstructions before and after test-time refinement
# Three test images (smallest, median and largest vertex distance after (a)): the
# observed image, then the decoder's image of each method's parameters.

# %%
render = decoder_render_fn(result.autoencoder.renderer)
recon = {name.replace("autoencoder + ", ""): render(pred) for name, pred in result.predictions.items()}
true_params = result.test.denormalise(result.true)
per_face = {name: metrics.vertex_errors(face, true_params, result.test.denormalise(pred))[:, face.face_mask].mean(1)
            for name, pred in result.predictions.items()}
order = np.argsort(per_face[ae.METHODS[2]])
picks = [int(order[0]), int(order[len(order) // 2]), int(order[-1])]
axes = dplots.plot_refinement_images(result.images.numpy(), recon, picks, CHANNELS[inputs])
save(axes[0, 0].figure, f"06_refinement_images_{inputs}");

# %% [markdown]
# The same faces in 3D: the true face, the autoencoder's, and after refinement (a); the
# colour on the true face is the per-vertex error in mm.

# %%
for name in ("autoencoder", ae.METHODS[2]):
    axes = plot_reconstructions(face, true_params, result.test.denormalise(result.predictions[name]), picks)
    axes[0, 0].figure.suptitle(name, fontsize=10)
    save(axes[0, 0].figure, f"06_reconstructions_{name.split(' ')[-1].strip('()')}_{inputs}")

# %% [markdown]
# ## Headline

# %%
# NBVAL_CHECK_OUTPUT
base = result.rows["mean face"]["vertex_mm"]
for name in ae.METHODS:
    print(f"{name} ({inputs}): vertex distance {result.rows[name]['vertex_mm']:.2f} mm = "
          f"{result.rows[name]['vertex_mm'] / base:.2f} × the mean face's {base:.2f} mm")
if profile != "smoke":  # the smoke profile trains for seconds: no claim to check
    trace = result.traces[ae.METHODS[2]]
    assert trace["image_loss"][-1] < trace["image_loss"][0], trace["image_loss"]
    assert result.rows["autoencoder"]["vertex_mm"] < base, result.rows

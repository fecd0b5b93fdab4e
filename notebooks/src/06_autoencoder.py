# %% [markdown]
# # 06 · The model-based autoencoder and test-time analysis by synthesis
#
# The paper's full model: the supervised **encoder** of notebook 04 followed by the
# **learned renderer** of notebook 05, kept frozen. The pair is an autoencoder whose code
# is the face model's parameters, so the encoder can now learn from the image too:
#
# loss = L_img(decoder(encoder(x)), x) + λ · L_param(encoder(x), p),  λ = 1,
#
# Adam, learning rate 0.001 (paper §1 point 5: 300 epochs, batch 50). The decoder also
# needs the four rendering parameters (dynamic range, material, aperture, SNR); the
# encoder does not predict them, so they are passed in as known acquisition settings.
#
# At test time the parameters are refined further **without labels**, by gradient
# descent on the image loss through the frozen decoder (analysis by synthesis). The
# paper's text allows two readings, both evaluated here:
#
# - **(a)** optimise the parameter vector of each test image, starting from the
#   autoencoder's prediction;
# - **(b)** fine-tune the autoencoder's encoder on the unlabelled test images.
#
# Beyond the paper, as profile settings (the `paper` profile keeps the paper's choices):
# a Gaussian prior on the normalised parameters during refinement (`tta_prior_weight`;
# the paper uses the image loss alone), a weight of the depth image against the
# amplitude image in that image loss (`tta_depth_weight`), and one more row, **(a),
# blended**: `tta_blend` × (a)'s parameters + (1 − `tta_blend`) × the autoencoder's. The
# refined parameters err where the learned renderer does, the autoencoder's where the
# encoder does; the two errors are partly independent, so a mix can beat both. Such
# weights are chosen on validation images (`python -m radarface.experiments.tuning`), never
# on the test split.
#
# `inputs` picks the input type shown in detail; with `all_inputs` (default: every profile
# but `smoke`) the other two are evaluated as well, so the paper's table has every row.

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
import copy

import matplotlib.pyplot as plt
import numpy as np
import torch

from radarface import facemodel, metrics, profiles, refine
from radarface.experiments import evaluation as ev, paper_table
from radarface.experiments.fitting import (TrainedNetworks, decoder_data, encoder_data, face_metric, fit_autoencoder,
                                           fit_decoder, profile_encoder, profile_encoders, validation_loss)
from radarface.experiments.renderers import decoder_render_fn
from radarface.experiments.settings import AutoencoderSettings, RefinementSettings, RendererSettings
from radarface.losses import autoencoder_loss, image_loss, parameter_error
from radarface.models import CHANNELS, Autoencoder, channels_for, depth_channels
from radarface.plots import decoder as dplots, save
from radarface.plots.results import plot_reconstructions
from radarface.plots.training import plot_history

# %%
cfg = profiles.resolve(profile, autoencoder_epochs=epochs, autoencoder_batch=batch, autoencoder_lr=lr,
                       param_loss_weight=param_weight, tta_steps=tta_steps, tta_lr=tta_lr,
                       tta_encoder_lr=tta_encoder_lr, tta_encoder_batch=tta_encoder_batch,
                       tta_encoder_steps=tta_encoder_steps,
                       tta_prior_weight=prior_weight, tta_depth_weight=depth_weight, seed=seed, model=model)
face = facemodel.load_model(cfg["model"], cfg["n_shape"], cfg["n_expression"])
settings = AutoencoderSettings.from_profile(cfg)
refinement = RefinementSettings.from_profile(cfg)
metric = face_metric(settings.parameter_loss, face)  # None: the paper's plain L2 on the parameters
every = (profile != "smoke") if all_inputs is None else bool(all_inputs)
run_inputs = [inputs] + ([i for i in CHANNELS if i != inputs] if every else [])
print(settings)
print(refinement)

# %% [markdown]
# ## The two networks
# Notebook 05's learned renderer of amplitude and depth, and notebook 04's encoder for
# `inputs` (each loaded from its checkpoint; trained here if it is missing).

# %%
decoder, decoder_fit = fit_decoder(RendererSettings.from_profile(cfg), decoder_data(cfg))
encoder, encoder_fit, encoder_name = profile_encoder(cfg, encoder_data(cfg, inputs))
print(f"decoder {decoder.backbone}: final validation image loss {decoder_fit.history['val_loss'][-1]:.4f} "
      f"({decoder_fit.checkpoint.name})")
print(f"encoder {cfg['encoder_backbone']} ({inputs}): {encoder_name}")

# %% [markdown]
# ## The autoencoder
# The encoder, then the frozen learned renderer, restricted to the channels of `inputs`.
# Both are copies: notebook 04's encoder and notebook 05's renderer stay as they are.

# %%
autoencoder = Autoencoder(copy.deepcopy(encoder), copy.deepcopy(decoder), channels_for(inputs))
n_encoded = autoencoder.n_encoded
trainable = sum(p.numel() for p in autoencoder.parameters() if p.requires_grad)
frozen = sum(p.numel() for p in autoencoder.decoder.parameters())
print(f"encoder: {n_encoded} parameters out, {trainable / 1e6:.2f} M weights trained; "
      f"renderer: {autoencoder.n_params} parameters in ({autoencoder.n_params - n_encoded} given), "
      f"{frozen / 1e6:.2f} M weights frozen")

# %% [markdown]
# ## Its loss, L_img + λ·L_param
# On one training batch: encode the images, render the code (with the given rendering
# parameters), compare the rendering with the images and the code with the true
# parameters. The training loss (`radarface.losses.autoencoder_loss`) is exactly this sum.

# %%
# NBVAL_CHECK_OUTPUT
data = decoder_data(cfg, inputs)
images, targets = (t[:settings.batch] for t in data["train"].tensors())
given = targets[:, n_encoded:]  # the rendering parameters: known acquisition settings
autoencoder.eval()
with torch.no_grad():
    encoded, rendered = autoencoder(images, given)
    L_img = image_loss(rendered, images, depth_channels=depth_channels(inputs),
                       background_weight=settings.background_weight)
    L_param = parameter_error(encoded, targets[:, :n_encoded], metric)
    loss = L_img + settings.param_weight * L_param
    library, _ = autoencoder_loss(inputs, param_weight=settings.param_weight,
                                  background_weight=settings.background_weight, metric=metric)(autoencoder,
                                                                                               (images, targets))
assert torch.isclose(loss, library), (loss, library)
print(f"L_img {float(L_img):.4f} + λ {settings.param_weight:g} × L_param {float(L_param):.4f} = {float(loss):.4f}")

# %% [markdown]
# ## Training
# Only the encoder learns; the renderer keeps its weights and batch-norm statistics. The
# run is checkpointed under a name keyed by the settings and the two networks it starts
# from.

# %%
fit = fit_autoencoder(settings, autoencoder, data, encoder_checkpoint=encoder_name,
                      decoder_checkpoint=decoder_fit.checkpoint, metric=metric)
nets = TrainedNetworks(encoder, autoencoder, {"encoder": encoder_fit, "autoencoder": fit}, data, encoder_name)
print(fit.describe())

# %% [markdown]
# Does the image term teach the encoder anything? The autoencoder's parameter term is the
# encoder's own loss, so its validation value can be set against the one the encoder
# started from (dotted line). The image loss is a mean over pixels, about 0.01 once the
# decoder is trained, while the parameter loss is ~0.3: with the paper's λ = 1 the image
# term has next to no say.

# %%
enc_val = validation_loss(encoder, encoder_data(cfg, inputs)["val"], metric)
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
# ## Test-time refinement (a), one Adam loop
# Analysis by synthesis on a few test images: the only weights of a small module are the
# offsets of the parameters from the autoencoder's estimate; its `forward` renders the
# offset parameters through the frozen renderer and returns the image loss (plus the
# optional prior), and Adam descends it. No label is used.

# %%
test = data["test"]
test_images, test_true = test.tensors()
test_given = test_true[:, n_encoded:]
few = slice(0, min(8, len(test)))
loss_options = {"depth_channels": depth_channels(inputs), "background_weight": refinement.background_weight,
                "depth_weight": refinement.depth_weight}

# %%
class Refinement(torch.nn.Module):
    """The parameters (B, E) of B images, start + offset, with the offset as weights; ``forward`` is the objective."""

    def __init__(self, renderer, images, start, given):
        super().__init__()
        self.renderer, self.images, self.start, self.given = renderer, images, start, given
        self.offset = torch.nn.Parameter(torch.zeros_like(start))

    @property
    def params(self):
        return self.start + self.offset

    def forward(self):
        rendered = self.renderer(torch.cat([self.params, self.given], 1))
        return image_loss(rendered, self.images, **loss_options) + refinement.prior_weight * self.params.square().mean()

# %%
start = torch.as_tensor(ev.prediction(autoencoder.encoder, test_images[few], test_given[few]), dtype=torch.float32)
analysis = Refinement(autoencoder.renderer, test_images[few], start[:, :n_encoded], test_given[few])
with torch.no_grad():
    before = float(analysis())
optimizer = torch.optim.Adam([analysis.offset], lr=refinement.lr)
for step in range(refinement.steps):
    optimizer.zero_grad()
    loss = analysis()
    loss.backward()
    optimizer.step()
with torch.no_grad():
    print(f"{len(start)} test images, {refinement.steps} steps at lr {refinement.lr:g}: "
          f"objective {before:.4f} -> {float(analysis()):.4f}")

# %% [markdown]
# The library's (a) is this loop, with the images in chunks (bounded memory) and every
# step traced (`radarface.refine.refine_parameters`); with a constant learning rate and the
# prior on every parameter about zero, as here, it ends at the same parameters. (Its
# options beyond the loop above: a cosine schedule, a prior on shape and expression only
# or about the start.)

# %%
library = ev.refine_a(refinement, inputs, autoencoder, test_images[few], start.double().numpy(),
                      test_given.shape[1], test.slices)
difference = float((library.params[:, :n_encoded] - analysis.params.detach()).abs().max())
if (refinement.lr_schedule, refinement.prior_center, refinement.prior_pose) == ("constant", "zero", True):
    assert difference < 1e-4, difference
print(f"largest difference to the loop above: {difference:.1e} (normalised units)")

# %% [markdown]
# ## Every method on the test split
# The encoder, the autoencoder, (a) and (b) from the autoencoder (the vertex distance,
# which uses the labels the refinement never sees, is traced at every step), and the
# blended row.

# %%
true = test_true.numpy().astype(np.float64)
predictions, traces, seconds = ev.predict_methods(refinement, inputs, nets, test_images, test_given,
                                                  tracer=refine.vertex_tracer(face, true, test.denormalise))
print(f"(a) {refinement.steps} steps at lr {refinement.lr:g}: {seconds['a']:.1f} s; (b) {refinement.encoder_steps} "
      f"steps at lr {refinement.encoder_lr:g} on batches of {refinement.encoder_batch or 'all'} images: "
      f"{seconds['b']:.1f} s; {len(test)} test images")

# %% [markdown]
# Same columns as notebook 04 (`total (paper)` counts pose errors in units of the pose
# limits, the paper's convention); the last column is the vertex distance ÷ the mean
# face's.

# %%
# NBVAL_CHECK_OUTPUT
rows = ev.score_methods(face, test, true, predictions, seed=cfg["seed"])
print(metrics.format_table(rows))

# %%
path = ev.write_pipeline_results(cfg, inputs, rows, traces, nets.fits, seconds, encoder_checkpoint=encoder_name,
                                 decoder_checkpoint=decoder_fit.checkpoint)
print(path.relative_to(path.parents[2]))

# %% [markdown]
# ## Test-time analysis by synthesis, step by step
# Step 0 is the autoencoder's prediction. The image loss is what is minimised, so it
# falls; whether the faces improve too depends on how faithful the learned renderer is.

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), constrained_layout=True)
dplots.plot_refinement_traces(traces, "image_loss", ax=axes[0])
dplots.plot_refinement_traces(traces, "vertex_mm", ax=axes[1], reference=rows[ev.ENCODER]["vertex_mm"])
save(fig, f"06_refinement_traces_{inputs}");

# %%
# NBVAL_CHECK_OUTPUT
for name, trace in traces.items():
    print(f"{name}: image loss {trace['image_loss'][0]:.4f} -> {trace['image_loss'][-1]:.4f}, "
          f"vertex distance {trace['vertex_mm'][0]:.2f} -> {trace['vertex_mm'][-1]:.2f} mm "
          f"over {int(trace['step'][-1])} steps")

# %% [markdown]
# ## What the image loss can tell apart
# Analysis by synthesis moves a face towards the truth only where the true parameters
# render closer to the radar image than the estimate does. The learned renderer has its
# own error (notebook 05), so this need not hold: below, per test image, each row's image
# loss (the one refinement minimises) minus that of the true parameters, rendered by the
# same frozen renderer. Left of zero, a row already renders closer to its image than the
# truth; the larger that share, the less the image loss can separate the row's faces from
# the true ones, and lowering it further fits the renderer's error rather than the face.
# (a) moves each image's parameters on their own; (b) moves the encoder's weights, shared
# by every image, along the mean image loss over the batch.

# %%
losses = ev.image_losses(refinement, inputs, autoencoder.renderer, test_images,
                         {"true parameters": true, **predictions})
fig, ax = plt.subplots(figsize=(6.5, 3.4), constrained_layout=True)
dplots.plot_loss_against_truth(losses, ax=ax)
save(fig, f"06_loss_against_truth_{inputs}");

# %%
# NBVAL_CHECK_OUTPUT
for name, row in ev.loss_against_truth(losses).items():
    vertex = f"{rows[name]['vertex_mm']:.2f} mm" if name in rows else "the labels"
    print(f"{name}: image loss {row['image_loss']:.5f}, closer than the truth on {row['below_truth']:.0%} "
          f"of the images; vertex distance {vertex}")

# %% [markdown]
# ## Blending (a) with its start
# The vertex distance on the test split for every weight of the refined parameters, from
# the autoencoder's prediction (0) to (a) alone (1); the dotted line is the profile's
# weight, chosen on validation images before this was drawn.

# %%
# NBVAL_CHECK_OUTPUT
curve = ev.blend_curve(face, true, predictions[ev.AUTOENCODER], predictions[ev.REFINED], test.denormalise,
                       np.linspace(0.0, 1.0, 11))
fig, ax = plt.subplots(figsize=(5.5, 3.4), constrained_layout=True)
dplots.plot_blend_curve(curve, refinement.blend, ax=ax)
save(fig, f"06_blend_{inputs}")
best = min(curve, key=curve.get)
print(f"test split: weight 0 {curve[0.0]:.2f} mm, weight 1 {curve[1.0]:.2f} mm, "
      f"profile's weight {refinement.blend:g} {rows[ev.BLENDED]['vertex_mm']:.2f} mm, "
      f"lowest {curve[best]:.2f} mm at {best:.1f}")

# %% [markdown]
# ## The other input types
# Only with `all_inputs` (not at `smoke`): the same steps for each, without the plots. Their
# encoders are trained first, side by side with one thread each: a network this small does
# not keep two threads busy, so two of them on two cores finish sooner together than one
# after the other.

# %%
profile_encoders(cfg, run_inputs[1:])
all_rows = {inputs: rows}
for other in run_inputs[1:]:
    all_rows[other] = ev.evaluate_pipeline(cfg, other, decoder, face, decoder_checkpoint=decoder_fit.checkpoint).rows
    print(f"{other}: autoencoder vertex distance {all_rows[other][ev.AUTOENCODER]['vertex_mm']:.2f} mm")
print("evaluated:", list(all_rows))

# %% [markdown]
# ## The paper's table and ours
# Every row of the paper's table next to ours, "–" where one side has no such row (the
# paper reports no test-time variants separately; `smoke` evaluates one input type). Our
# face model is not BFM 2019, so compare the last pair of columns, the vertex distance
# relative to each side's own mean-face baseline. Written to
# `runs/<profile>/results/table.json`.

# %%
# NBVAL_CHECK_OUTPUT
table = paper_table.comparison_table(all_rows)
print(paper_table.format_comparison(table))
path = paper_table.write_comparison(table, profile, inputs=list(all_rows), ours_rows=all_rows,
                                    settings={k: cfg[k] for k in cfg
                                              if k.startswith(("autoencoder_", "tta_", "decoder_"))})
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
render = decoder_render_fn(autoencoder.renderer)
recon = {name.replace("autoencoder + ", ""): render(pred) for name, pred in predictions.items()}
true_params = test.denormalise(true)
per_face = {name: metrics.vertex_errors(face, true_params, test.denormalise(pred))[:, face.face_mask].mean(1)
            for name, pred in predictions.items()}
order = np.argsort(per_face[ev.REFINED])
picks = [int(order[0]), int(order[len(order) // 2]), int(order[-1])]
axes = dplots.plot_refinement_images(test_images.numpy(), recon, picks, CHANNELS[inputs])
save(axes[0, 0].figure, f"06_refinement_images_{inputs}");

# %% [markdown]
# The same faces in 3D: the true face, the autoencoder's, and after refinement (a); the
# colour on the true face is the per-vertex error in mm.

# %%
for name in (ev.AUTOENCODER, ev.REFINED):
    axes = plot_reconstructions(face, true_params, test.denormalise(predictions[name]), picks)
    axes[0, 0].figure.suptitle(name, fontsize=10)
    save(axes[0, 0].figure, f"06_reconstructions_{name.split(' ')[-1].strip('()')}_{inputs}")

# %% [markdown]
# ## Headline

# %%
# NBVAL_CHECK_OUTPUT
base = rows["mean face"]["vertex_mm"]
for name in ev.METHODS:
    print(f"{name} ({inputs}): vertex distance {rows[name]['vertex_mm']:.2f} mm = "
          f"{rows[name]['vertex_mm'] / base:.2f} × the mean face's {base:.2f} mm")
if profile != "smoke":  # the smoke profile trains for seconds: no claim to check
    trace = traces[ev.REFINED]
    assert trace["image_loss"][-1] < trace["image_loss"][0], trace["image_loss"]
    assert rows[ev.AUTOENCODER]["vertex_mm"] < base, rows

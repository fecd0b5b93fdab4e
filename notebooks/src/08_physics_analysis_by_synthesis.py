# %% [markdown]
# # 08 · Beyond the paper: analysis by synthesis through the physics renderer
#
# The paper refines a new image's parameters by gradient descent through the *learned*
# renderer (notebook 06, method (a)). On synthetic images that helps. On the captures of
# notebook 07, which differ from the training images (the domain gap), it can do the
# opposite: the learned renderer explains them poorly, and fitting its images walks away
# from the truth.
#
# **Method (c)** fits through a differentiable *physics* renderer instead
# (`radarface.radar.differentiable`): the fast renderer of notebook 02 written in torch,
# whose non-uniform FFTs have adjoint-NUFFT backward passes, so the radar images are
# differentiable with respect to the mesh and, through the face model, to shape,
# expression and pose. Where the dataset renderer takes hard decisions it uses smooth
# ones: a softplus at the dynamic-range clip, a softmax-weighted depth instead of the
# argmax, and the shadowing mask recomputed (without gradient) at every step.
#
# Three choices matter on measured images:
#
# - **Speckle.** A rough surface returns a random-phase (diffuse) share. Its speckle
#   pattern in a capture is one random draw that no renderer can reproduce, so fitting one
#   fixed draw to it mostly fits noise. The fitting renderer renders instead the *expected*
#   power over all draws: the specular part coherently, plus the diffuse scatterers' power
#   through the point spread function's power |PSF|² (`speckle = "expected"`).
# - **Material.** A capture does not state how rough the skin looks to the radar. The
#   diffuse share is fitted per image with the face (`material = "fit"`). It starts from the
#   share, of a coarse grid from 0.02 to 0.9, whose image loss at the starting face is lowest:
#   started in the middle, the face tends to follow a wrong share instead of the share
#   following the face.
# - **System.** A capture states the radar that took it: its band, frequency steps and the
#   antennas it used (the surrogate captures use every second antenna and 32 steps). The
#   fitting renderer renders with that radar, not with the training's.
#
# The objective is (a)'s: the image loss on amplitude and depth (depth compared on the
# capture's foreground) plus the same N(0, 1) prior on the coefficients; Adam from the
# encoder's estimate (notebook 04), keeping the step with the lowest objective. No labels
# are used; the vertex distance to the ground truth is only recorded.

# %% tags=["parameters"]
profile = "smoke"  # smoke | cpu | paper
captures_per_set = None  # captures (c) fits per surrogate set, evenly spaced; None: the profile's physics_test_images
test_images = None  # synthetic test images for the comparison with (a); None: the profile's physics_test_images
steps = None  # Adam steps of (c); None: the profile's
seed = None
model = None  # face model: None for the profile's; or "builtin", "ict", "auto", a path to a BFM 2019 .h5

# %%
import dataclasses

import numpy as np

from radarface import metrics, profiles
from radarface import measurements as meas
from radarface.dataset import DatasetSettings
from radarface.experiments import evaluation as ev
from radarface.experiments import physics
from radarface.experiments.fitting import decoder_data, fit_decoder, trained_networks
from radarface.experiments.settings import PhysicsSettings, RefinementSettings, RendererSettings
from radarface.plots import save
from radarface.plots.physics import plot_fit_steps

# %%
cfg = profiles.resolve(profile, physics_steps=steps, seed=seed, model=model)
settings = PhysicsSettings.from_profile(cfg)
refinement = RefinementSettings.from_profile(cfg)
training = DatasetSettings.from_profile(cfg)
face, radar_config = training.face_model(), training.radar_config()
n_captures = captures_per_set or settings.test_images
print(settings)

# %% [markdown]
# ## The captures, with and without a blanket
# The surrogate captures of notebook 07 (four subjects not seen in training, five
# expressions, rendered by the exact MIMO renderer with a rougher material, noise and
# calibration errors), and the same set with a thin, weakly reflecting sheet in front of
# the face: the paper's sleep-lab motivation is that radar sees through a blanket. Method
# (c) fits `n_captures` of each set, spread evenly over subjects and expressions; of the
# blanket set (used only here) only those are rendered, each exactly as in the whole set.

# %%
sets = {}
for blanket in (False, True):
    surrogate = meas.SurrogateSettings.from_profile(profiles.resolve(profile, surrogate_blanket=blanket, model=model),
                                                    captures=n_captures if blanket else None)
    captures = meas.load(meas.ensure_surrogate(surrogate, training), radar_config)
    sets["blanket" if blanket else "no blanket"] = captures.spread(n_captures)

# %%
# NBVAL_CHECK_OUTPUT
for name, captures in sets.items():
    print(f"{name}: {len(captures)} captures of subjects {sorted(map(str, set(captures.subject)))}")

# %% [markdown]
# ## The networks
# Notebook 04's encoder (the start of (c)), notebook 06's autoencoder and its test-time
# refinements (a) and (b), and notebook 05's learned renderer, for both channels; loaded
# from their checkpoints, trained here if missing.

# %%
decoder, decoder_fit = fit_decoder(RendererSettings.from_profile(cfg), decoder_data(cfg))
nets = trained_networks(cfg, "both", decoder, decoder_checkpoint=decoder_fit.checkpoint)

# %% [markdown]
# ## One capture, step by step
# The first capture without a blanket: the capture, the physics renderer's images of the
# estimate at a few steps (step 0 is the encoder's), the face at those steps, and the
# vertex distance to the ground truth at every step.

# %%
first = sets["no blanket"]
start = {k: v[0] for k, v in physics.encoder_estimates(nets, first).items()}
truth = {k: v[0] for k, v in first.ground_truth_params.items()}
path = physics.fit_path(settings, face, first.encoder_input("both")[0], start, first.system_config(radar_config),
                        truth=truth)
shown = sorted({0, settings.steps // 3, 2 * settings.steps // 3, settings.steps})
faces = [face.vertices(path.params[s]["shape"], path.params[s]["expression"]) for s in shown]
axes = plot_fit_steps(first.encoder_input("both")[0].numpy(), path.images(shown), faces, face.triangles, shown,
                      path.distances, truth=face.vertices(truth["shape"], truth["expression"]))
save(axes[0].figure, "08_fit_steps");

# %%
# NBVAL_CHECK_OUTPUT
best = int(np.argmin(path.result.trace["objective"]))
material = "fixed" if path.result.material is None else f"{path.result.material:.2f}"
print(f"vertex distance {path.distances[0]:.2f} mm at the encoder's estimate, {path.distances[best]:.2f} mm at the "
      f"step with the lowest objective ({best}); diffuse share {material}")

# %%
print(f"{path.result.seconds / (settings.steps + 1):.2f} s per step")

# %% [markdown]
# ## Every method on the captures
# Mean vertex distance to the ground truth (mm, face region, model frame), and, of the
# predicted shapes, how often the nearest other capture is the same subject
# (identification) and the mean cosine similarity within and between subjects.

# %%
tables, fits = {}, {}
for name, captures in sets.items():
    tables[name], fits[name] = physics.compare_on_captures(settings, refinement, face, captures, nets, radar_config)

# %%
# NBVAL_CHECK_OUTPUT
for name, rows in tables.items():
    print(f"{name} ({len(sets[name])} captures)")
    print(physics.format_rows(rows))

# %%
for name, fitted in fits.items():
    print(f"{name}: (c) {fitted.seconds.mean():.0f} s per capture")

# %% [markdown]
# ## Synthetic test images: (c) beside (a)
# On images of the synthetic test split the learned renderer has no domain gap. Here (c)
# knows each image's dynamic range and aperture (the material it fits), as (a)'s renderer
# is given them.

# %%
synthetic, synthetic_fits = physics.compare_on_test_split(settings, refinement, face, nets, radar_config,
                                                          test_images or settings.test_images)

# %%
# NBVAL_CHECK_OUTPUT
for name, mm in synthetic.items():
    print(f"{name:40s} {mm:6.2f} mm")

# %% [markdown]
# ## Results file
# Everything above goes to `runs/<profile>/results/physics_both.json`.

# %%
results = {"profile": profile, "settings": dataclasses.asdict(settings), "captures": tables,
           "captures_seconds": {k: float(f.seconds.mean()) for k, f in fits.items()},
           "captures_material": {k: [float(t["material"][-1]) for t in f.traces if "material" in t]
                                 for k, f in fits.items()},
           "synthetic": synthetic, "synthetic_seconds": float(synthetic_fits.seconds.mean()),
           "one_capture": {"distances_mm": path.distances.tolist(), "material": path.result.material}}
print(metrics.write_results(results, profile, "physics_both"))

# %% [markdown]
# ## Headline
# Method (c) against the encoder it starts from and against (a) on the captures without
# and with the blanket, and on synthetic test images. At `cpu` and `paper`, (c) must end
# closer to the truth than (a) on the captures without a blanket: fitting the physics
# renderer's expected image does not walk away from the truth the way fitting the learned
# renderer does. The rest is reported, not required. The `smoke` profile checks only that
# every number is finite.

# %%
# NBVAL_CHECK_OUTPUT
for name, rows in tables.items():
    print(f"{name}: encoder {rows['encoder']['vertex_mm']:.2f} mm, (a) {rows[ev.REFINED]['vertex_mm']:.2f} mm, "
          f"(c) {rows[physics.METHOD_C]['vertex_mm']:.2f} mm (mean face {rows['mean face']['vertex_mm']:.2f} mm); "
          f"identified: encoder {rows['encoder']['identification_rate']:.2f}, "
          f"(c) {rows[physics.METHOD_C]['identification_rate']:.2f}")
print(f"synthetic: encoder {synthetic['encoder']:.2f} mm, (a) {synthetic[ev.REFINED]:.2f} mm, "
      f"(c) {synthetic[physics.METHOD_C]:.2f} mm")
numbers = [r["vertex_mm"] for rows in tables.values() for r in rows.values()] + list(synthetic.values())
assert np.isfinite(numbers).all(), numbers
if profile != "smoke":
    plain = tables["no blanket"]
    assert plain[physics.METHOD_C]["vertex_mm"] < plain[ev.REFINED]["vertex_mm"], plain

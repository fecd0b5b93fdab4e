# %% [markdown]
# # 07 · Real measurements: loader, surrogate captures with a domain gap, identity analysis
#
# The paper evaluates on radar images of four people with five expressions each, with 3D
# ground truth, and finds that (i) predicted shape vectors stay consistent per person,
# (ii) expressions do not transfer, and (iii) synthetic and real images differ (a domain
# gap). Those measurements are not public. This notebook therefore
#
# - reads measurements in a documented HDF5 format (`data/README.md`, "Measurement files";
#   `radarface.measurements.load`), checking the radar against the training radar and
#   resampling the images onto the training grid, so your own captures plug in through
#   the `measurements` parameter. A file may hold images, a complex volume or the raw
#   channel data an imager records (one complex sample per transmitter, receiver and
#   frequency, optionally with an empty-room measurement); raw captures are reconstructed
#   by the exact back-projection on loading (`meas.make_surrogate_raw` writes the surrogate
#   set below in that layout);
# - by default stands in for them with **surrogate measurements** (clearly marked as
#   simulated in the file): 4 subjects not seen in training × 5 expressions × a few poses,
#   rendered by the **exact** MIMO renderer (not the fast one the training data come from)
#   with a rougher, more diffuse material than in training, receiver noise, antenna
#   position jitter, per-channel phase and gain errors, and optionally a blanket;
# - runs notebook 04's encoder, notebook 06's autoencoder and both test-time refinements,
#   and measures the vertex distance to the ground truth, the identity consistency of the
#   predicted shapes and the domain gap;
# - reconstructs the captures into meshes with the command-line tool a reader would use on
#   their own file (`python -m radarface.reconstruct`).

# %% tags=["parameters"]
profile = "smoke"  # smoke | cpu | paper
measurements = None  # path to a measurement file; None: make (or reuse) the surrogate set
inputs = "both"  # amplitude | depth | both
blanket = None  # surrogate only: a blanket in front of the face; None: the profile's
seed = None
model = None  # face model: None for the profile's; or "builtin", "ict", "auto", a path to a BFM 2019 .h5

# %%
import matplotlib.pyplot as plt
import numpy as np
import trimesh

from radarface import metrics, paths, profiles, weights
from radarface import measurements as meas
from radarface.augment import Augment
from radarface.dataset import DatasetSettings
from radarface.experiments import real_data as mev
from radarface.experiments.evaluation import REFINED
from radarface.experiments.fitting import decoder_data, fit_decoder, trained_networks
from radarface.experiments.settings import RefinementSettings, RendererSettings
from radarface.models import CHANNELS
from radarface.plots import measurements as mplots, save
from radarface.plots.dataset import plot_sample_grid
from radarface.reconstruct import reconstruct

# %%
cfg = profiles.resolve(profile, surrogate_blanket=blanket, seed=seed, model=model)
refinement = RefinementSettings.from_profile(cfg)
training = DatasetSettings.from_profile(cfg)  # the face model and radar the networks were trained for
face = training.face_model()

# %% [markdown]
# ## The captures
# `load` validates the file (a missing or malformed field is an error naming the HDF5
# path), refuses a radar whose band, range, resolution or depth window the networks were
# not trained for, and resamples the images onto the training grid and dynamic range.

# %%
# Rendering the surrogate on first use shows a progress bar, so it stays out of the checked cell.
surrogate = meas.SurrogateSettings.from_profile(cfg)
path = meas.ensure_surrogate(surrogate, training) if measurements is None else measurements

# %%
# NBVAL_CHECK_OUTPUT
captures = meas.load(path, training.radar_config())
print(captures)
print("simulated:", captures.simulated, "| subjects:", sorted(map(str, set(captures.subject))),
      "| expressions:", sorted(map(str, set(captures.expression))))

# %%
picks = meas.evenly_spaced(len(captures), 6)
axes = plot_sample_grid(captures.amplitude[picks], captures.depth[picks],
                        titles=[f"{captures.subject[i]} · {captures.expression[i]}" for i in picks])
save(axes.flat[0].figure, "07_captures");

# %% [markdown]
# ## The networks and their predictions
# The learned renderer of notebook 05 and, for `inputs`, the encoder of notebook 04 and
# the autoencoder of notebook 06 (loaded from their checkpoints; trained here if missing).
# The decoder's rendering inputs are set to the training mean: a measurement's material
# and noise level are unknown. Test-time refinement (a) and (b) use only the images.

# %%
decoder, decoder_fit = fit_decoder(RendererSettings.from_profile(cfg), decoder_data(cfg))
nets = trained_networks(cfg, inputs, decoder, decoder_checkpoint=decoder_fit.checkpoint)
pred = mev.predict_captures(refinement, inputs, captures, nets)
print(f"test-time refinement: (a) {refinement.steps} steps, {pred.seconds['a']:.1f} s; (b) {refinement.encoder_steps} steps, "
      f"{pred.seconds['b']:.1f} s; for {len(captures)} captures")

# %% [markdown]
# ## Vertex distance to the ground truth
# Mean distance in mm over the face region, in the model frame (pose removed), per
# capture; the mean face is the baseline.

# %%
# NBVAL_CHECK_OUTPUT
if captures.ground_truth_params is not None:
    distances = mev.capture_vertex_distances(face, captures, pred.params)
    base = distances["mean face"].mean()
    for name, values in distances.items():
        print(f"{name:40s} {values.mean():6.2f} mm  ({values.mean() / base:.2f} × mean face)")
    save(mplots.plot_capture_errors(distances).figure, "07_vertex_distances");
else:
    distances = {}
    print("no ground-truth parameters in this file: vertex distances skipped")

# %% [markdown]
# ## Identity: are the predicted shapes consistent per person?
# Cosine similarity of the predicted shape vectors between captures of the same subject
# (different expressions and poses) and of different subjects; identification: does each
# capture's most similar other capture belong to the same subject? The vectors are first
# centred on their mean over all captures: uncentred, a bias shared by all predictions
# (an encoder leaning towards one face) makes every pair look alike.

# %%
# NBVAL_CHECK_OUTPUT
identity = {name: mev.identity_analysis(p["shape"], captures.subject) for name, p in pred.params.items()}
if captures.ground_truth_params is not None:
    identity["ground truth"] = mev.identity_analysis(captures.ground_truth_params["shape"], captures.subject)
for name, r in identity.items():
    print(f"{name:40s} within {r['within']:+.2f}  between {r['between']:+.2f}  "
          f"identified {r['identification_rate']:.2f} (chance {r['chance_rate']:.2f})")

# %%
fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
mplots.plot_subject_similarity(identity["autoencoder"]["matrix"], captures.subject, ax=axes[0],
                               title="autoencoder: predicted shapes")
mplots.plot_expression_codes(pred.params["autoencoder"]["expression"], captures.subject, captures.expression,
                             ax=axes[1])
axes[1].set_title("autoencoder: predicted expressions", fontsize=10)
fig.tight_layout()
save(fig, "07_identity");

# %% [markdown]
# ## Expressions per subject
# If expressions transferred, the same expression label would give similar predicted
# expression vectors across subjects. Cosine similarity of predicted expression vectors,
# same label vs different label (across subjects):

# %%
# NBVAL_CHECK_OUTPUT
for name in ("autoencoder", REFINED):
    r = mev.identity_analysis(pred.params[name]["expression"], captures.expression)
    print(f"{name:40s} same expression {r['within']:+.2f}  different {r['between']:+.2f}  "
          f"nearest neighbour has the same label {r['identification_rate']:.2f} (chance {r['chance_rate']:.2f})")

# %% [markdown]
# ## The domain gap
# Image statistics of the synthetic test split and of the captures, and how well the
# learned renderer reproduces each from the autoencoder's parameters (image loss, with the
# rendering inputs at the training mean for both): a
# decoder that explains synthetic images much better than measured ones is the gap seen
# through the model.

# %%
# NBVAL_CHECK_OUTPUT
test_images = nets.data["test"].tensors()[0]
measured = captures.encoder_input(inputs)
names = list(CHANNELS[inputs])
stats = {"synthetic": mev.image_statistics(test_images.numpy(), names),
         "measured": mev.image_statistics(measured.numpy(), names)}
for key in stats["synthetic"]:
    print(f"{key:22s} synthetic {stats['synthetic'][key]:.3f}   measured {stats['measured'][key]:.3f}")

# %%
# NBVAL_CHECK_OUTPUT
recon_error = {label: mev.autoencoder_reconstruction_errors(nets, images, inputs=inputs,
                                                            background_weight=cfg["decoder_background_weight"])
               for label, images in (("synthetic", test_images), ("measured", measured))}
for label, errors in recon_error.items():
    print(f"decoder image loss on {label:9s} images: {errors.mean():.4f}")
print(f"measured / synthetic: {recon_error['measured'].mean() / recon_error['synthetic'].mean():.1f} ×")

# %%
axes = mplots.plot_gap_histograms(test_images.numpy(), measured.numpy(), names)
save(axes[0].figure, "07_domain_gap");

# %% [markdown]
# ## What helps the gap
# Two remedies, measured. Test-time refinement, (a) and (b) above, adapts to each capture
# without labels. Training-time randomisation adds to the synthetic images what the
# renderer leaves out (a noise floor and clutter over the whole image, jitter of the face's
# amplitude and depth; `radarface.augment`): the trained encoder runs `gap_epochs` more
# epochs with it, and, as a control, the same epochs without it, so that a difference is
# the randomisation's and not the longer training's.

# %%
remedies = mev.augmentation_effect(cfg, inputs, captures, face, nets)  # trains twice, or loads the checkpoints

# %%
# NBVAL_CHECK_OUTPUT
for name, r in remedies.items():
    on_captures = f"captures {r['captures_vertex_mm']:5.2f} mm" if "captures_vertex_mm" in r else "captures   –"
    print(f"{name:12s} {on_captures}   synthetic test {r['synthetic_vertex_mm']:5.2f} mm   "
          f"identified {r['identification_rate']:.2f}")

# %% [markdown]
# ## Your own captures: meshes in one call
# `python -m radarface.reconstruct CAPTURES.h5 --out DIR` applies trained networks to a
# capture file and writes, per capture, the face as OBJ and PLY meshes (in the face model's
# frame, and posed in the radar frame), its parameters as JSON and a picture; it needs no
# dataset and no training. The `cpu` run's networks ship with the repository
# (`weights/cpu`, half precision, checked against the face model and the radar on loading).
# `weights.run_weights` returns them when they are this run's networks, and otherwise
# exports this run's into the same format. Here is that call on the captures above, with the autoencoder.

# %%
weights_folder = weights.run_weights(cfg, inputs)
out = paths.data_dir() / "reconstructions" / weights_folder.name
summary = reconstruct(path, out, profile=profile, model=model, inputs=inputs, checkpoints=weights_folder, progress=False)

# %%
# NBVAL_CHECK_OUTPUT
first = summary["captures"][0]
print(f"{summary['n_captures']} captures, each in a folder like {first['folder']}/: {', '.join(first['files'])}")
if "mean_vertex_distance_mm" in summary:
    d = summary["mean_vertex_distance_mm"]
    print(f"mean vertex distance {d['autoencoder']:.2f} mm (mean face {d['mean face']:.2f} mm)")

# %% [markdown]
# Some of the written meshes, read back with `trimesh`, beside the ground truth where the file has it:

# %%
shown = [summary["captures"][i] for i in picks[:4]]
meshes = {"reconstruction (OBJ)": [trimesh.load(out / row["folder"] / "face_model.obj", process=False).vertices
                                   for row in shown]}
if captures.ground_truth_params is not None:
    truth = captures.ground_truth_params
    meshes["ground truth"] = [face.vertices(truth["shape"][i], truth["expression"][i]) for i in picks[:4]]
axes = mplots.plot_meshes(meshes, face.triangles, titles=[f"{r['subject']} · {r['expression_label']}" for r in shown])
save(axes.flat[0].figure, "07_reconstructed_meshes");

# %% [markdown]
# ## Results file
# Everything above goes to `runs/<profile>/results/real_data_<inputs>.json`.

# %%
results = {"profile": profile, "inputs": inputs, "file": str(path), "simulated": captures.simulated,
           "n_captures": len(captures), "vertex_mm": {k: float(v.mean()) for k, v in distances.items()},
           "identity": {k: {m: r[m] for m in ("within", "between", "identification_rate", "chance_rate")}
                        for k, r in identity.items()},
           "image_statistics": stats, "decoder_image_loss": {k: float(v.mean()) for k, v in recon_error.items()},
           "tta_seconds": pred.seconds, "augmentation": remedies, "gap_augment": Augment.from_config(cfg["gap_augment"]).as_dict(),
           "gap_epochs": cfg["gap_epochs"]}
print(metrics.write_results(results, profile, f"real_data_{inputs}"))

# %% [markdown]
# ## Headline
# The paper's findings, measured on these captures: the vertex distance of the encoder
# and the autoencoder against the mean face; (i) how often the nearest other capture by
# predicted shape is the same subject; (iii) the domain gap, as how much worse the learned
# renderer explains the captures than synthetic images. At `cpu` and `paper` the encoder
# and the autoencoder must beat the mean face (when the file has ground truth), identify
# subjects at least twice as often as chance, and the gap must show (a higher image loss
# on the captures). Test-time refinement and the randomised training (above) are
# reported, not required: fitting the learned renderer's images to captures it explains
# poorly can lead away from the truth, which is what this notebook measures. The `smoke`
# profile checks only that every number is finite.

# %%
# NBVAL_CHECK_OUTPUT
mm, ident = results["vertex_mm"], results["identity"]
gap = results["decoder_image_loss"]["measured"] / results["decoder_image_loss"]["synthetic"]
for name in ("encoder", "autoencoder"):
    distance = f"{mm[name]:.2f} mm against the mean face's {mm['mean face']:.2f} mm, " if mm else ""
    print(f"{name}: {distance}identified {ident[name]['identification_rate']:.2f} "
          f"(chance {ident[name]['chance_rate']:.2f})")
print(f"domain gap: the learned renderer's image loss is {gap:.1f} × higher on the captures than on synthetic images")
assert np.isfinite(list(mm.values())).all() and np.isfinite(gap) and gap > 0, (mm, gap)
assert all(0.0 <= r["identification_rate"] <= 1.0 for r in ident.values()), ident
if profile != "smoke":
    assert all(mm[name] < mm["mean face"] for name in ("encoder", "autoencoder") if mm), mm
    assert all(ident[n]["identification_rate"] >= 2 * ident[n]["chance_rate"] for n in ("encoder", "autoencoder")), ident
    assert gap > 1.0, results["decoder_image_loss"]

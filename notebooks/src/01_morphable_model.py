# %% [markdown]
# # 01 · The 3D morphable face model
#
# The paper describes a face by a 3D morphable model (Basel Face Model 2019, `face12`
# mask): a mean face plus a linear combination of **shape** (identity) and
# **expression** modes, with coefficients that are N(0, 1) in units of standard
# deviations. It uses 10 shape and 7 expression coefficients; so do we by default.
#
# This notebook shows the model the rest of the pipeline uses: the mean face, each mode
# at ±3σ, how much variance the modes carry, random faces and their extents in mm, and a
# slider panel. The `smoke` profile uses the **builtin** model (built by the library, no
# files), `cpu` and `paper` take `"auto"`: a BFM 2019 file in `data/` if you have one,
# else ICT-FaceKit from `../shared/ict-facekit`, else the builtin model.

# %% tags=["parameters"]
profile = "smoke"  # smoke | cpu | paper
model = None  # None: the profile's; or "builtin", "ict", "auto", a path to a BFM 2019 .h5
n_shape = None
n_expression = None
seed = None

# %%
import matplotlib.pyplot as plt
import numpy as np

from radarface import facemodel, profiles
from radarface.plots import save
from radarface.plots.face import plot_face, plot_face_grid, plot_mode_grid, plot_variance_explained

cfg = profiles.resolve(profile, model=model, n_shape=n_shape, n_expression=n_expression, seed=seed)
face = facemodel.load_model(cfg["model"], cfg["n_shape"], cfg["n_expression"])
print(face.summary())

# %% [markdown]
# ## The mean face
# Millimetres, model frame: x left–right, y up, z out of the face (the nose tip is the
# most forward point), origin near the head's centre. A model's mesh may reach beyond the
# face (ICT-FaceKit's face area includes the neck and ears); the *face region* is the part
# the paper's vertex distance is measured over, and its size is what should be human.

# %%
# NBVAL_CHECK_OUTPUT
mean = face.vertices()
extent = np.ptp(mean, axis=0)
region = np.ptp(mean[face.face_mask], axis=0)  # the vertices every metric is computed over
print(f"vertices {face.n_vertices}, triangles {len(face.triangles)}, face region {face.face_mask.sum()} vertices")
print("whole mesh extent (x, y, z) mm: ", np.round(extent).astype(int).tolist())
print("face region extent (x, y, z) mm:", np.round(region).astype(int).tolist())
print("most forward point (the nose tip) at x, y, z mm:", np.round(mean[np.argmax(mean[:, 2])]).astype(int).tolist())

# %%
fig, axes = plt.subplots(1, 2, figsize=(8, 4.5))
plot_face(mean, face.triangles, ax=axes[0], view="front", title="mean face, front")
plot_face(mean, face.triangles, ax=axes[1], view="side", title="mean face, side")
save(fig, "01_mean_face");

# %% [markdown]
# ## Modes at ±3σ
# Each column changes one coefficient; the middle row is the mean face.

# %%
axes = plot_mode_grid(face, "shape", n_modes=5)
save(axes[0, 0].figure, "01_shape_modes");

# %%
axes = plot_mode_grid(face, "expression", n_modes=5)
save(axes[0, 0].figure, "01_expression_modes");

# %% [markdown]
# ## How much each mode moves the face
# RMS displacement over the face region at +1σ, in mm. Shape modes change a face by a
# few mm each; the paper's metric (mean vertex distance, ~4.4 mm for the mean-face
# baseline with BFM) is on this scale.

# %%
# NBVAL_CHECK_OUTPUT
shape_rms = facemodel.mode_rms_mm(face.shape_basis, face.face_mask)
expr_rms = facemodel.mode_rms_mm(face.expression_basis, face.face_mask)
print("shape modes, RMS mm at 1σ:     ", np.round(shape_rms, 1).tolist())
print("expression modes, RMS mm at 1σ:", np.round(expr_rms, 1).tolist())

# %%
full = facemodel.load_model(cfg["model"], *facemodel.available_components(cfg["model"]))
ax = plot_variance_explained(full, ax=plt.figure(figsize=(5, 3.5)).gca())
ax.axvline(cfg["n_shape"], color="C0", ls=":", label=f"{cfg['n_shape']} shape used")
ax.axvline(cfg["n_expression"], color="C1", ls=":", label=f"{cfg['n_expression']} expression used")
ax.legend()
save(ax.figure, "01_variance_explained");

# %% [markdown]
# ## Random faces
# Coefficients drawn from N(0, 1) with a seeded generator.

# %%
rng = np.random.default_rng(cfg["seed"])
shapes = rng.standard_normal((8, face.n_shape))
expressions = rng.standard_normal((8, face.n_expression))
axes = plot_face_grid(face, shapes, expressions, ncols=4)
save(axes[0, 0].figure, "01_random_faces");

# %% [markdown]
# ## Face extents in mm over 200 random faces

# %%
# NBVAL_CHECK_OUTPUT
stats = facemodel.extent_statistics(face, n=200, rng=np.random.default_rng(cfg["seed"]))
for axis, (lo, mid, hi) in stats.items():
    print(f"{axis}: median {mid:.0f} mm, 5–95 % range {lo:.0f}–{hi:.0f} mm")

# %% [markdown]
# ## Explore it yourself
# Sliders for the first shape and expression coefficients and the pose (degrees). The
# panel's `update(...)` can also be called from code, as below.

# %%
from radarface.widgets.face import face_panel

panel = face_panel(face)
panel

# %%
panel.update(shape_0=2.0, expression_0=2.0, yaw=20);

# %% [markdown]
# ## Any model, one file format
# Every model can be written in the BFM 2019 layout and loaded back through the same
# path as a real BFM file, so your own model plugs in by `load_model("your_model.h5")`.

# %%
# NBVAL_CHECK_OUTPUT
import tempfile
from pathlib import Path

with tempfile.TemporaryDirectory() as tmp:
    reloaded = facemodel.load_model(face.save_h5(Path(tmp) / "model.h5"), face.n_shape, face.n_expression)
    alpha, gamma = rng.standard_normal(face.n_shape), rng.standard_normal(face.n_expression)
    diff = np.abs(reloaded.vertices(alpha, gamma) - face.vertices(alpha, gamma)).max()
print(f"round trip through the BFM 2019 layout: max vertex difference below 1e-3 mm: {diff < 1e-3}")

# %% [markdown]
# ## Headline
# The mean face's face region in mm, and how much of the model's variance the modes in use
# carry (of the modes the model file holds). At every profile the face region must be of
# human size, roughly 120–200 mm wide and 150–260 mm from chin to forehead (a model read
# in the wrong unit or frame fails by a factor), and the model must survive the round trip
# through the BFM 2019 layout.

# %%
# NBVAL_CHECK_OUTPUT
from radarface.facemodel.stats import variance_share

share = {"shape": variance_share(full.shape_basis, face.n_shape),
         "expression": variance_share(full.expression_basis, face.n_expression) if face.n_expression else 0.0}
print(f"face region of the mean face {region[0]:.0f} × {region[1]:.0f} × {region[2]:.0f} mm; "
      f"{face.n_shape} shape modes carry {share['shape']:.0%} of the {full.n_shape} shape modes' variance, "
      f"{face.n_expression} expression modes {share['expression']:.0%} of the {full.n_expression}'s")
assert 120 <= region[0] <= 200 and 150 <= region[1] <= 260, f"face region {region} mm is not of human size"
assert diff < 1e-3, f"round trip through the BFM 2019 layout moved a vertex by {diff:.2g} mm"

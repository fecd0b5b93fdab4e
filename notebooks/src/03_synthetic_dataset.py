# %% [markdown]
# # 03 · The synthetic radar face dataset
#
# The paper trains on 10,000 synthetic radar images of random faces. Every sample draws
# its own face and scene:
#
# - **shape** (10) and **expression** (7) coefficients ~ N(0, 1), in standard deviations;
# - **pose**: yaw within ±5°, pitch and roll within ±10°, translation within ±50 mm (uniform);
# - **rendering parameters** (uniform): dynamic range, material (diffuse share), aperture
#   size, receiver SNR;
#
# and is rendered by the fast renderer of notebook 02 into an **amplitude** and a
# **depth** image. Sample *i* draws everything from a seed derived from (dataset seed, *i*),
# so any sample can be regenerated alone and the file does not depend on how many
# processes rendered it or in which order.
#
# All the training notebooks (04–07) read the file this notebook makes, through
# `radarface.dataset.ensure(settings)` (`settings`: the profile's `DatasetSettings`),
# which generates it only if no complete matching file exists. The `smoke` profile makes
# a few dozen 32 × 32 samples; `cpu` and `paper` make 10,000 at 64 × 64.

# %% tags=["parameters"]
profile = "smoke"  # smoke | cpu | paper
n_samples = None  # None: the profile's (smoke 48, cpu and paper 10,000)
workers = None  # renderer processes; None: the profile's; 0: all cores
seed = None
model = None  # face model source; None: the profile's
image_size = None

# %%
import json

import numpy as np

from radarface import dataset, profiles
from radarface.dataset.stats import format_summary, parameter_summary
from radarface.plots import save
from radarface.plots.dataset import plot_parameter_histograms, plot_sample_grid

cfg = profiles.resolve(profile, n_samples=n_samples, workers=workers, seed=seed, model=model,
                       image_size=image_size)
settings = dataset.DatasetSettings.from_profile(cfg)
face = settings.face_model()
print(f"profile {profile}: {settings.n_samples} samples of {settings.image_size}x{settings.image_size} pixels, "
      f"{settings.dtype}, seed {settings.seed}; model {face.summary()}")

# %% [markdown]
# ## Generating the file (or reusing it)
#
# Worker processes (all cores by default) render blocks of samples; one writer stores
# them. Generation is **crash-safe**: each finished block goes to a journal beside the
# file (`<file>.parts/`, written to a temporary name and renamed), and the HDF5 file is
# assembled from it only at the end and marked `complete`. A run killed at any moment
# (Ctrl-C, `kill -9`, power cut) loses at most the blocks being rendered; rerunning
# the same command finishes the file with exactly the arrays of an uninterrupted run.
# A rerun with another setting (image size, seed, face model, ...) is refused with the
# setting named. The same thing from a terminal, e.g. for the `cpu` profile:
#
# ```
# python -m radarface.dataset generate --profile cpu            # the file notebooks read
# python -m radarface.dataset generate --profile cpu --shard 2/4  # a quarter, e.g. on another machine
# python -m radarface.dataset combine --out data/all.h5 data/*.shard*of4.h5   # no copy
# ```

# %%
path = dataset.ensure(settings)
generation = dataset.generation_stats(path)
print(f"{path.name}: {path.stat().st_size / 1e6:.1f} MB, {path.stat().st_size / settings.n_samples / 1e3:.1f} kB per sample")
print("generation of this file:", generation)

# %% [markdown]
# ## What the file holds
# Images (N, H, W) in [0, 1]; parameters `shape`, `expression`, `pose` (rad, mm) and
# `render`; attributes with the full radar config, the face model's name and content
# hash, the seed and the library version. The train/validation/test split (80/10/10)
# is a fixed permutation seeded by the dataset seed.

# %%
# NBVAL_CHECK_OUTPUT
with dataset.open_dataset_file(path) as h5:
    print({name: (h5[name].shape, str(h5[name].dtype)) for name in ("amplitude", "depth", "shape", "expression", "pose", "render")})
    print("complete:", bool(h5.attrs["complete"]), "| seed:", int(h5.attrs["seed"]),
          "| rendering parameters:", json.loads(h5.attrs["render_param_names"]))
splits = {s: len(dataset.RadarFaceDataset(path, "both", split=s)) for s in ("train", "val", "test")}
print("split sizes:", splits)

# %% [markdown]
# ## Samples
# Amplitude (top, dB scale clipped at each sample's dynamic range), depth (middle, 0 =
# far end of the depth window, background where the amplitude is below the dynamic
# range), and the face that was rendered, posed, as the radar sees it (bottom).

# %%
data = dataset.RadarFaceDataset(path, inputs="both")
images, targets = data.tensors()
params = data.parameters()
show = np.arange(min(8, len(data)))
faces = face.vertices(params["shape"][show], params["expression"][show])
axes = plot_sample_grid(images[show, 0].numpy(), images[show, 1].numpy(), faces, face.triangles,
                        params["pose"][show], titles=[f"sample {data.sample_index(i)}" for i in show],
                        fov_mm=data.config["image_size"] * data.config["pixel_mm"])
save(axes[0, 0].figure, "03_sample_grid");

# %% [markdown]
# ## Parameters against their sampling distributions
# Shape and expression coefficients pooled over all modes against N(0, 1); each pose
# and rendering parameter against its uniform range. With the smoke profile's few
# dozen samples the histograms are coarse; at 10,000 they settle on the curves.

# %%
axes = plot_parameter_histograms(params, data.normaliser.pose_limits, data.normaliser.render_ranges)
save(axes[0, 0].figure, "03_parameter_histograms");

# %%
# NBVAL_CHECK_OUTPUT
rows = parameter_summary(params, data.normaliser.pose_limits, data.normaliser.render_ranges)
print(format_summary(rows))
amp, dep = images[:, 0].numpy(), images[:, 1].numpy()
print(f"mean amplitude {amp.mean():.3f}; pixels above the dynamic range {np.mean(amp > 0):.2f}; "
      f"mean depth there {dep[amp > 0].mean():.2f}")

# %% [markdown]
# ## Network targets
# The encoders predict one vector per sample: shape and expression as stored, pose
# divided by its uniform standard deviation (limit / √3), and the rendering parameters
# standardised from their ranges, so every column is roughly zero-mean, unit-variance.
# `data.denormalise` turns predictions back into model parameters.

# %%
# NBVAL_CHECK_OUTPUT
for group, cols in data.slices.items():
    block = targets[:, cols]
    print(f"{group:<11} columns {cols.start:>2}-{cols.stop - 1:<2}  mean {block.mean():+.2f}  std {block.std():.2f}")
back = data.denormalise(targets.numpy())
print("denormalised targets match the stored parameters:",
      all(np.allclose(back[g], params[g], rtol=1e-5, atol=1e-5) for g in back))

# %% [markdown]
# ## Throughput
# Samples per second of the run that finished the file (worker start-up included; a
# resumed run counts only its own samples), and the CPU seconds one sample costs, which
# other programs competing for the cores do not inflate. `benchmarks/dataset.py`
# measures one worker against all cores side by side.

# %%
rate, cpu, n_workers = generation["samples_per_s"], generation["cpu_s_per_sample"], generation["workers"]
if rate:
    print(f"{rate:.2f} samples/s with {n_workers} worker(s) -> 10,000 samples in {10_000 / rate / 3600:.1f} h")
    print(f"{cpu:.2f} CPU s per sample -> on {n_workers} idle cores {n_workers / cpu:.2f} samples/s, "
          f"10,000 samples in {10_000 * cpu / n_workers / 3600:.1f} h")
else:
    print("the file was finished without rendering in this run (e.g. completed from its journal)")

# %% [markdown]
# ## Headline
# The dataset is a single HDF5 file that every later notebook opens with
# `RadarFaceDataset(path, inputs=..., split=...)`. At every profile the file must be
# complete, its images finite and in [0, 1], its splits must add up to every sample, and
# the targets must turn back into the stored parameters. At `cpu` and `paper` (10,000
# samples) each parameter's mean and standard deviation must also lie within 0.1 standard
# deviations of its sampling distribution's (a few dozen smoke samples are too few).

# %%
# NBVAL_CHECK_OUTPUT
print(f"{len(data)} samples, {data.channels} images of {data.image_shape} each, targets of {data.normaliser.dim} "
      f"numbers; splits {splits}")
with dataset.open_dataset_file(path) as h5:
    assert bool(h5.attrs["complete"]), f"{path.name} is not marked complete"
assert sum(splits.values()) == len(data) == settings.n_samples, splits
assert all(np.isfinite(x).all() and 0.0 <= x.min() and x.max() <= 1.0 for x in (amp, dep))
assert all(np.allclose(back[g], params[g], rtol=1e-5, atol=1e-5) for g in back)
if profile != "smoke":
    for name, mean, std, exp_mean, exp_std in rows:
        assert abs(mean - exp_mean) < 0.1 * exp_std and abs(std - exp_std) < 0.1 * exp_std, name
